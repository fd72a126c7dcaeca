/**
 * One simulated cluster's storage, as etcd and the API server's registry together behave for the
 * objects the tool and kubectl use: one resourceVersion counter, uid and creationTimestamp,
 * generateName, conflicts, graceful deletion with finalizers, and watches that resume from a
 * resourceVersion (410 Gone once it is older than the history kept).
 */
import {randomUUID} from 'node:crypto';
import {type Json, now} from './json.js';

export type StoredObject = {[key: string]: Json} & {
  apiVersion: string;
  kind: string;
  metadata: {[key: string]: Json} & {name: string; namespace?: string; uid: string; resourceVersion: string; creationTimestamp: string};
};

/** An object as a client sends it, before the store gives it a uid, a creationTimestamp and a resourceVersion. */
export type NewObject = {[key: string]: Json} & {apiVersion: string; kind: string; metadata: {[key: string]: Json} & {name: string; namespace?: string}};

export interface ResourceKey {
  /** The plural resource, with its group: pods, rayclusters.ray.io. */
  resource: string;
  namespace?: string;
  name: string;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  resource: string;
  object: StoredObject;
  /** The revision this event made. */
  revision: number;
  /** What a MODIFIED replaced: a watch whose selector it no longer matches sees a DELETED. */
  previous?: StoredObject;
}

/** An error the API server answers with a Status: its HTTP code, reason and message. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: {name?: string; group?: string; kind?: string; causes?: Array<{reason?: string; message: string; field?: string}>},
  ) {
    super(message);
  }
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const HISTORY = 5000;

function keyOf(k: ResourceKey): string {
  return `${k.resource}/${k.namespace ?? ''}/${k.name}`;
}

/** `pods "x"`, as the API names an object in its messages. */
export function qualified(resource: string, name: string): string {
  return `${resource} "${name}"`;
}

export class Store {
  private readonly objects = new Map<string, StoredObject>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private revision = 1;
  /** What generateName draws on; tests may fix it. */
  random: () => number = Math.random;
  /** Told of each write a component of the cluster makes (inside `as`), for the audit log. */
  onComponentWrite?: (actor: string, event: StoreEvent, before: StoredObject | undefined) => void;
  private actor?: string;

  /** Runs `work` as `actor` (a component's user agent): its writes are reported as that component's. */
  as<T>(actor: string, work: () => T): T {
    const outer = this.actor;
    this.actor = actor;
    try {
      return work();
    } finally {
      this.actor = outer;
    }
  }

  get currentRevision(): number {
    return this.revision;
  }

  get(k: ResourceKey): StoredObject | undefined {
    const found = this.objects.get(keyOf(k));
    return found ? structuredClone(found) : undefined;
  }

  /** Every object of a resource (in a namespace), ordered by namespace and name, as etcd keys are. */
  list(resource: string, namespace?: string): StoredObject[] {
    const prefix = `${resource}/${namespace === undefined ? '' : `${namespace}/`}`;
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o));
  }

  /** A new name from generateName: 5 characters, as the API server draws them. */
  generateName(prefix: string): string {
    let suffix = '';
    for (let i = 0; i < 5; i++) suffix += NAME_CHARS[Math.floor(this.random() * NAME_CHARS.length)];
    return `${prefix}${suffix}`;
  }

  create(resource: string, object: NewObject): StoredObject {
    const {name, namespace} = object.metadata;
    const key = {resource, namespace, name};
    if (this.objects.has(keyOf(key))) throw new ApiError(409, 'AlreadyExists', `${qualified(resource.split('.')[0]!, name)} already exists`, {name, kind: resource.split('.')[0]});
    const stored = structuredClone(object) as StoredObject;
    stored.metadata.uid = randomUUID();
    stored.metadata.creationTimestamp = now();
    return this.commit('ADDED', resource, stored);
  }

  /** Replaces an object. A resourceVersion in it must be the stored one (409 Conflict otherwise). */
  update(resource: string, object: StoredObject): StoredObject {
    const key = {resource, namespace: object.metadata.namespace, name: object.metadata.name};
    const live = this.objects.get(keyOf(key));
    if (!live) throw new ApiError(404, 'NotFound', `${qualified(resource.split('.')[0]!, key.name)} not found`, {name: key.name, kind: resource.split('.')[0]});
    const rv = object.metadata.resourceVersion;
    if (rv && rv !== live.metadata.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(resource, key.name)}: the object has been modified; please apply your changes to the latest version and try again`,
        {name: key.name, kind: resource.split('.')[0]},
      );
    }
    const stored = structuredClone(object);
    // What the server owns stays the server's.
    stored.metadata.uid = live.metadata.uid;
    stored.metadata.creationTimestamp = live.metadata.creationTimestamp;
    if (live.metadata.deletionTimestamp !== undefined) stored.metadata.deletionTimestamp = live.metadata.deletionTimestamp;
    // An object being deleted goes once its last finalizer does.
    if (stored.metadata.deletionTimestamp !== undefined && !((stored.metadata.finalizers as Json[] | undefined)?.length)) {
      return this.remove(resource, stored);
    }
    return this.commit('MODIFIED', resource, stored);
  }

  /**
   * Deletes an object: at once, or, while it has finalizers (or a grace period), by marking it with
   * a deletionTimestamp. Preconditions on uid and resourceVersion are checked first.
   */
  delete(k: ResourceKey, options: {uid?: string; resourceVersion?: string; graceful?: boolean} = {}): StoredObject {
    const live = this.objects.get(keyOf(k));
    if (!live) throw new ApiError(404, 'NotFound', `${qualified(k.resource.split('.')[0]!, k.name)} not found`, {name: k.name, kind: k.resource.split('.')[0]});
    if (options.uid && options.uid !== live.metadata.uid) {
      throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${options.uid}, UID in object meta: ${live.metadata.uid}`, {name: k.name});
    }
    if (options.resourceVersion && options.resourceVersion !== live.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${options.resourceVersion}, ResourceVersion in meta: ${live.metadata.resourceVersion}`, {name: k.name});
    }
    const finalizers = (live.metadata.finalizers as Json[] | undefined) ?? [];
    if (finalizers.length > 0 || options.graceful) {
      if (live.metadata.deletionTimestamp !== undefined) return structuredClone(live);
      const marked = structuredClone(live);
      marked.metadata.deletionTimestamp = now();
      return this.commit('MODIFIED', k.resource, marked);
    }
    return this.remove(k.resource, live);
  }

  private remove(resource: string, object: StoredObject): StoredObject {
    const key = keyOf({resource, namespace: object.metadata.namespace, name: object.metadata.name});
    const before = this.objects.get(key);
    this.objects.delete(key);
    const gone = structuredClone(object);
    gone.metadata.resourceVersion = String(++this.revision);
    this.emit({type: 'DELETED', resource, object: gone, revision: this.revision}, before);
    return structuredClone(gone);
  }

  private commit(type: EventType, resource: string, object: StoredObject): StoredObject {
    const key = keyOf({resource, namespace: object.metadata.namespace, name: object.metadata.name});
    const before = this.objects.get(key);
    object.metadata.resourceVersion = String(++this.revision);
    this.objects.set(key, object);
    this.emit({type, resource, object: structuredClone(object), revision: this.revision, ...(type === 'MODIFIED' && before ? {previous: before} : {})}, before);
    return structuredClone(object);
  }

  private emit(event: StoreEvent, before?: StoredObject): void {
    if (this.actor) this.onComponentWrite?.(this.actor, event, before);
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    for (const listener of this.listeners) listener(event);
  }

  /**
   * The events after `revision`, then every new one, until the returned function is called. A
   * revision older than the history kept is a 410: the watcher must list again.
   */
  watch(revision: number, listener: (event: StoreEvent) => void): () => void {
    const oldest = this.history[0]?.revision ?? this.revision + 1;
    if (revision < oldest - 1 && revision < this.revision) {
      throw new ApiError(410, 'Expired', `too old resource version: ${revision} (${oldest - 1})`);
    }
    for (const event of this.history) if (event.revision > revision) listener(event);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
