import * as http from 'node:http';
import * as https from 'node:https';
import {errorFromResponse, KubeError, normaliseError} from './errors.js';
import {Limiter} from './limiter.js';
import {collectionPath, describeObject, objectPath, type ResourceType} from './resources.js';
import {StopError} from '../errors.js';
import {DEFAULT_RETRY, mayRetry, retryDelayMs, sleep, unanswered, type RetryPolicy} from './retry.js';
import type {KubeList, KubeObject, ServerVersion, WatchEvent} from './types.js';
import type {ClusterCache} from './informer.js';

/** Supplies one context's credentials. Each context has its own, so no token ever goes to another cluster. */
export interface Credentials {
  /** The agent (carrying TLS material) and the headers (carrying the user's token) for one request, or a watch. */
  prepare(use?: {watch?: boolean}): Promise<{agent: http.Agent; headers: Record<string, string>}>;
}

export interface ClusterClientOptions {
  context: string;
  /** The API server URL from the kubeconfig, possibly with a path prefix. */
  server: string;
  credentials: Credentials;
  /** Per-request timeout; 0 means none. */
  requestTimeoutMs?: number;
  /** Requests in flight at once against this cluster. Watches are not counted. */
  maxInFlight?: number;
  retry?: RetryPolicy;
  userAgent?: string;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface ApiRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Safe to send twice even when the server may have acted on the first one. GET is always. */
  idempotent?: boolean;
  /** For error messages: what the request is about. */
  object?: string;
  signal?: AbortSignal;
  /** Sent even when the cluster has gone silent, and never retried; an answer clears the silence. */
  probe?: boolean;
}

export interface ListOptions<T extends KubeObject = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the list helper follows `continue` until the end. */
  limit?: number;
  signal?: AbortSignal;
  /** From the API server even when watch's cache could answer: an informer's own list. */
  fromServer?: boolean;
  /**
   * What is kept of each object, page by page: an informer of every pod of a cluster keeps little of
   * each, and never holds tens of thousands of whole pods at once.
   */
  keep?: (o: T) => T;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion: string;
  /** The server ends the watch after this long; the caller resumes from the last resourceVersion. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** Called once the server has taken the watch: its events, from resourceVersion on, follow. */
  onConnected?: () => void;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export const FIELD_MANAGER = 'kubectl-superskyray';
const DEFAULT_PAGE_SIZE = 500;

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One cluster, reached through one kubeconfig context. Every request has a timeout, is retried with
 * backoff when that is safe, and waits for a slot so that no cluster gets more than `maxInFlight`
 * requests at once.
 */
/**
 * A test-only failpoint for crash-safety tests: with SUPERSKYRAY_FAILPOINT_KILL_AFTER_WRITES=k the
 * process kills itself (SIGKILL: no cleanup, no finally) right after its k-th successful write.
 */
let writes = 0;
function afterWrite(): void {
  const k = Number(process.env.SUPERSKYRAY_FAILPOINT_KILL_AFTER_WRITES);
  if (Number.isInteger(k) && k > 0 && ++writes === k) process.kill(process.pid, 'SIGKILL');
}

export class ClusterClient {
  readonly context: string;
  readonly server: string;
  private readonly base: URL;
  private readonly credentials: Credentials;
  private readonly requestTimeoutMs: number;
  private readonly limiter: Limiter;
  private readonly retry: RetryPolicy;
  private readonly userAgent: string;
  /**
   * Set by `watch` only: reads it can answer come from its informers, and every write is told to it,
   * so that a read after a write waits for the write to come back through the watch.
   */
  cache?: ClusterCache;

  constructor(options: ClusterClientOptions) {
    this.context = options.context;
    this.server = options.server;
    this.base = new URL(options.server);
    this.credentials = options.credentials;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.limiter = new Limiter(options.maxInFlight ?? 8);
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.userAgent = options.userAgent ?? 'kubectl-superskyray';
  }

  /**
   * Sends one API request and returns its decoded JSON body. Failures are KubeErrors, except that a
   * run stopped by its deadline or an interrupt (a StopError as the signal's reason) throws that.
   */
  async request<T>(req: ApiRequest): Promise<T> {
    const idempotent = req.idempotent ?? (req.method ?? 'GET') === 'GET';
    const where = {context: this.context, object: req.object};
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.silence && !req.probe) throw this.stillSilent(where);
        const res = await this.limiter.run(() => this.send(req));
        if (res.status >= 400) throw errorFromResponse(res.status, res.body, res.headers, where);
        if ((req.method ?? 'GET') !== 'GET') afterWrite();
        if (req.probe) this.silence = undefined;
        return decodeJson<T>(res, where);
      } catch (thrown) {
        if (req.signal?.aborted) throw abortedBy(req.signal, where);
        const err = normaliseError(thrown, where);
        if (unanswered(err) && !req.probe) this.goSilent(err);
        if (req.probe || !mayRetry(err, attempt, idempotent, this.retry)) {
          // Silence was said when it began; a last try that was refused or reset is said each time.
          if (err.unreachable && !unanswered(err) && !req.probe) this.sayUnreachable(err);
          throw err;
        }
        try {
          await sleep(retryDelayMs(err, attempt, this.retry), req.signal);
        } catch {
          // The caller gave up while we waited to retry.
          throw abortedBy(req.signal!, where);
        }
      }
    }
  }

  /**
   * Set when a request got no answer within the request timeout. From then on every request to this
   * cluster fails at once, so that one silent cluster costs a run one timeout, not one per request,
   * and the rest of the fleet goes on. Only a probe that gets an answer clears it.
   */
  private silence?: {since: number; err: KubeError};

  private readonly unreachableListeners = new Set<(err: KubeError) => void>();

  /** Whether this cluster has gone silent in this run (see probe). */
  get silent(): boolean {
    return this.silence !== undefined;
  }

  /**
   * Calls `listener` each time a request finds this cluster out of reach: when it goes silent (once,
   * not for each request refused after), and when a request's last try was refused or reset. A
   * long-running command (watch) says so at once, rather than when some watch of it is next found
   * dead: a watch stream can outlive its cluster's reach, open and silent. Returns what stops the calls.
   */
  onUnreachable(listener: (err: KubeError) => void): () => void {
    this.unreachableListeners.add(listener);
    return () => this.unreachableListeners.delete(listener);
  }

  private goSilent(err: KubeError): void {
    if (this.silence) return;
    this.silence = {since: Date.now(), err};
    this.sayUnreachable(err);
  }

  private sayUnreachable(err: KubeError): void {
    for (const listener of this.unreachableListeners) listener(err);
  }

  private stillSilent(where: {context: string; object?: string}): KubeError {
    const seconds = Math.round((Date.now() - this.silence!.since) / 1000);
    return new KubeError({
      reason: 'Timeout',
      message: `the cluster did not answer within the request timeout (${this.silence!.err.object ?? 'a request'}, ${seconds}s ago); it is not asked again until it answers`,
      ...where,
    });
  }

  /**
   * Asks the server for its version, even when it has gone silent, with no retry. An answer clears
   * the silence, so that requests go to it again.
   */
  async probe(signal?: AbortSignal): Promise<ServerVersion> {
    return this.request<ServerVersion>({path: '/version', object: 'server version', signal, probe: true});
  }

  /** `fromServer`: past watch's cache, to the API server itself (what a cache does not hold is no proof of absence). */
  async get<T extends KubeObject>(type: ResourceType, name: string, namespace?: string, signal?: AbortSignal, options: {fromServer?: boolean} = {}): Promise<T> {
    const cached = options.fromServer ? undefined : await this.cache?.get(type, name, namespace, signal);
    if (cached === null) throw this.cache!.notFound(type, name, namespace);
    if (cached) return cached as T;
    const object = await this.request<T>({path: objectPath(type, name, namespace), object: describeObject(type, name, namespace), signal});
    this.cache?.got(type, object);
    return object;
  }

  /** Like get, but an object that is not there is `undefined` rather than an error. */
  async find<T extends KubeObject>(type: ResourceType, name: string, namespace?: string, signal?: AbortSignal, options: {fromServer?: boolean} = {}): Promise<T | undefined> {
    try {
      return await this.get<T>(type, name, namespace, signal, options);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** Lists every object that matches, following `continue` page by page. */
  async list<T extends KubeObject>(type: ResourceType, options: ListOptions<T> = {}): Promise<KubeList<T>> {
    const cached = options.fromServer ? undefined : await this.cache?.list(type, options);
    if (cached) return cached as KubeList<T>;
    const pageSize = options.limit ?? DEFAULT_PAGE_SIZE;
    const object = describeObject(type, undefined, options.namespace);
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let token: string | undefined;
    do {
      let page: KubeList<T>;
      try {
        page = await this.request<KubeList<T>>({
          path: collectionPath(type, options.namespace),
          query: {
            labelSelector: options.labelSelector,
            fieldSelector: options.fieldSelector,
            limit: pageSize,
            continue: token,
          },
          object,
          signal: options.signal,
        });
      } catch (err) {
        // A continue token expires after a few minutes. Like client-go's pager, fall back to one
        // unpaginated list rather than stitching pages from two different snapshots.
        if (token !== undefined && err instanceof KubeError && err.code === 410) {
          const whole = await this.request<KubeList<T>>({
            path: collectionPath(type, options.namespace),
            query: {labelSelector: options.labelSelector, fieldSelector: options.fieldSelector},
            object,
            signal: options.signal,
          });
          return options.keep ? {...whole, items: whole.items.map(options.keep)} : whole;
        }
        throw err;
      }
      items.push(...(options.keep ? page.items.map(options.keep) : page.items));
      resourceVersion ??= page.metadata?.resourceVersion;
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    return {metadata: {resourceVersion}, items};
  }

  async create<T extends KubeObject>(type: ResourceType, obj: T, options: {namespace?: string; dryRun?: boolean; signal?: AbortSignal} = {}): Promise<T> {
    const namespace = options.namespace ?? obj.metadata?.namespace;
    const name = obj.metadata?.name;
    const created = await this.request<T>({
      method: 'POST',
      path: collectionPath(type, namespace),
      query: {fieldManager: FIELD_MANAGER, dryRun: options.dryRun ? 'All' : undefined},
      body: obj,
      // With a fixed name a repeated create fails with AlreadyExists instead of making a second object.
      idempotent: name !== undefined,
      object: describeObject(type, name ?? `${obj.metadata?.generateName ?? ''}*`, namespace),
      signal: options.signal,
    });
    if (!options.dryRun) this.cache?.wrote(type, created);
    return created;
  }

  async patch<T extends KubeObject>(
    type: ResourceType,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    patchType: PatchType,
    options: {force?: boolean; dryRun?: boolean; signal?: AbortSignal; subresource?: 'status'} = {},
  ): Promise<T> {
    const patched = await this.request<T>({
      method: 'PATCH',
      path: `${objectPath(type, name, namespace)}${options.subresource ? `/${options.subresource}` : ''}`,
      query: {
        fieldManager: FIELD_MANAGER,
        force: patchType === 'apply' && options.force ? true : undefined,
        dryRun: options.dryRun ? 'All' : undefined,
      },
      body: patch,
      contentType: PATCH_CONTENT_TYPES[patchType],
      // A JSON patch may append or test; sending it twice is not always the same as once.
      idempotent: patchType !== 'json',
      object: describeObject(type, name, namespace),
      signal: options.signal,
    });
    if (!options.dryRun) this.cache?.wrote(type, patched);
    return patched;
  }

  async delete(
    type: ResourceType,
    name: string,
    namespace?: string,
    options: {uid?: string; resourceVersion?: string; propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; dryRun?: boolean; signal?: AbortSignal} = {},
  ): Promise<void> {
    const preconditions =
      options.uid || options.resourceVersion ? {uid: options.uid, resourceVersion: options.resourceVersion} : undefined;
    await this.request<unknown>({
      method: 'DELETE',
      path: objectPath(type, name, namespace),
      query: {dryRun: options.dryRun ? 'All' : undefined},
      body: {kind: 'DeleteOptions', apiVersion: 'v1', preconditions, propagationPolicy: options.propagationPolicy},
      idempotent: true,
      object: describeObject(type, name, namespace),
      signal: options.signal,
    });
    if (!options.dryRun) this.cache?.deleted(type, name, namespace);
  }

  async version(signal?: AbortSignal): Promise<ServerVersion> {
    const cached = this.cache?.cachedVersion();
    if (cached) return cached;
    const version = await this.request<ServerVersion>({path: '/version', object: 'server version', signal});
    this.cache?.rememberVersion(version);
    return version;
  }

  /**
   * One watch connection, as a stream of events. It ends when the server closes the watch; an
   * expired resourceVersion surfaces as a KubeError with code 410, whether the server says so in the
   * HTTP status or in an ERROR event. Resuming and relisting are the caller's job (see watch.ts).
   */
  async *watch<T extends KubeObject>(type: ResourceType, options: WatchOptions): AsyncGenerator<WatchEvent<T>> {
    const where = {context: this.context, object: describeObject(type, undefined, options.namespace)};
    const timeoutSeconds = options.timeoutSeconds ?? 300;
    if (this.silence) throw this.stillSilent(where);
    const {agent, headers} = await this.credentials.prepare({watch: true});
    const url = this.url(collectionPath(type, options.namespace), {
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: options.resourceVersion,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      timeoutSeconds,
    });
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = this.transport(url).request(url, {
        method: 'GET',
        agent,
        headers: {...headers, accept: 'application/json', 'user-agent': this.userAgent},
        signal: options.signal,
      });
      // Until the headers come, the usual request timeout applies; after that the server's own
      // timeoutSeconds ends the watch, and silence well beyond it means a dead connection.
      const headerTimer = this.requestTimeoutMs > 0
        ? setTimeout(() => req.destroy(Object.assign(new Error('watch request timed out'), {name: 'TimeoutError', timeoutMs: this.requestTimeoutMs})), this.requestTimeoutMs)
        : undefined;
      req.on('response', (res) => {
        clearTimeout(headerTimer);
        // The server sends a bookmark about once a minute: silence for well over two is a watch
        // that stopped without closing (kubernetes-client/javascript #958), and is resumed.
        req.setTimeout(Math.min(timeoutSeconds + 30, 150) * 1000, () =>
          req.destroy(Object.assign(new Error('watch connection went silent'), {name: 'TimeoutError'})),
        );
        resolve(res);
      });
      req.on('error', (err) => {
        clearTimeout(headerTimer);
        reject(err);
      });
      req.end();
    }).catch((err: unknown) => {
      if (options.signal?.aborted) throw abortedBy(options.signal, where);
      const normalised = normaliseError(err, where);
      if (unanswered(normalised)) this.goSilent(normalised);
      throw normalised;
    });

    if ((response.statusCode ?? 0) >= 400) {
      const body = await readBody(response).catch(() => Buffer.alloc(0));
      throw errorFromResponse(response.statusCode ?? 0, body, response.headers, where);
    }
    options.onConnected?.();

    let buffered = '';
    try {
      for await (const chunk of response) {
        buffered += (chunk as Buffer).toString('utf8');
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === '') continue;
          const event = parseWatchLine<T>(line, where);
          if (event.type === 'ERROR') {
            const status = event.object as {code?: number; reason?: string; message?: string};
            throw new KubeError({
              code: status.code,
              reason: status.reason ?? (status.code === 410 ? 'Expired' : 'Unknown'),
              message: status.message ?? 'the watch failed',
              ...where,
            });
          }
          yield event;
        }
      }
    } catch (err) {
      if (options.signal?.aborted) throw abortedBy(options.signal, where);
      throw normaliseError(err, where);
    } finally {
      response.destroy();
    }
  }

  private url(path: string, query?: Query): URL {
    const url = new URL(this.base.toString());
    url.pathname = this.base.pathname.replace(/\/+$/, '') + path;
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  private transport(url: URL): typeof http | typeof https {
    return url.protocol === 'http:' ? http : https;
  }

  /**
   * One HTTP exchange, bounded by the request timeout from the first byte sent to the last byte of
   * the body read. The timer and the caller's abort are plain listeners, removed when it ends: a
   * timeout signal can be collected before it fires on Node 20 (nodejs/node#57736), and
   * AbortSignal.any would leave one listener per request on a long-lived caller signal.
   */
  private async send(req: ApiRequest): Promise<RawResponse> {
    const {agent, headers} = await this.credentials.prepare();
    const url = this.url(req.path, req.query);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const timeoutMs = this.requestTimeoutMs;
    const caller = req.signal;
    return new Promise<RawResponse>((resolve, reject) => {
      const request = this.transport(url).request(url, {
        method: req.method ?? 'GET',
        agent,
        headers: {
          ...headers,
          accept: 'application/json',
          'user-agent': this.userAgent,
          ...(body ? {'content-type': req.contentType ?? 'application/json', 'content-length': body.length} : {}),
        },
      });
      const end = () => {
        clearTimeout(timer);
        caller?.removeEventListener('abort', onAbort);
      };
      const fail = (err: unknown) => {
        end();
        request.destroy();
        reject(err);
      };
      const onAbort = () => fail(caller?.reason ?? Object.assign(new Error('the request was cancelled'), {name: 'AbortError'}));
      const timer = timeoutMs > 0
        ? setTimeout(() => fail(Object.assign(new Error(`no answer within ${timeoutMs / 1000}s`), {name: 'TimeoutError', timeoutMs})), timeoutMs)
        : undefined;
      // First, so that the error a destroy emits always has a listener.
      request.on('error', fail);
      if (caller?.aborted) return onAbort();
      caller?.addEventListener('abort', onAbort, {once: true});
      request.on('response', (res) => {
        readBody(res).then(
          (buf) => {
            end();
            resolve({status: res.statusCode ?? 0, headers: res.headers, body: buf});
          },
          fail,
        );
      });
      request.end(body);
    });
  }
}

/**
 * What a request the caller gave up on throws: the run's StopError (its deadline or an interrupt)
 * as it is, otherwise an Aborted KubeError. Never a Timeout, even when the caller's own time limit
 * is what aborted it: the cluster did nothing wrong.
 */
function abortedBy(signal: AbortSignal, where: {context: string; object?: string}): Error {
  if (signal.reason instanceof StopError) return signal.reason;
  return new KubeError({reason: 'Aborted', message: 'the request was cancelled', ...where, cause: signal.reason});
}

function decodeJson<T>(res: RawResponse, where: {context: string; object?: string}): T {
  if (res.body.length === 0) return undefined as T;
  try {
    return JSON.parse(res.body.toString('utf8')) as T;
  } catch {
    const type = res.headers['content-type'] ?? 'no content type';
    throw new KubeError({
      code: res.status,
      reason: 'BadResponse',
      message: `the server answered with something that is not JSON (${type}); is the server URL of this context a Kubernetes API server?`,
      ...where,
    });
  }
}

function readBody(res: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(Object.assign(new Error('the connection was closed'), {code: 'ECONNRESET'})));
  });
}

function parseWatchLine<T extends KubeObject>(line: string, where: {context: string; object?: string}): WatchEvent<T> {
  try {
    return JSON.parse(line) as WatchEvent<T>;
  } catch {
    throw new KubeError({reason: 'BadResponse', message: `the watch sent a line that is not JSON: ${line.slice(0, 80)}`, ...where});
  }
}
