/**
 * The runbook file: a YAML list of steps, each one of the tool's own actions or a check of what the
 * fleet looks like. Reading it is pure: variables are filled in and every step is checked here, so
 * that a mistake in step 9 stops the run before step 1 changes anything.
 */
import yaml from 'js-yaml';
import {parseDuration} from '../cli/duration.js';
import {InputError} from '../errors.js';
import {resourceForKind, resourceForName, RESOURCES} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import {parseServeReplicas, type ServeReplicas} from '../kuberay/serve.js';
import type {GroupMode} from '../reconcile/group-status.js';

const MODES: GroupMode[] = ['single', 'spanned', 'relocating'];

/** What one cluster holds of a group, as `status GROUP` counts it. Every count left out is not checked. */
export interface ClusterExpectation {
  local?: number;
  pending?: number;
  placeholders?: number;
  remote?: number;
  /** Workers in phase Running there: local ones at home, remote ones elsewhere. */
  running?: number;
  headServiceCopy?: boolean;
}

/** A condition on one group, for `wait` and `assert`. */
export interface GroupCondition {
  group: string;
  namespace: string;
  mode?: GroupMode;
  /** Count only this worker group; else all of them. */
  workerGroup?: string;
  /** By context. */
  clusters?: Record<string, ClusterExpectation>;
  /** The head and every worker that is neither a placeholder nor Pending is Running, and none is Pending. */
  running?: boolean;
}

export type PatchType = 'merge' | 'json' | 'strategic';

interface StepBase {
  /** 1-based, as messages name it. */
  index: number;
  /** The step's `name`, else a description made from what it does. */
  title: string;
}

export type Step = StepBase &
  (
    | {kind: 'place'; file: string; text: string; namespace: string; skipCapacityRelocate?: boolean; mesh?: 'cilium' | 'endpoints'; timeoutMs: number}
    | {kind: 'scale'; group: string; namespace: string; replicas?: number; workerGroup?: string; serve?: ServeReplicas[]; skipCapacityRelocate: boolean; copySecrets: boolean; wait: boolean; timeoutMs: number}
    | {kind: 'span'; group: string; namespace: string; to?: string; copySecrets: boolean; timeoutMs: number}
    | {kind: 'status'; group?: string; namespace: string}
    | {kind: 'wait'; condition: GroupCondition; timeoutMs: number}
    | {kind: 'assert'; condition: GroupCondition}
    | {kind: 'apply'; context: string; namespace: string; objects: KubeObject[]; file?: string}
    | {kind: 'patch'; context: string; namespace: string; object: string; patchType: PatchType; patch: unknown}
    | {kind: 'sleep'; ms: number}
    | {kind: 'watch'; groups: string[]; namespace: string; copySecrets: boolean}
  );

export type StepKind = Step['kind'];

export interface Runbook {
  name: string;
  /** The contexts of the fleet, when the runbook names them; --context and the environment come first. */
  contexts?: string[];
  namespace: string;
  steps: Step[];
}

export interface ReadRunbookOptions {
  /** --set key=value, over the file's own `vars`. */
  set?: Record<string, string>;
  /** -n, over the file's `namespace`. */
  namespace?: string;
  /** Reads a file a step names (place's and apply's), relative to the runbook. */
  readFile?: (path: string) => string;
}

const STEP_KEYS: Record<StepKind, string[]> = {
  place: ['file', 'namespace', 'skipCapacityRelocate', 'mesh', 'timeout'],
  scale: ['group', 'namespace', 'replicas', 'workerGroup', 'serve', 'skipCapacityRelocate', 'copySecrets', 'wait', 'timeout'],
  span: ['group', 'namespace', 'to', 'copySecrets', 'timeout'],
  status: ['group', 'namespace'],
  wait: ['group', 'namespace', 'mode', 'workerGroup', 'clusters', 'running', 'timeout'],
  assert: ['group', 'namespace', 'mode', 'workerGroup', 'clusters', 'running'],
  apply: ['context', 'namespace', 'file', 'object'],
  patch: ['context', 'namespace', 'object', 'type', 'patch'],
  sleep: [],
  watch: ['groups', 'namespace', 'copySecrets'],
};
const KINDS = Object.keys(STEP_KEYS) as StepKind[];
/** What an apply step may apply: objects that are stored, not asked (an access review is a question). */
const APPLIABLE = Object.values(RESOURCES).filter((t) => t.kind !== 'SelfSubjectAccessReview');
/** Longer than a timer can wait (about 24.8 days), and longer than any runbook should. */
const MAX_SLEEP_MS = 24 * 3_600_000;
const DEFAULT_STEP_MS = 300_000;
const CLUSTER_KEYS: Array<keyof ClusterExpectation> = ['local', 'pending', 'placeholders', 'remote', 'running', 'headServiceCopy'];
const DEFAULT_WAIT_MS = 120_000;

type Doc = Record<string, unknown>;
const isMap = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `key=value` pairs from --set. */
export function parseSet(pairs: string[] = []): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([A-Za-z_][\w-]*)=(.*)$/s.exec(pair);
    if (!match) throw new InputError(`--set "${pair}" is not key=value`, 'write it like --set namespace=ray-demo');
    vars[match[1]!] = match[2]!;
  }
  return vars;
}

const VARIABLE = /\$\{([A-Za-z_][\w-]*)\}/g;

/**
 * Fills `${name}` in every string. A string that is only `${name}` takes the variable's YAML value,
 * so that `replicas: ${replicas}` stays a number.
 */
function substitute(value: unknown, vars: Record<string, unknown>, where: string): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([A-Za-z_][\w-]*)\}$/.exec(value);
    if (whole) return lookup(vars, whole[1]!, where);
    return value.replace(VARIABLE, (_m, name: string) => String(lookup(vars, name, where)));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars, where));
  // Keys too: a context named by a variable is a key under clusters.
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [String(substitute(k, vars, where)), substitute(v, vars, where)]));
  return value;
}

function lookup(vars: Record<string, unknown>, name: string, where: string): unknown {
  if (!(name in vars)) throw new InputError(`${where} uses \${${name}}, which is not set`, `add ${name} under vars, or pass --set ${name}=VALUE`);
  return vars[name];
}

/** A --set value is typed as YAML would type it: 3 is a number, true a boolean. */
function typed(text: string): unknown {
  try {
    const value = yaml.load(text);
    return value === null || value === undefined || typeof value === 'object' ? text : value;
  } catch {
    return text;
  }
}

class StepReader {
  constructor(
    readonly where: string,
    readonly body: Doc,
    readonly kind: StepKind,
  ) {}

  fail(message: string, fix: string): never {
    throw new InputError(`${this.where}: ${message}`, fix);
  }

  string(key: string): string | undefined {
    const v = this.body[key];
    if (v === undefined) return undefined;
    // A variable set to 2024 is the string "2024" where a name is wanted.
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string' || v === '') this.fail(`${key} must be a non-empty string`, `write ${key}: VALUE`);
    return v;
  }

  required(key: string): string {
    return this.string(key) ?? this.fail(`${this.kind} needs ${key}`, `add ${key}: to the step`);
  }

  /** Undefined when the step leaves it out. */
  optionalBool(key: string): boolean | undefined {
    return this.body[key] === undefined ? undefined : this.bool(key);
  }

  bool(key: string): boolean {
    const v = this.body[key] ?? false;
    if (typeof v !== 'boolean') this.fail(`${key} must be true or false`, `write ${key}: true`);
    return v;
  }

  count(key: string, v: unknown = this.body[key]): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`${key} must be a whole number, 0 or more`, `write ${key}: 2`);
    return v;
  }

  duration(key: string, v: unknown = this.body[key]): number | undefined {
    if (v === undefined) return undefined;
    try {
      return parseDuration(String(v));
    } catch (err) {
      this.fail(`${key}: ${(err as Error).message}`, `write ${key}: 90s`);
    }
  }
}

function describe(step: Step): string {
  switch (step.kind) {
    case 'place':
      return `place ${step.file}`;
    case 'scale':
      return `scale ${step.group}${step.workerGroup ? ` worker group ${step.workerGroup}` : ''}${step.replicas !== undefined ? ` to ${step.replicas}` : ''}${step.serve ? ` serve ${step.serve.map((s) => `${s.app}.${s.deployment}=${s.replicas}`).join(',')}` : ''}`;
    case 'span':
      return `span ${step.group}${step.to ? ` to ${step.to}` : ''}`;
    case 'status':
      return `status${step.group ? ` ${step.group}` : ' of the fleet'}`;
    case 'wait':
    case 'assert':
      return `${step.kind} ${describeCondition(step.condition)}`;
    case 'apply':
      return `apply ${step.file ?? step.objects.map((o) => `${(o.kind ?? '').toLowerCase()}/${o.metadata?.name ?? ''}`).join(', ')} in ${step.context}`;
    case 'patch':
      return `patch ${step.object} in ${step.context}`;
    case 'sleep':
      return `sleep ${step.ms / 1000}s`;
    case 'watch':
      return `watch ${step.groups.length > 0 ? step.groups.join(' ') : 'every group'} in the background`;
  }
}

/** e.g. "raycluster/demo spanned; onprem local=2 placeholders=1; cloud remote=1 running=1". */
export function describeCondition(c: GroupCondition): string {
  const parts = [[c.group, c.workerGroup ? `worker group ${c.workerGroup}` : '', c.mode ?? ''].filter(Boolean).join(' ')];
  for (const [context, want] of Object.entries(c.clusters ?? {})) {
    parts.push(`${context} ${CLUSTER_KEYS.filter((k) => want[k] !== undefined).map((k) => `${k}=${String(want[k])}`).join(' ')}`);
  }
  if (c.running) parts.push('all running');
  return parts.join('; ');
}

function readCondition(r: StepReader, namespace: string): GroupCondition {
  const mode = r.string('mode');
  if (mode !== undefined && !MODES.includes(mode as GroupMode)) r.fail(`mode "${mode}" is not one of ${MODES.join(', ')}`, `write mode: ${MODES[1]}`);
  const clustersDoc = r.body.clusters;
  let clusters: Record<string, ClusterExpectation> | undefined;
  if (clustersDoc !== undefined) {
    if (!isMap(clustersDoc)) r.fail('clusters must map a context to counts', 'write clusters: {onprem: {local: 2}, cloud: {remote: 1}}');
    clusters = {};
    for (const [context, want] of Object.entries(clustersDoc)) {
      if (!isMap(want)) r.fail(`clusters.${context} must be counts`, `write ${context}: {remote: 1}`);
      const unknown = Object.keys(want).filter((k) => !CLUSTER_KEYS.includes(k as keyof ClusterExpectation));
      if (unknown.length > 0) r.fail(`clusters.${context} has unknown key(s) ${unknown.join(', ')}`, `use ${CLUSTER_KEYS.join(', ')}`);
      const expectation: ClusterExpectation = {};
      for (const key of CLUSTER_KEYS) {
        if (want[key] === undefined) continue;
        if (key === 'headServiceCopy') {
          if (typeof want[key] !== 'boolean') r.fail(`clusters.${context}.headServiceCopy must be true or false`, 'write headServiceCopy: true');
          expectation.headServiceCopy = want[key];
        } else {
          expectation[key] = r.count(`clusters.${context}.${key}`, want[key]);
        }
      }
      clusters[context] = expectation;
    }
  }
  const condition: GroupCondition = {group: r.required('group'), namespace: r.string('namespace') ?? namespace};
  const workerGroup = r.string('workerGroup');
  if (mode) condition.mode = mode as GroupMode;
  if (workerGroup) condition.workerGroup = workerGroup;
  if (clusters) condition.clusters = clusters;
  if (r.bool('running')) condition.running = true;
  if (!condition.mode && !condition.clusters && !condition.running) r.fail(`${r.kind} checks nothing`, 'add mode:, clusters: or running: true');
  return condition;
}

function readText(r: StepReader, file: string, options: ReadRunbookOptions): string {
  if (!options.readFile) r.fail(`${r.kind} reads a file, and this runbook was not read from one`, 'give the object inline');
  try {
    return options.readFile(file);
  } catch (err) {
    r.fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'give a path relative to the runbook');
  }
}

function readObjects(r: StepReader, options: ReadRunbookOptions): {objects: KubeObject[]; file?: string} {
  const file = r.string('file');
  const inline = r.body.object;
  if ((file === undefined) === (inline === undefined)) r.fail('apply needs exactly one of file and object', 'give the manifest as file: PATH or the object inline as object: {...}');
  let docs: unknown[];
  if (file !== undefined) {
    const text = readText(r, file, options);
    try {
      docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
    } catch (err) {
      r.fail(`${file} is not YAML: ${(err as Error).message.split('\n')[0]}`, 'fix the manifest');
    }
  } else {
    docs = [inline];
  }
  for (const doc of docs) {
    if (!isMap(doc) || typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string' || !isMap(doc.metadata) || typeof doc.metadata.name !== 'string') {
      r.fail('apply needs Kubernetes objects with apiVersion, kind and metadata.name', 'check the manifest');
    }
    const type = resourceForKind(doc.kind);
    if (!type || !APPLIABLE.includes(type)) r.fail(`apply does not know kind ${doc.kind}`, `apply one of ${APPLIABLE.map((t) => t.kind).join(', ')}`);
    const apiVersion = type.group === '' ? type.version : `${type.group}/${type.version}`;
    if (doc.apiVersion !== apiVersion) r.fail(`${doc.kind} ${doc.metadata.name} has apiVersion ${doc.apiVersion}, and a ${doc.kind} is ${apiVersion}`, `write apiVersion: ${apiVersion}`);
  }
  return {objects: docs as KubeObject[], ...(file !== undefined ? {file} : {})};
}

function readStep(raw: unknown, index: number, runbook: {namespace: string}, vars: Record<string, unknown>, options: ReadRunbookOptions): Step {
  let where = `step ${index}`;
  if (!isMap(raw)) throw new InputError(`${where} is not a map`, `write each step as "- KIND: {...}", KIND one of ${KINDS.join(', ')}`);
  const named = typeof raw.name === 'string' ? String(substitute(raw.name, vars, where)) : undefined;
  if (named) where = `step ${index} (${named})`;
  const kinds = Object.keys(raw).filter((k) => k !== 'name');
  if (kinds.length !== 1 || !KINDS.includes(kinds[0] as StepKind)) {
    throw new InputError(`${where} has ${kinds.length === 0 ? 'no kind' : `"${kinds.join('", "')}"`}; a step has exactly one kind`, `use one of ${KINDS.join(', ')}`);
  }
  const kind = kinds[0] as StepKind;
  const value = substitute(raw[kind], vars, where);
  if (kind === 'sleep') {
    const r = new StepReader(where, {}, kind);
    const ms = r.duration('sleep', value) ?? r.fail('sleep needs a duration', 'write sleep: 5s');
    if (ms > MAX_SLEEP_MS) r.fail(`sleep ${String(value)} is longer than 24h`, 'sleep at most 24h');
    return finish({kind, ms, index, title: ''}, named);
  }
  const body = value ?? {};
  if (!isMap(body)) throw new InputError(`${where}: ${kind} takes a map`, `write ${kind}: {${STEP_KEYS[kind][0] ?? ''}: ...}`);
  const unknown = Object.keys(body).filter((k) => !STEP_KEYS[kind].includes(k));
  if (unknown.length > 0) throw new InputError(`${where}: ${kind} has unknown key(s) ${unknown.join(', ')}`, `use ${STEP_KEYS[kind].join(', ')}`);
  const r = new StepReader(where, body, kind);
  const namespace = r.string('namespace') ?? runbook.namespace;
  const base = {index, title: ''};
  switch (kind) {
    case 'place': {
      // Left out: a group already placed keeps what it was placed with.
      const mesh = r.string('mesh');
      if (mesh !== undefined && mesh !== 'cilium' && mesh !== 'endpoints') r.fail(`mesh "${mesh}" is not cilium or endpoints`, 'write mesh: cilium');
      const file = r.required('file');
      return finish({...base, kind, file, text: readText(r, file, options), namespace, skipCapacityRelocate: r.optionalBool('skipCapacityRelocate'), mesh: mesh as 'cilium' | 'endpoints' | undefined, timeoutMs: r.duration('timeout') ?? DEFAULT_STEP_MS}, named);
    }
    case 'scale': {
      let serve: ServeReplicas[] | undefined;
      if (body.serve !== undefined) {
        const list = Array.isArray(body.serve) ? body.serve : [body.serve];
        if (list.length === 0) r.fail('serve is empty', 'write serve: [APP.DEPLOYMENT=N], or leave it out');
        try {
          serve = list.map((s) => parseServeReplicas(String(s)));
        } catch (err) {
          r.fail((err as Error).message.replace('--serve', 'serve'), 'write serve: [APP.DEPLOYMENT=N]');
        }
      }
      const replicas = r.count('replicas');
      if (replicas === undefined && !serve) r.fail('scale needs replicas or serve', 'add replicas: N');
      const workerGroup = r.string('workerGroup');
      return finish(
        {
          ...base,
          kind,
          group: r.required('group'),
          namespace,
          ...(replicas !== undefined ? {replicas} : {}),
          ...(workerGroup ? {workerGroup} : {}),
          ...(serve ? {serve} : {}),
          skipCapacityRelocate: r.bool('skipCapacityRelocate'),
          copySecrets: r.bool('copySecrets'),
          wait: r.bool('wait'),
          timeoutMs: r.duration('timeout') ?? DEFAULT_STEP_MS,
        },
        named,
      );
    }
    case 'span': {
      const to = r.string('to');
      return finish({...base, kind, group: r.required('group'), namespace, ...(to ? {to} : {}), copySecrets: r.bool('copySecrets'), timeoutMs: r.duration('timeout') ?? DEFAULT_STEP_MS}, named);
    }
    case 'status': {
      const group = r.string('group');
      return finish({...base, kind, ...(group ? {group} : {}), namespace}, named);
    }
    case 'wait':
      return finish({...base, kind, condition: readCondition(r, namespace), timeoutMs: r.duration('timeout') ?? DEFAULT_WAIT_MS}, named);
    case 'assert':
      return finish({...base, kind, condition: readCondition(r, namespace)}, named);
    case 'apply':
      return finish({...base, kind, context: r.required('context'), namespace, ...readObjects(r, options)}, named);
    case 'patch': {
      const type = r.string('type') ?? 'merge';
      if (!['merge', 'json', 'strategic'].includes(type)) r.fail(`type "${type}" is not merge, json or strategic`, 'write type: json');
      const object = r.required('object');
      if (!/^[A-Za-z.]+\/[^/]+$/.test(object)) r.fail(`object "${object}" is not KIND/NAME`, 'write object: raycluster/NAME');
      if (!resourceForName(object.split('/')[0]!)) r.fail(`patch does not know kind ${object.split('/')[0]!}`, `patch one of ${Object.values(RESOURCES).map((t) => t.kind.toLowerCase()).join(', ')}`);
      if (body.patch === undefined) r.fail('patch needs patch', 'add patch: {...} (merge) or patch: [{op: ...}] (json)');
      if (type === 'json' && !Array.isArray(body.patch)) r.fail('a json patch is a list of operations', 'write patch: [{op: replace, path: /spec/..., value: ...}]');
      if (type !== 'json' && !isMap(body.patch)) r.fail(`a ${type} patch is a map`, 'write patch: {spec: {...}}, or type: json for a list of operations');
      return finish({...base, kind, context: r.required('context'), namespace, object, patchType: type as PatchType, patch: body.patch}, named);
    }
    case 'watch': {
      const groups = body.groups === undefined ? [] : Array.isArray(body.groups) ? body.groups : [body.groups];
      if (!groups.every((g) => typeof g === 'string' && g !== '')) r.fail('groups must be a list of GROUP names', 'write groups: [raycluster/NAME]');
      return finish({...base, kind, groups: groups as string[], namespace, copySecrets: r.bool('copySecrets')}, named);
    }
  }
}

function finish<S extends Step>(step: S, name: string | undefined): S {
  return {...step, title: name ?? describe(step)};
}

/** Reads and checks a runbook. Throws an InputError naming the step and key at the first mistake. */
export function readRunbook(text: string, source: string, options: ReadRunbookOptions = {}): Runbook {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new InputError(`${source} is not YAML: ${(err as Error).message.split('\n')[0]}`, 'fix the runbook');
  }
  if (!isMap(doc)) throw new InputError(`${source} is not a runbook`, 'write a map with steps: [...]');
  const known = ['name', 'vars', 'contexts', 'namespace', 'steps'];
  const unknown = Object.keys(doc).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new InputError(`${source} has unknown key(s) ${unknown.join(', ')}`, `use ${known.join(', ')}`);
  const fileVars = doc.vars ?? {};
  if (!isMap(fileVars)) throw new InputError(`${source}: vars must be a map`, 'write vars: {name: value}');
  const vars: Record<string, unknown> = {...fileVars};
  // A --set the runbook never reads is a typo (namspace=ml) that would otherwise pass silently.
  const used = new Set([...Object.keys(fileVars), ...[...text.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]!)]);
  for (const [key, value] of Object.entries(options.set ?? {})) {
    if (!used.has(key)) throw new InputError(`--set ${key}: ${source} has no variable "${key}"`, used.size > 0 ? `its variables are ${[...used].sort().join(', ')}` : 'it uses no variables; drop --set');
    vars[key] = typed(value);
  }
  const head = substitute({name: doc.name, contexts: doc.contexts, namespace: doc.namespace}, vars, source) as Doc;
  if (head.contexts !== undefined && !(Array.isArray(head.contexts) && head.contexts.every((c) => typeof c === 'string' && c !== ''))) {
    throw new InputError(`${source}: contexts must be a list of kubeconfig contexts`, 'write contexts: [onprem, cloud]');
  }
  let namespace = options.namespace ?? 'default';
  if (options.namespace === undefined && head.namespace !== undefined) {
    if (typeof head.namespace === 'number') namespace = String(head.namespace);
    else if (typeof head.namespace === 'string' && head.namespace !== '') namespace = head.namespace;
    else throw new InputError(`${source}: namespace must be a namespace name`, 'write namespace: NAME');
  }
  if (!Array.isArray(doc.steps) || doc.steps.length === 0) throw new InputError(`${source} has no steps`, 'add steps: [...]');
  const steps = doc.steps.map((raw, i) => readStep(raw, i + 1, {namespace}, vars, options));
  return {
    name: typeof head.name === 'string' ? head.name : source,
    ...(head.contexts ? {contexts: head.contexts as string[]} : {}),
    namespace,
    steps,
  };
}
