import * as http from 'node:http';
import * as https from 'node:https';
import {errorFromResponse, KubeError, normaliseError} from './errors.js';
import {Limiter} from './limiter.js';
import {collectionPath, describeObject, objectPath, type ResourceType} from './resources.js';
import {DEFAULT_RETRY, mayRetry, retryDelayMs, sleep, type RetryPolicy} from './retry.js';
import type {KubeList, KubeObject, ServerVersion, WatchEvent} from './types.js';

/** Supplies one context's credentials. Each context has its own, so no token ever goes to another cluster. */
export interface Credentials {
  /** The agent (carrying TLS material) and the headers (carrying the user's token) for one request. */
  prepare(): Promise<{agent: http.Agent; headers: Record<string, string>}>;
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
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the list helper follows `continue` until the end. */
  limit?: number;
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion: string;
  /** The server ends the watch after this long; the caller resumes from the last resourceVersion. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
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

  /** Sends one API request and returns its decoded JSON body. Failures are KubeErrors. */
  async request<T>(req: ApiRequest): Promise<T> {
    const idempotent = req.idempotent ?? (req.method ?? 'GET') === 'GET';
    const where = {context: this.context, object: req.object};
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.limiter.run(() => this.send(req));
        if (res.status >= 400) throw errorFromResponse(res.status, res.body, res.headers, where);
        if ((req.method ?? 'GET') !== 'GET') afterWrite();
        return decodeJson<T>(res, where);
      } catch (thrown) {
        const err = normaliseError(thrown, where);
        if (!mayRetry(err, attempt, idempotent, this.retry)) throw err;
        try {
          await sleep(retryDelayMs(err, attempt, this.retry), req.signal);
        } catch (reason) {
          // The caller gave up (or its deadline passed) while we waited to retry.
          throw normaliseError(reason, where);
        }
      }
    }
  }

  async get<T extends KubeObject>(type: ResourceType, name: string, namespace?: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>({path: objectPath(type, name, namespace), object: describeObject(type, name, namespace), signal});
  }

  /** Like get, but an object that is not there is `undefined` rather than an error. */
  async find<T extends KubeObject>(type: ResourceType, name: string, namespace?: string, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.get<T>(type, name, namespace, signal);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** Lists every object that matches, following `continue` page by page. */
  async list<T extends KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<KubeList<T>> {
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
          return this.request<KubeList<T>>({
            path: collectionPath(type, options.namespace),
            query: {labelSelector: options.labelSelector, fieldSelector: options.fieldSelector},
            object,
            signal: options.signal,
          });
        }
        throw err;
      }
      items.push(...page.items);
      resourceVersion ??= page.metadata?.resourceVersion;
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    return {metadata: {resourceVersion}, items};
  }

  async create<T extends KubeObject>(type: ResourceType, obj: T, options: {namespace?: string; dryRun?: boolean; signal?: AbortSignal} = {}): Promise<T> {
    const namespace = options.namespace ?? obj.metadata?.namespace;
    const name = obj.metadata?.name;
    return this.request<T>({
      method: 'POST',
      path: collectionPath(type, namespace),
      query: {fieldManager: FIELD_MANAGER, dryRun: options.dryRun ? 'All' : undefined},
      body: obj,
      // With a fixed name a repeated create fails with AlreadyExists instead of making a second object.
      idempotent: name !== undefined,
      object: describeObject(type, name ?? `${obj.metadata?.generateName ?? ''}*`, namespace),
      signal: options.signal,
    });
  }

  async patch<T extends KubeObject>(
    type: ResourceType,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    patchType: PatchType,
    options: {force?: boolean; dryRun?: boolean; signal?: AbortSignal} = {},
  ): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path: objectPath(type, name, namespace),
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
  }

  async version(signal?: AbortSignal): Promise<ServerVersion> {
    return this.request<ServerVersion>({path: '/version', object: 'server version', signal});
  }

  /**
   * One watch connection, as a stream of events. It ends when the server closes the watch; an
   * expired resourceVersion surfaces as a KubeError with code 410, whether the server says so in the
   * HTTP status or in an ERROR event. Resuming and relisting are the caller's job (see watch.ts).
   */
  async *watch<T extends KubeObject>(type: ResourceType, options: WatchOptions): AsyncGenerator<WatchEvent<T>> {
    const where = {context: this.context, object: describeObject(type, undefined, options.namespace)};
    const timeoutSeconds = options.timeoutSeconds ?? 300;
    const {agent, headers} = await this.credentials.prepare();
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
        ? setTimeout(() => req.destroy(Object.assign(new Error('watch request timed out'), {name: 'TimeoutError'})), this.requestTimeoutMs)
        : undefined;
      req.on('response', (res) => {
        clearTimeout(headerTimer);
        req.setTimeout((timeoutSeconds + 30) * 1000, () =>
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
      throw normaliseError(err, where);
    });

    if ((response.statusCode ?? 0) >= 400) {
      const body = await readBody(response).catch(() => Buffer.alloc(0));
      throw errorFromResponse(response.statusCode ?? 0, body, response.headers, where);
    }

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

  private async send(req: ApiRequest): Promise<RawResponse> {
    const {agent, headers} = await this.credentials.prepare();
    const url = this.url(req.path, req.query);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const timeout = this.requestTimeoutMs > 0 ? AbortSignal.timeout(this.requestTimeoutMs) : undefined;
    const signal = timeout && req.signal ? AbortSignal.any([timeout, req.signal]) : (timeout ?? req.signal);
    return new Promise<RawResponse>((resolve, reject) => {
      const request = this.transport(url).request(url, {
        method: req.method ?? 'GET',
        agent,
        signal,
        headers: {
          ...headers,
          accept: 'application/json',
          'user-agent': this.userAgent,
          ...(body ? {'content-type': req.contentType ?? 'application/json', 'content-length': body.length} : {}),
        },
      });
      request.on('response', (res) => {
        readBody(res).then(
          (buf) => resolve({status: res.statusCode ?? 0, headers: res.headers, body: buf}),
          reject,
        );
      });
      request.on('error', (err) => {
        // Node reports every abort as AbortError; the signal's reason says whether it was a timeout
        // (TimeoutError) or the caller giving up (AbortError).
        reject(signal?.aborted && signal.reason instanceof Error ? signal.reason : err);
      });
      request.end(body);
    });
  }
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
