/**
 * Label and field selectors as the API server reads them from a list or watch query. A selector that
 * does not parse is the caller's 400, as on a real server.
 */

export class BadSelectorError extends Error {
  override readonly name = 'BadSelectorError';
}

type Requirement =
  | {key: string; op: 'exists' | 'notexists'}
  | {key: string; op: 'in' | 'notin'; values: string[]}
  | {key: string; op: '=' | '!='; value: string};

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

/** Splits on commas outside parentheses: `a in (x,y),b` is two requirements. */
export function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

function parseLabelTerm(term: string): Requirement {
  let match = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (match) return {key: checkKey(match[1]!, term), op: match[2] as 'in' | 'notin', values: match[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '')};
  match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (match) return {key: checkKey(match[1]!, term), op: match[2] === '!=' ? '!=' : '=', value: match[3]!};
  match = /^!\s*(\S+)$/.exec(term);
  if (match) return {key: checkKey(match[1]!, term), op: 'notexists'};
  if (/^\S+$/.test(term)) return {key: checkKey(term, term), op: 'exists'};
  throw new BadSelectorError(`unable to parse requirement: ${term}`);
}

function checkKey(key: string, term: string): string {
  if (!KEY.test(key)) throw new BadSelectorError(`unable to parse requirement: invalid label key "${key}" in "${term}"`);
  return key;
}

export type Matcher = (fields: Record<string, string | undefined>) => boolean;

function matcherOf(requirements: Requirement[]): Matcher {
  return (fields) =>
    requirements.every((r) => {
      const value = fields[r.key];
      switch (r.op) {
        case 'exists':
          return value !== undefined;
        case 'notexists':
          return value === undefined;
        case 'in':
          return value !== undefined && r.values.includes(value);
        case 'notin':
          return value === undefined || !r.values.includes(value);
        case '=':
          return value === r.value;
        case '!=':
          return value !== r.value;
      }
    });
}

/** A label selector: `a=b,c!=d,e in (x,y),f notin (z),g,!h`. Empty matches everything. */
export function labelSelector(text: string | undefined): Matcher {
  if (!text) return () => true;
  return matcherOf(splitTerms(text).map(parseLabelTerm));
}

/** A field selector's requirements. Unlike labels, fields have no sets: every comma separates two. */
function fieldRequirements(text: string): Array<Requirement & {op: '=' | '!='}> {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((term) => {
      const match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
      if (!match) throw new BadSelectorError(`invalid selector: '${text}'; can't understand '${term}'`);
      return {key: match[1]!, op: match[2] === '!=' ? '!=' : '=', value: match[3]!};
    });
}

/** A field selector: `metadata.name=x,spec.nodeName!=` over the fields the resource supports. */
export function fieldSelector(text: string | undefined, supported: readonly string[]): Matcher {
  if (!text) return () => true;
  const requirements = fieldRequirements(text);
  const unsupported = requirements.find((r) => !supported.includes(r.key));
  if (unsupported) throw new BadSelectorError(`field label not supported: ${unsupported.key}`);
  // A missing field compares as the empty string, as on a real server (spec.nodeName= is "unbound").
  const matches = matcherOf(requirements);
  return (fields) => matches(Object.fromEntries(requirements.map((r) => [r.key, fields[r.key] ?? ''])));
}

/** The value a field selector requires `key` to equal, if it requires one; nothing for one that does not parse. */
export function exactMatch(text: string | undefined, key: string): string | undefined {
  try {
    return fieldRequirements(text ?? '').find((r) => r.key === key && r.op === '=')?.value;
  } catch (err) {
    if (err instanceof BadSelectorError) return undefined;
    throw err;
  }
}
