/**
 * Shell completion as kubectl asks a plugin for it (kubectl 1.26+): kubectl runs
 * `kubectl_complete-superskyray ARGS...`, the last argument being the word under the cursor, and reads
 * Cobra's __complete answer: one candidate per line (a tab, then a description), then ":DIRECTIVE".
 * The commands come from oclif's metadata; the contexts are read from the kubeconfig only when a
 * --context value is being completed, since that costs the Kubernetes client's load. Group names
 * come from a listing kept a little while on disk (src/cli/group-names.ts), never from a request made
 * while the shell waits.
 */

/** Cobra's ShellCompDirective bits that this uses. */
export const DIRECTIVE = {default: 0, noSpace: 2, noFileComp: 4} as const;

export interface CompletionFlag {
  name: string;
  char?: string;
  type: 'boolean' | 'option';
  options?: readonly string[];
  multiple?: boolean;
  summary?: string;
}

export interface CompletionCommand {
  /** oclif's id: status, runbook:run. */
  id: string;
  summary?: string;
  flags: CompletionFlag[];
  /** Whether its positional argument is a file. */
  fileArgument?: boolean;
  /** Whether its positional argument is a group: one (status, span...), or several (watch). */
  groupArgument?: 'one' | 'many';
}

/** A group completion may offer: what `status -A` would list. */
export interface GroupChoice {
  namespace: string;
  kind: string;
  name: string;
  home: string;
}

/** Flags whose value is a file: the shell completes those itself. */
const FILE_FLAGS = new Set(['filename', 'kubeconfig', 'fleet']);

const line = (value: string, description?: string) => (description ? `${value}\t${description.split('\n')[0]}` : value);

function answer(candidates: string[], directive: number): string[] {
  return [...candidates, `:${directive}`];
}

async function valuesOf(flag: CompletionFlag, contexts: () => Promise<string[]>): Promise<{values: string[]; files: boolean}> {
  if (FILE_FLAGS.has(flag.name)) return {values: [], files: true};
  if (flag.name === 'context') return {values: await contexts(), files: false};
  return {values: [...(flag.options ?? [])], files: false};
}

function findFlag(command: CompletionCommand, word: string): CompletionFlag | undefined {
  if (word.startsWith('--')) return command.flags.find((f) => f.name === word.slice(2));
  if (/^-[A-Za-z]$/.test(word)) return command.flags.find((f) => f.char === word.slice(1));
  return undefined;
}

/** The positional words given after the command's own, leaving out the values of its option flags. */
function argumentsOf(command: CompletionCommand, words: string[]): string[] {
  const args: string[] = [];
  const skip = command.id.split(':').length;
  let seen = 0;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word.startsWith('-')) {
      if (!word.includes('=') && findFlag(command, word)?.type === 'option') i++;
      continue;
    }
    if (seen++ >= skip) args.push(word);
  }
  return args;
}

/** Group names: NAME, or KIND/NAME when another kind has that name too or the word names a kind. */
function groupCandidates(groups: GroupChoice[], partial: string): string[] {
  const kinds = new Map<string, number>();
  for (const g of groups) kinds.set(g.name, (kinds.get(g.name) ?? 0) + 1);
  return groups
    .map((g) => ({g, word: partial.includes('/') || kinds.get(g.name)! > 1 ? `${g.kind.toLowerCase()}/${g.name}` : g.name}))
    .filter(({word}) => word.startsWith(partial))
    .sort((a, b) => a.word.localeCompare(b.word))
    .map(({g, word}) => line(word, `${g.kind} in ${g.namespace}, home ${g.home}`));
}

/** The answer to `kubectl_complete-superskyray WORDS...`, as lines. */
export async function complete(
  words: string[],
  commands: CompletionCommand[],
  contexts: () => Promise<string[]>,
  topics: Record<string, string> = {},
  groups: () => Promise<GroupChoice[]> = async () => [],
): Promise<string[]> {
  const partial = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const visible = commands.filter((c) => !c.id.startsWith('_'));

  // The command: its words are the first ones that are not flags.
  const positional = before.filter((w) => !w.startsWith('-'));
  let command: CompletionCommand | undefined;
  for (let n = Math.min(positional.length, 2); n > 0 && !command; n--) {
    command = visible.find((c) => c.id === positional.slice(0, n).join(':'));
  }
  if (!command) {
    // A topic (runbook) or the start: the next command word.
    const prefix = positional.length > 0 ? `${positional.join(':')}:` : '';
    const next = new Map<string, string | undefined>();
    for (const c of visible) {
      if (!c.id.startsWith(prefix)) continue;
      const rest = c.id.slice(prefix.length).split(':');
      next.set(rest[0]!, rest.length === 1 ? c.summary : topics[`${prefix}${rest[0]!}`]);
    }
    const words = [...next].filter(([word]) => word.startsWith(partial)).sort(([a], [b]) => a.localeCompare(b));
    return answer(words.map(([word, summary]) => line(word, summary)), DIRECTIVE.noFileComp);
  }

  const assigned = /^(--[\w-]+)=(.*)$/.exec(partial);
  if (assigned) {
    const flag = findFlag(command, assigned[1]!);
    if (!flag || flag.type !== 'option') return answer([], DIRECTIVE.noFileComp);
    const {values, files} = await valuesOf(flag, contexts);
    if (files) return answer([], DIRECTIVE.default);
    return answer(values.filter((v) => v.startsWith(assigned[2]!)).map((v) => `${assigned[1]}=${v}`), DIRECTIVE.noFileComp);
  }

  const previous = before.at(-1);
  const pending = previous ? findFlag(command, previous) : undefined;
  if (pending?.type === 'option') {
    const {values, files} = await valuesOf(pending, contexts);
    if (files) return answer([], DIRECTIVE.default);
    return answer(values.filter((v) => v.startsWith(partial)), DIRECTIVE.noFileComp);
  }

  if (partial.startsWith('-')) {
    const given = new Set(before.map((w) => findFlag(command, w)?.name).filter(Boolean));
    const flags = command.flags.filter((f) => f.multiple || !given.has(f.name)).map((f) => line(`--${f.name}`, f.summary));
    return answer(flags.filter((f) => f.startsWith(partial)), DIRECTIVE.noFileComp);
  }
  const given = argumentsOf(command, before).length;
  if (command.groupArgument === 'many' || (command.groupArgument === 'one' && given === 0)) return answer(groupCandidates(await groups(), partial), DIRECTIVE.noFileComp);
  return answer([], command.fileArgument ? DIRECTIVE.default : DIRECTIVE.noFileComp);
}
