/**
 * A read cache of one cluster, fed by list-then-watch (docs/fleet-scale.md): `watch` reads every
 * pass from it and writes to the API. `status -A` loads one with a single list per kind, and reads
 * every group from it; other one-shot commands never use it.
 */
import type {ClusterClient} from './client.js';
import {KubeError, normaliseError} from './errors.js';
import {describeObject, type ResourceType} from './resources.js';
import {fieldSelector, labelSelector, splitTerms, type Matcher} from './selectors.js';
import type {KubeList, KubeObject, Pod, ServerVersion} from './types.js';
import {watchResource} from './watch.js';

export interface InformerSpec {
  type: ResourceType;
  /** Undefined: every namespace. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * What is kept of each object. The default drops only managedFields; the pods of a whole cluster,
   * kept for their room, are kept much smaller.
   */
  keep?: (o: KubeObject) => KubeObject;
  /**
   * Whether a list selecting these labels finds all it asks for here. The default: every
   * requirement of the informer's own label selector is among the request's.
   */
  answersLabels?: (terms: string[]) => boolean;
  /** Objects handed out as they are kept, never copied: only for those no caller changes (room). */
  shared?: boolean;
}

export interface InformerListener {
  /** After the first list and every relist: the whole set. */
  sync?(items: KubeObject[]): void;
  event?(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void;
  /** The watch failed (it goes on by itself): for showing the cluster degraded. */
  error?(err: KubeError): void;
  /** The watch ended for good (Forbidden, say): reads of its kind go to the API from now on. */
  stopped?(err: Error): void;
}

/** The fields a field selector of the tool may name, read off an object. */
function fieldsOf(o: KubeObject): Record<string, string | undefined> {
  const pod = o as Pod;
  return {
    'metadata.name': o.metadata?.name,
    'metadata.namespace': o.metadata?.namespace ?? '',
    'spec.nodeName': pod.spec?.nodeName ?? '',
    'status.phase': pod.status?.phase ?? '',
  };
}
const FIELDS = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase'];

/** A selector's requirements without their spaces, so that two spellings of one compare equal. */
const terms = (selector: string | undefined) => splitTerms(selector ?? '').map((t) => t.replace(/\s+/g, ''));

const keyOf = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** What an informer keeps of an object by default: all of it but its managed fields. */
export function withoutManagedFields(o: KubeObject): KubeObject {
  if (!o.metadata?.managedFields) return o;
  const {managedFields: _dropped, ...metadata} = o.metadata;
  return {...o, metadata};
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** How long a read waits for the watch to bring back what this process just wrote. */
const CATCH_UP_MS = 3000;
/** Versions remembered as seen: a write's own event may come before its answer does. */
const SEEN_VERSIONS = 8192;

interface Expectation {
  met(): boolean;
}

/** One resource kind of one cluster: a list, then a watch that keeps the store in step. */
export class Informer {
  readonly spec: InformerSpec;
  private readonly store = new Map<string, KubeObject>();
  private sorted?: KubeObject[];
  private readonly labelMatch: Matcher;
  private readonly fieldMatch: Matcher;
  private readonly ownTerms: string[];
  private readonly listeners: InformerListener[] = [];
  private readonly seen = new Set<string>();
  private expectations: Expectation[] = [];
  private waiters: Array<() => void> = [];
  private settleWaiters: Array<() => void> = [];
  private resourceVersion = '';
  /** Set once the first list is in. */
  synced = false;
  /** The last watch error, cleared by the next event or list: while set, reads go to the API. */
  failing?: KubeError;
  /** Set when the watch ended for good (Forbidden, say): every read goes to the API. */
  stopped?: Error;
  /** Set by suspect, until the server takes the watch again: reads go to the API meanwhile. */
  private resuming = false;
  private drop?: () => void;

  constructor(
    private readonly client: ClusterClient,
    spec: InformerSpec,
  ) {
    this.spec = spec;
    this.labelMatch = labelSelector(spec.labelSelector);
    this.fieldMatch = fieldSelector(spec.fieldSelector, FIELDS);
    this.ownTerms = terms(spec.labelSelector);
  }

  listen(listener: InformerListener): void {
    this.listeners.push(listener);
  }

  /** Runs until the signal aborts, or the watch ends for good. */
  async run(signal: AbortSignal): Promise<void> {
    const {type, namespace, labelSelector: ls, fieldSelector: fs} = this.spec;
    try {
      const keep = this.spec.keep ?? withoutManagedFields;
      await watchResource<KubeObject>(this.client, type, {namespace, labelSelector: ls, fieldSelector: fs, timeoutSeconds: 300, signal, keep}, {
        // The items come kept, page by page: the whole objects of a big list are never all held at once.
        onSync: (items, resourceVersion) => this.replace(items, resourceVersion),
        onEvent: (e) => {
          if (e.type === 'ERROR' || e.type === 'BOOKMARK') return;
          const key = keyOf(e.object);
          if (e.type === 'DELETED') this.store.delete(key);
          else this.store.set(key, this.kept(e.object));
          const rv = e.object.metadata?.resourceVersion;
          if (rv) {
            this.resourceVersion = rv;
            this.see(rv);
          }
          this.sorted = undefined;
          this.wake();
          for (const l of this.listeners) l.event?.(e.type, e.object);
        },
        onAnswer: () => {
          this.failing = undefined;
          this.resuming = false;
        },
        onConnection: (drop) => {
          this.drop = drop;
        },
        onError: (err) => {
          this.failing = err;
          this.settle();
          for (const l of this.listeners) l.error?.(err);
        },
      });
    } catch (err) {
      if (signal.aborted) return;
      this.stopped = err as Error;
      this.settle();
      for (const l of this.listeners) l.stopped?.(err as Error);
    }
  }

  /**
   * One list and no watch: what a one-shot read of the whole fleet (status -A) answers from. A list
   * that fails stays `failing`, and the cache's reads of it throw its error.
   */
  async load(signal: AbortSignal): Promise<void> {
    const {type, namespace, labelSelector: ls, fieldSelector: fs} = this.spec;
    try {
      const list = await this.client.list(type, {namespace, labelSelector: ls, fieldSelector: fs, signal, fromServer: true, keep: this.spec.keep ?? withoutManagedFields});
      this.replace(list.items, list.metadata?.resourceVersion ?? '');
    } catch (err) {
      if (signal.aborted) throw err;
      this.failing = normaliseError(err, {context: this.client.context});
      this.settle();
    }
  }

  private replace(items: KubeObject[], resourceVersion: string): void {
    this.store.clear();
    for (const item of items) this.store.set(keyOf(item), this.spec.shared ? deepFreeze(item) : item);
    this.resourceVersion = resourceVersion;
    this.sorted = undefined;
    this.synced = true;
    this.failing = undefined;
    this.resuming = false;
    // A fresh list holds every write made before it.
    this.expectations = [];
    this.wake();
    this.settle();
    for (const l of this.listeners) l.sync?.(items);
  }

  private kept(o: KubeObject): KubeObject {
    const kept = (this.spec.keep ?? withoutManagedFields)(o);
    return this.spec.shared ? deepFreeze(kept) : kept;
  }

  private see(rv: string): void {
    this.seen.add(rv);
    if (this.seen.size > SEEN_VERSIONS) this.seen.delete(this.seen.values().next().value!);
  }

  private wake(): void {
    if (this.expectations.length === 0 && this.waiters.length === 0) return;
    this.expectations = this.expectations.filter((e) => !e.met());
    if (this.expectations.length > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private settle(): void {
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Until its first list is in, or its watch fails: a read then waits for it rather than make the
   * same list itself. A cluster that does not answer fails the list within the request timeout, as
   * the read's own list would.
   */
  async listed(signal?: AbortSignal): Promise<void> {
    if (this.synced || this.failing || this.stopped || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.settleWaiters.push(done);
      signal?.addEventListener('abort', done, {once: true});
    });
  }

  /** Fit to answer now: listed, and its watch not failing nor being resumed. */
  get usable(): boolean {
    return this.synced && !this.failing && !this.stopped && !this.resuming;
  }

  /**
   * Its cluster went out of reach: the stream may have died without a word (a half-open connection
   * after a partition), and what was sent meanwhile be lost. It is dropped and resumed from the last
   * resourceVersion, which replays what it missed; until the server takes it again, reads go to the API.
   */
  suspect(): void {
    if (this.stopped) return;
    this.resuming = true;
    this.drop?.();
  }

  /** Whether its scope holds everything a list with these options asks for. */
  answers(type: ResourceType, options: {namespace?: string; labelSelector?: string; fieldSelector?: string}): boolean {
    if (type !== this.spec.type) return false;
    if (this.spec.namespace !== undefined && options.namespace !== this.spec.namespace) return false;
    const wanted = terms(options.labelSelector);
    const labelsOk = this.spec.answersLabels ? this.spec.answersLabels(wanted) : this.ownTerms.every((t) => wanted.includes(t));
    if (!labelsOk) return false;
    const own = terms(this.spec.fieldSelector).sort().join(',');
    const asked = terms(options.fieldSelector).sort().join(',');
    if (own === asked) return true;
    // A request may narrow by what can be read off the objects kept; never widen past the informer's own.
    return own === '' && terms(options.fieldSelector).every((t) => FIELDS.some((f) => t.startsWith(f)));
  }

  /** Whether it holds every object of this name, so that one it lacks is not there. */
  answersName(type: ResourceType, namespace?: string): boolean {
    return type === this.spec.type && (this.spec.namespace === undefined || this.spec.namespace === namespace) && this.ownTerms.length === 0 && !this.spec.fieldSelector;
  }

  /**
   * Waits until the store holds every write this process made through the cache's client: false
   * when that takes too long (the read then goes to the API).
   */
  async caughtUp(signal?: AbortSignal): Promise<boolean> {
    this.expectations = this.expectations.filter((e) => !e.met());
    if (this.expectations.length === 0) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        resolve(ok);
      };
      const abort = () => done(false);
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== ok);
        this.expectations = [];
        done(false);
      }, CATCH_UP_MS);
      const ok = () => done(true);
      this.waiters.push(ok);
      signal?.addEventListener('abort', abort, {once: true});
    });
  }

  list(options: {namespace?: string; labelSelector?: string; fieldSelector?: string}): KubeList {
    const labels = labelSelector(options.labelSelector);
    const fields = fieldSelector(options.fieldSelector, FIELDS);
    this.sorted ??= Object.freeze([...this.store.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o)) as KubeObject[];
    // The whole set, as kept: the same array until something changes, so that what is worked out
    // from it (the room of a cluster) can be kept as long.
    const everything = options.namespace === undefined && !options.labelSelector && terms(options.fieldSelector).sort().join(',') === terms(this.spec.fieldSelector).sort().join(',');
    if (everything && this.spec.shared) return {metadata: {resourceVersion: this.resourceVersion}, items: this.sorted};
    const items = this.sorted.filter(
      (o) => (options.namespace === undefined || o.metadata?.namespace === options.namespace) && labels(o.metadata?.labels ?? {}) && fields(fieldsOf(o)),
    );
    return {metadata: {resourceVersion: this.resourceVersion}, items: this.spec.shared ? items : items.map((o) => structuredClone(o))};
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    const o = this.store.get(`${namespace ?? ''}/${name}`);
    return o && (this.spec.shared ? o : structuredClone(o));
  }

  private holds(o: KubeObject): boolean {
    if (this.spec.namespace !== undefined && o.metadata?.namespace !== this.spec.namespace) return false;
    return this.labelMatch(o.metadata?.labels ?? {}) && this.fieldMatch(fieldsOf(o));
  }

  /** This process wrote `object` (the API's answer): reads wait until the watch has brought it. */
  wrote(object: KubeObject): void {
    if (object.metadata?.namespace === undefined && this.spec.type.namespaced) return;
    const key = keyOf(object);
    const rv = object.metadata?.resourceVersion;
    if (this.holds(object)) {
      if (!rv) return;
      this.expectations.push({met: () => this.seen.has(rv) || this.store.get(key)?.metadata?.resourceVersion === rv});
    } else if (this.store.has(key)) {
      // It left this informer's selection: the watch tells that with a DELETED.
      this.expectations.push({met: () => !this.store.has(key)});
    }
  }

  /** This process deleted the object: reads wait until the store has it gone or going. */
  deleted(name: string, namespace?: string): void {
    const key = `${namespace ?? ''}/${name}`;
    if (!this.store.has(key)) return;
    this.expectations.push({met: () => !this.store.get(key) || this.store.get(key)?.metadata?.deletionTimestamp !== undefined});
  }
}

/**
 * Every informer of one cluster. A read it can answer (every informer of the kind synced, the watch
 * not failing, and what this process wrote seen back) is answered from the store; any other read
 * goes to the API as it would without a cache.
 */
export class ClusterCache {
  readonly informers: Informer[];
  private version?: {value: ServerVersion; at: number};
  private readonly remembered = new Map<string, {value: KubeObject; at: number}>();
  /** Set by load: no watch keeps the lists up to date. */
  private loaded = false;

  constructor(
    readonly client: ClusterClient,
    specs: InformerSpec[],
    /**
     * Objects read by name, kept a minute: kube-system, whose UID names the cluster on every pass.
     * A watch of it would need list and watch on every Namespace.
     */
    private readonly remember: Array<{type: ResourceType; name: string}> = [],
  ) {
    this.informers = specs.map((s) => new Informer(client, s));
  }

  /** Its cluster went out of reach: every watch is resumed, and nothing already known of it is answered from memory. */
  suspect(): void {
    for (const i of this.informers) i.suspect();
    this.version = undefined;
    this.remembered.clear();
  }

  /** Starts every informer; `listed` resolves when each has listed once, or its watch has failed. */
  start(signal: AbortSignal): {running: Promise<void>; listed: Promise<void>} {
    const running = Promise.all(this.informers.map((i) => i.run(signal))).then(() => undefined);
    return {running, listed: Promise.all(this.informers.map((i) => i.listed(signal))).then(() => undefined)};
  }

  /**
   * Lists every kind once, with no watch: the cache then answers for one moment of the cluster, and
   * a read of a kind whose list failed fails with it rather than ask again (status -A reads every
   * group from the same lists).
   */
  async load(signal: AbortSignal): Promise<void> {
    this.loaded = true;
    await Promise.all(this.informers.map((i) => i.load(signal)));
  }

  /**
   * For a kind a loaded cache could not list cluster-wide (RBAC that grants it per namespace): one
   * list per namespace given, in its place. A read of another namespace goes to the API.
   */
  async narrow(informer: Informer, namespaces: string[], signal: AbortSignal): Promise<void> {
    const narrowed = namespaces.map((namespace) => new Informer(this.client, {...informer.spec, namespace}));
    this.informers.splice(this.informers.indexOf(informer), 1, ...narrowed);
    await Promise.all(narrowed.map((i) => i.load(signal)));
  }

  private async ready(informer: Informer | undefined, signal?: AbortSignal): Promise<boolean> {
    if (!informer) return false;
    if (this.loaded && informer.failing) throw informer.failing;
    await informer.listed(signal);
    return informer.usable && (await informer.caughtUp(signal));
  }

  async list(type: ResourceType, options: {namespace?: string; labelSelector?: string; fieldSelector?: string; signal?: AbortSignal}): Promise<KubeList | undefined> {
    const informer = this.informers.find((i) => !i.stopped && i.answers(type, options));
    if (!(await this.ready(informer, options.signal))) return undefined;
    return informer!.list(options);
  }

  /** The object, `null` when the store proves it is not there, undefined when it cannot tell. */
  async get(type: ResourceType, name: string, namespace: string | undefined, signal?: AbortSignal): Promise<KubeObject | null | undefined> {
    const kept = this.remembered.get(`${type.resource}/${namespace ?? ''}/${name}`);
    if (kept && Date.now() - kept.at < 60_000) return structuredClone(kept.value);
    const informer = this.informers.find((i) => !i.stopped && i.answersName(type, namespace));
    if (!(await this.ready(informer, signal))) return undefined;
    return informer!.get(name, namespace) ?? null;
  }

  /** What the API answered to a get: kept a while when it is one to remember. */
  got(type: ResourceType, object: KubeObject): void {
    const name = object.metadata?.name ?? '';
    if (this.remember.some((r) => r.type === type && r.name === name)) this.remembered.set(`${type.resource}/${object.metadata?.namespace ?? ''}/${name}`, {value: structuredClone(object), at: Date.now()});
  }

  notFound(type: ResourceType, name: string, namespace?: string): KubeError {
    return new KubeError({code: 404, reason: 'NotFound', message: `${type.resource} "${name}" not found`, context: this.client.context, object: describeObject(type, name, namespace)});
  }

  wrote(type: ResourceType, object: KubeObject): void {
    for (const i of this.informers) if (i.spec.type === type) i.wrote(object);
  }

  deleted(type: ResourceType, name: string, namespace?: string): void {
    for (const i of this.informers) if (i.spec.type === type) i.deleted(name, namespace);
  }

  /** The server's version, asked at most once a minute: it changes only with an upgrade. */
  cachedVersion(): ServerVersion | undefined {
    return this.version && Date.now() - this.version.at < 60_000 ? this.version.value : undefined;
  }

  rememberVersion(value: ServerVersion): void {
    this.version = {value, at: Date.now()};
  }
}
