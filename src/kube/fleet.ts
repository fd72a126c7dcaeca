import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {InputError} from '../errors.js';
import {ClusterClient} from './client.js';
import {contextKubeConfig, KubeconfigCredentials, kubeconfigFiles, loadKubeconfig} from './kubeconfig.js';
import type {RetryPolicy} from './retry.js';

/** Where the fleet came from, so messages can say which setting to fix. */
export type FleetSource = '--context' | 'SUPERSKYRAY_CONTEXTS' | 'fleet file';

export interface FleetSpec {
  /** Context names, most preferred first: the fleet priority. */
  contexts: string[];
  source: FleetSource;
  /** The fleet file, when that is where the contexts came from. */
  file?: string;
  /** A kubeconfig named by the fleet file, used when neither --kubeconfig nor KUBECONFIG is set. */
  kubeconfig?: string;
  /** The fleet file's placeholderImage: the pause image from a registry the home clusters can pull from. */
  placeholderImage?: string;
  /** The fleet file's claims: home PersistentVolumeClaim -> the claim remote workers mount instead. */
  claims?: Record<string, string>;
}

export interface FleetInputs {
  /** Repeated --context flags, in order. */
  contexts?: string[];
  /** --fleet FILE. */
  fleetFile?: string;
  env: NodeJS.ProcessEnv;
}

const NO_FLEET_FIX =
  'name the clusters with --context (repeatable), SUPERSKYRAY_CONTEXTS=a,b, or a fleet file (--fleet FILE or SUPERSKYRAY_FLEET)';

export function defaultFleetFile(env: NodeJS.ProcessEnv): string {
  const configHome = env.XDG_CONFIG_HOME || path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(configHome, 'kubectl-superskyray', 'fleet.yaml');
}

/**
 * Which contexts form the fleet: --context flags, else --fleet FILE, else SUPERSKYRAY_CONTEXTS, else
 * a fleet file from SUPERSKYRAY_FLEET or the default file when it exists. What is named on the
 * command line wins over the environment. Never every context in the kubeconfig: that would take in
 * clusters nobody named.
 */
export function resolveFleet(inputs: FleetInputs): FleetSpec {
  if (inputs.contexts && inputs.contexts.length > 0) {
    return {contexts: checkNames(inputs.contexts, '--context'), source: '--context'};
  }
  if (inputs.fleetFile !== undefined) {
    if (!fs.existsSync(inputs.fleetFile)) throw new InputError(`fleet file ${inputs.fleetFile} does not exist`, NO_FLEET_FIX);
    return readFleetFile(inputs.fleetFile);
  }
  const fromEnv = inputs.env.SUPERSKYRAY_CONTEXTS?.trim();
  if (fromEnv) {
    const names = fromEnv.split(/[,\s]+/).filter((name) => name !== '');
    return {contexts: checkNames(names, 'SUPERSKYRAY_CONTEXTS'), source: 'SUPERSKYRAY_CONTEXTS'};
  }
  const named = inputs.env.SUPERSKYRAY_FLEET || undefined;
  const file = named ?? defaultFleetFile(inputs.env);
  if (!fs.existsSync(file)) {
    if (named) throw new InputError(`fleet file ${file} (SUPERSKYRAY_FLEET) does not exist`, NO_FLEET_FIX);
    throw new InputError('no fleet is set', NO_FLEET_FIX);
  }
  return readFleetFile(file);
}

function checkNames(names: string[], setting: string): string[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (name.trim() === '') throw new InputError(`${setting} has an empty context name`, 'remove it');
    if (seen.has(name)) throw new InputError(`context "${name}" is named twice in ${setting}`, 'name each context once');
    seen.add(name);
  }
  return names;
}

/**
 * A fleet file:
 *
 *   contexts:          # most preferred first
 *     - onprem
 *     - name: cloud
 *   kubeconfig: ~/.kube/fleet   # optional
 *   placeholderImage: registry.internal/pause:3.10   # optional
 *   claims: {datasets: datasets-replica}             # optional
 */
export function readFleetFile(file: string): FleetSpec {
  const fail = (what: string): never => {
    throw new InputError(`fleet file ${file}: ${what}`, 'see "Fleet" in the README for the format');
  };
  let doc: unknown;
  try {
    doc = yaml.load(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return fail(`cannot be read: ${(err as Error).message.split('\n', 1)[0]}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return fail('must be a mapping with a "contexts" list');
  const record = doc as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!['contexts', 'kubeconfig', 'placeholderImage', 'claims'].includes(key)) fail(`unknown field "${key}"`);
  }
  if (!Array.isArray(record.contexts) || record.contexts.length === 0) return fail('"contexts" must be a non-empty list');
  const contexts = record.contexts.map((entry, i) => {
    if (typeof entry === 'string') return entry;
    if (entry && typeof entry === 'object' && !Array.isArray(entry)) {
      const {name, ...rest} = entry as Record<string, unknown>;
      const extra = Object.keys(rest)[0];
      if (extra !== undefined) fail(`contexts[${i}]: unknown field "${extra}"`);
      if (typeof name === 'string') return name;
    }
    return fail(`contexts[${i}] must be a context name or {name: CONTEXT}`);
  });
  let kubeconfig: string | undefined;
  if (record.kubeconfig !== undefined) {
    if (typeof record.kubeconfig !== 'string' || record.kubeconfig === '') return fail('"kubeconfig" must be a path');
    kubeconfig = path.resolve(path.dirname(file), record.kubeconfig.replace(/^~(?=$|\/)/, os.homedir()));
  }
  const image = record.placeholderImage;
  if (image !== undefined && (typeof image !== 'string' || !/^\S+$/.test(image))) return fail('"placeholderImage" must be an image reference');
  const claims = record.claims;
  const isClaims = (v: unknown): v is Record<string, string> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.entries(v).every(([k, c]) => k !== '' && typeof c === 'string' && c !== '');
  if (claims !== undefined && !isClaims(claims)) return fail('"claims" must map each home claim to the claim remote workers mount instead');
  return {
    contexts: checkNames(contexts, `fleet file ${file}`),
    source: 'fleet file',
    file,
    kubeconfig,
    ...(image ? {placeholderImage: image as string} : {}),
    ...(claims ? {claims} : {}),
  };
}

export interface FleetOptions extends FleetInputs {
  /** --kubeconfig. */
  kubeconfig?: string;
  requestTimeoutMs?: number;
  maxInFlight?: number;
  retry?: RetryPolicy;
  userAgent?: string;
  /** --placeholder-image: wins over the fleet file's. */
  placeholderImage?: string;
  /** --join-timeout: how long a remote worker may take to start. */
  joinTimeoutMs?: number;
  /** --claim HOME=REMOTE, repeated: win over the fleet file's claims, claim by claim. */
  claims?: Record<string, string>;
}

/** The clusters the tool works on: one client per context, most preferred first. */
export class Fleet {
  constructor(
    readonly clusters: ClusterClient[],
    readonly spec: FleetSpec,
    /** The namespace each context sets, if it sets one. */
    private readonly contextNamespaces: ReadonlyMap<string, string> = new Map(),
    /** The image of the placeholders this run makes; the default pause image when unset. */
    readonly placeholderImage?: string,
    /** How long a remote worker may take to start before it is given up on; the default when unset. */
    readonly joinTimeoutMs?: number,
    /** Home PersistentVolumeClaim -> the claim remote workers mount in its place, in every other cluster. */
    readonly claims: Readonly<Record<string, string>> = {},
  ) {}

  /**
   * The namespace the fleet's contexts set, as kubectl takes a context's: the default when -n is not
   * given. Contexts that set none do not count; two that set different ones leave no sensible
   * default, so that is an error.
   */
  get namespace(): string | undefined {
    const set = [...this.contextNamespaces];
    const other = set.find(([, ns]) => ns !== set[0]![1]);
    if (other) {
      throw new InputError(
        `contexts "${set[0]![0]}" and "${other[0]}" set different namespaces ("${set[0]![1]}", "${other[1]}")`,
        'pass -n NAMESPACE, or set one namespace in the fleet\'s contexts',
      );
    }
    return set[0]?.[1];
  }

  /** Resolves the fleet and builds its clients. Bad input is an InputError; nothing is contacted. */
  static open(options: FleetOptions): Fleet {
    const spec = resolveFleet(options);
    // The fleet file's kubeconfig belongs to those contexts: it wins over KUBECONFIG, not over --kubeconfig.
    const explicit = options.kubeconfig ?? spec.kubeconfig;
    const files = kubeconfigFiles(explicit, options.env);
    const merged = loadKubeconfig(files, explicit !== undefined);
    const maxInFlight = options.maxInFlight ?? 8;
    const clusters = spec.contexts.map((context) => {
      const credentials = new KubeconfigCredentials(contextKubeConfig(merged, context), maxInFlight);
      return new ClusterClient({
        context,
        server: credentials.server,
        credentials,
        requestTimeoutMs: options.requestTimeoutMs,
        maxInFlight,
        retry: options.retry,
        userAgent: options.userAgent,
      });
    });
    const namespaces = new Map(spec.contexts.flatMap((c) => {
      const ns = merged.contexts.get(c)?.namespace;
      return ns ? [[c, ns] as const] : [];
    }));
    return new Fleet(clusters, spec, namespaces, options.placeholderImage ?? spec.placeholderImage, options.joinTimeoutMs, {...spec.claims, ...options.claims});
  }

  cluster(context: string): ClusterClient {
    const found = this.clusters.find((cluster) => cluster.context === context);
    if (!found) {
      throw new InputError(`context "${context}" is not in the fleet (${this.spec.contexts.join(', ')})`, 'add it to the fleet or pick one of those');
    }
    return found;
  }
}
