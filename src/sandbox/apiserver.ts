/**
 * One simulated cluster's API server: the Kubernetes REST API over HTTP on 127.0.0.1, for what the
 * tool and a person with kubectl use. Controllers (the scheduler, the kubelet, KubeRay) act on the
 * same Store.
 */
import * as http from 'node:http';
import type {AddressInfo} from 'node:net';
import {admit, checkDelete, checkUpdate, withFieldDefaults} from './admission.js';
import type {AuditLog} from './audit.js';
import {selfSubjectReview, ServiceAccountTokens, type UserInfo} from './authn.js';
import {fromFieldsV1, jsonPatch, mergePatch, ownerEntry, PatchError, recordUpdate, serverSideApply, strategicMergePatch, toFieldsV1, updateOwner, type Ownership} from './patch.js';
import {apiVersionOf, groupList, openApiDocument, openApiPaths, resourceList, resourcePath, SANDBOX_RESOURCES, storeName, type SandboxResource} from './resources.js';
import {PRIORITY_CLASSES, SYSTEM_PRIORITY_CLASSES} from './pod-admission.js';
import {fromProtobuf, PROTOBUF} from './protobuf.js';
import {syncQuotaStatus} from './quota.js';
import {type Attributes, authorize, BOOTSTRAP_POLICY, checkGrant, forbidden, impersonated, requestAttributes, selfSubjectAccessReview, selfSubjectRulesReview} from './rbac.js';
import {BadSelectorError, fieldSelector, labelSelector} from '../kube/selectors.js';
import {toTable} from './table.js';
import {ApiError, type NewObject, type StoredObject, type Store, type StoreEvent} from './store.js';
import {type Json, type JsonMap, isMap, map, now} from './json.js';

export const SANDBOX_VERSION = {major: '1', minor: '37', gitVersion: 'v1.37.0-sandbox', platform: 'linux/amd64'};
const BOOKMARK_EVERY_MS = 10_000;
const MAX_BODY = 16 * 1024 * 1024;


/** Who writes, and how: the field manager, a dry run, and the user (none for the cluster's own components). */
interface Write {
  manager: string;
  dryRun: boolean;
  user?: UserInfo;
}

interface Route {
  resource: SandboxResource;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function status(code: number, reason: string, message: string, details?: ApiError['details']): JsonMap {
  return {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? {details: details as Json} : {}), code};
}

/** Which served resource a path names, or undefined (a 404) for a path that names none. */
export function route(pathname: string, resources: SandboxResource[] = SANDBOX_RESOURCES): Route | undefined {
  const p = resourcePath(pathname);
  if (!p || p.extra) return undefined;
  const resource = resources.find((r) => r.group === p.group && r.version === p.version && r.resource === p.resource);
  if (!resource) return undefined;
  if (p.subresource && !resource.subresources?.includes(p.subresource)) return undefined;
  const name = p.name || undefined;
  const subresource = p.subresource || undefined;
  if (resource.namespaced) {
    // Across namespaces a resource is only listed or watched.
    if (!p.namespace && name) return undefined;
    return {resource, ...(p.namespace ? {namespace: p.namespace} : {}), name, subresource};
  }
  if (p.namespace && resource.resource !== 'namespaces') return undefined;
  return {resource, name, subresource};
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new ApiError(413, 'RequestEntityTooLarge', 'the request is too large'));
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The media type of a request's body, without its parameters. */
const mediaType = (req: http.IncomingMessage) => (req.headers['content-type'] ?? '').split(';')[0]!.trim();

const readText = async (req: http.IncomingMessage) => (await readBody(req)).toString('utf8');

/**
 * An object in a request body: JSON, or the protobuf kubectl's typed subcommands send for a few
 * kinds (client-go never falls back from protobuf). CBOR is a 415, which makes client-go send the
 * request again as JSON.
 */
async function readObject(req: http.IncomingMessage): Promise<Json> {
  if (mediaType(req) === PROTOBUF) return fromProtobuf(await readBody(req));
  requireJson(req);
  return parseJson(await readText(req));
}

/** Only JSON is read but for readObject's protobuf: CBOR, or protobuf for a patch, is a 415. */
function requireJson(req: http.IncomingMessage): void {
  const type = mediaType(req);
  if (type.includes('protobuf') || type.includes('cbor')) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  }
}

function parseJson(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the request body is not JSON: ${(err as Error).message}`);
  }
}

/** The fields a field selector compares, from an object. */
function fieldsOf(o: StoredObject): Record<string, string | undefined> {
  const get = (path: string): string | undefined => {
    let node: Json | undefined = o;
    for (const part of path.split('.')) node = isMap(node) ? node[part] : undefined;
    return node === undefined || node === null ? undefined : String(node);
  };
  const fields: Record<string, string | undefined> = {'metadata.name': o.metadata.name, 'metadata.namespace': o.metadata.namespace};
  for (const path of ['spec.nodeName', 'status.phase', 'spec.schedulerName', 'spec.unschedulable', 'type', 'reason', 'source', 'involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace', 'involvedObject.uid']) {
    fields[path] = get(path);
  }
  return fields;
}

function labelsOf(o: StoredObject): Record<string, string> {
  return (isMap(o.metadata.labels) ? o.metadata.labels : {}) as Record<string, string>;
}

/** metadata.managedFields, as the server keeps it, read back into who owns what. */
function ownershipOf(o: JsonMap | undefined): Ownership {
  const entries = o && isMap(o.metadata) && Array.isArray(o.metadata.managedFields) ? o.metadata.managedFields : [];
  const ownership: Ownership = {};
  for (const e of entries) {
    if (isMap(e) && typeof e.manager === 'string' && isMap(e.fieldsV1)) ownership[e.operation === 'Apply' ? e.manager : updateOwner(e.manager)] = fromFieldsV1(e.fieldsV1);
  }
  return ownership;
}

/** Who owns what, written as metadata.managedFields (one entry per manager and operation, the paths as keys). */
function withOwnership(o: JsonMap, ownership: Ownership): JsonMap {
  const time = now();
  const managedFields = Object.entries(ownership).map(([owner, paths]) => ({
    ...ownerEntry(owner),
    apiVersion: o.apiVersion ?? 'v1',
    time,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(paths),
  }));
  return {...o, metadata: {...(o.metadata as JsonMap), managedFields: managedFields as Json}};
}

export interface ApiServerOptions {
  /** Where each request is recorded, as the API server's audit log. */
  audit?: AuditLog;
  /** The API it serves; a cluster without KubeRay serves no ray.io. */
  resources?: SandboxResource[];
}

export class SandboxApiServer {
  private server?: http.Server;
  private readonly watches = new Set<http.ServerResponse>();
  private readonly resources: SandboxResource[];
  /** Outlives a restart of the server, as a cluster's signing key does. */
  private readonly tokens: ServiceAccountTokens;

  constructor(
    readonly store: Store,
    private readonly options: ApiServerOptions,
  ) {
    this.resources = options.resources ?? SANDBOX_RESOURCES;
    this.tokens = new ServiceAccountTokens(store);
    // The API server writes its own default policy, as a real one's bootstrap does.
    for (const {resource, object} of BOOTSTRAP_POLICY) {
      if (!this.store.get({resource, name: String(map(object.metadata).name)})) this.createAs('kube-apiserver', resource, object);
    }
    // And the system's PriorityClasses, as its scheduling bootstrap hook does.
    if (this.resources.some((r) => storeName(r) === PRIORITY_CLASSES)) {
      for (const object of SYSTEM_PRIORITY_CLASSES) {
        if (!this.store.get({resource: PRIORITY_CLASSES, name: String(map(object.metadata).name)})) this.createAs('kube-apiserver', PRIORITY_CLASSES, object);
      }
    }
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  async listen(port = 0): Promise<number> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const res of this.watches) res.end();
    const server = this.server;
    if (!server) return;
    // Stop listening, and drop every connection now: keep-alive clients would hold the close open.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    this.server = undefined;
  }

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)});
    res.end(text);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const startedAt = Date.now();
    let code = 200;
    let requester: UserInfo | undefined;
    let user: UserInfo | undefined;
    let asked: Attributes | undefined;
    try {
      requester = this.tokens.authenticate(req.headers.authorization);
      asked = requestAttributes(req.method ?? 'GET', url);
      user = impersonated(this.store, requester, req.headersDistinct);
      if (!authorize(this.store, user, asked).allowed) throw forbidden(user, asked);
      code = await this.serve(req, res, url, user);
    } catch (thrown) {
      const err = toApiError(thrown);
      code = err.code;
      if (!res.headersSent) this.send(res, err.code, status(err.code, err.reason, err.message, err.details));
      else res.end();
    } finally {
      this.options.audit?.request({method: req.method ?? 'GET', url, attributes: asked, userAgent: req.headers['user-agent'], user: requester, ...(user !== requester ? {impersonatedUser: user} : {}), code, startedAt});
    }
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL, user: UserInfo): Promise<number> {
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (method === 'GET') {
      const fixed = this.discovery(path);
      if (fixed !== undefined) {
        this.send(res, 200, fixed);
        return 200;
      }
    }
    const r = route(path, this.resources);
    if (!r) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const q = url.searchParams;
    const write: Write = {manager: q.get('fieldManager') ?? userAgentManager(req.headers['user-agent']), dryRun: q.get('dryRun') === 'All', user};
    if (r.resource.createOnly) {
      if (method !== 'POST' || r.name) throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      const body = await readObject(req);
      const answer = {
        SelfSubjectAccessReview: () => selfSubjectAccessReview(this.store, user, body),
        SelfSubjectRulesReview: () => selfSubjectRulesReview(this.store, user, body),
        SelfSubjectReview: () => selfSubjectReview(user),
      }[r.resource.kind];
      if (!answer) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      this.send(res, 201, answer());
      return 201;
    }
    if (r.namespace !== undefined && method === 'POST' && !r.name) this.requireNamespace(r.namespace, true);
    switch (method) {
      case 'GET': {
        // kubectl get asks for a Table; watches stay plain events.
        const table = (req.headers.accept ?? '').includes('as=Table') && !r.subresource;
        const includeObject = q.get('includeObject') === 'Object';
        if (!r.name) {
          if (q.get('watch') === 'true' || q.get('watch') === '1') {
            this.watch(r, q, res);
            return 200;
          }
          const found = this.list(r, q) as {metadata: {resourceVersion: string; continue?: string}; items: StoredObject[]};
          this.send(res, 200, table ? {...toTable(r.resource, found.items, found.metadata.resourceVersion, includeObject), metadata: found.metadata as Json} : found);
          return 200;
        }
        const one = this.get(r);
        this.send(res, 200, table ? toTable(r.resource, [one], one.metadata.resourceVersion, includeObject) : one);
        return 200;
      }
      case 'POST': {
        const body = await readObject(req);
        if (r.subresource === 'binding') {
          this.send(res, 201, this.bind(r, body));
          return 201;
        }
        if (r.subresource === 'token' && r.resource.kind === 'ServiceAccount') {
          this.send(res, 201, this.tokens.issue(this.get({...r, subresource: undefined}), isMap(body) ? body : {}));
          return 201;
        }
        if (r.name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        this.send(res, 201, this.create(r, body, write));
        return 201;
      }
      case 'PUT': {
        const body = await readObject(req);
        this.send(res, 200, this.replace(r, body, write));
        return 200;
      }
      case 'PATCH': {
        requireJson(req);
        const body = await readText(req);
        const type = mediaType(req);
        const force = q.get('force') === 'true';
        const {object, created} = this.patch(r, type, body, force, write);
        this.send(res, created ? 201 : 200, object);
        return created ? 201 : 200;
      }
      case 'DELETE': {
        requireJson(req);
        const text = await readText(req);
        const options = text.trim() ? parseJson(text) : {};
        this.send(res, 200, this.remove(r, isMap(options) ? options : {}, write.dryRun));
        return 200;
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  private discovery(path: string): unknown {
    if (path === '/version') return SANDBOX_VERSION;
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return 'ok';
    if (path === '/api') return {kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1'}]};
    if (path === '/apis') return groupList(this.resources);
    if (path === '/api/v1') return resourceList('', 'v1', this.resources);
    if (path === '/openapi/v3') return openApiPaths(this.resources);
    const spec = /^\/openapi\/v3\/(?:api|apis\/([^/]+))\/([^/]+)$/.exec(path);
    if (spec && this.resources.some((r) => r.group === (spec[1] ?? '') && r.version === spec[2])) return openApiDocument(spec[1] ?? '', spec[2]!, this.resources);
    const gv = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (gv && this.resources.some((r) => r.group === gv[1] && r.version === gv[2])) return resourceList(gv[1]!, gv[2]!, this.resources);
    return undefined;
  }

  private requireNamespace(namespace: string, forCreate: boolean): void {
    const ns = this.store.get({resource: 'namespaces', name: namespace});
    if (!ns) throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, {name: namespace, kind: 'namespaces'});
    if (forCreate && ns.metadata.deletionTimestamp !== undefined) {
      throw new ApiError(403, 'Forbidden', `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private key(r: Route): {resource: string; namespace?: string; name: string} {
    return {resource: storeName(r.resource), namespace: r.resource.namespaced ? r.namespace : undefined, name: r.name!};
  }

  private get(r: Route): StoredObject {
    const found = this.store.get(this.key(r));
    if (!found) throw new ApiError(404, 'NotFound', `${r.resource.resource}${r.resource.group ? `.${r.resource.group}` : ''} "${r.name}" not found`, {name: r.name, group: r.resource.group, kind: r.resource.resource});
    return found;
  }

  private matcher(r: Route, q: URLSearchParams): (o: StoredObject) => boolean {
    try {
      const labels = labelSelector(q.get('labelSelector') ?? undefined);
      const fields = fieldSelector(q.get('fieldSelector') ?? undefined, ['metadata.name', 'metadata.namespace', ...(r.resource.fields ?? [])]);
      return (o) => labels(labelsOf(o)) && fields(fieldsOf(o));
    } catch (err) {
      if (err instanceof BadSelectorError) throw new ApiError(400, 'BadRequest', err.message);
      throw err;
    }
  }

  private list(r: Route, q: URLSearchParams): unknown {
    const matches = this.matcher(r, q);
    let items = this.store.list(storeName(r.resource), r.resource.namespaced ? r.namespace : undefined).filter(matches);
    const revision = String(this.store.currentRevision);
    const limit = Number(q.get('limit') ?? 0);
    const after = q.get('continue');
    if (after) {
      let token: {key: string; rv: string};
      try {
        token = JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as {key: string; rv: string};
      } catch {
        throw new ApiError(400, 'BadRequest', 'the continue token is not valid');
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > token.key);
    }
    let next: string | undefined;
    let remaining: number | undefined;
    if (limit > 0 && items.length > limit) {
      remaining = items.length - limit;
      items = items.slice(0, limit);
      const last = items.at(-1)!;
      next = Buffer.from(JSON.stringify({key: `${last.metadata.namespace ?? ''}/${last.metadata.name}`, rv: revision})).toString('base64url');
    }
    return {
      kind: `${r.resource.kind}List`,
      apiVersion: apiVersionOf(r.resource),
      metadata: {resourceVersion: revision, ...(next ? {continue: next, remainingItemCount: remaining} : {})},
      items,
    };
  }

  private watch(r: Route, q: URLSearchParams, res: http.ServerResponse): void {
    const matches = this.matcher(r, q);
    const resource = storeName(r.resource);
    const namespace = r.resource.namespaced ? r.namespace : undefined;
    const rvParam = q.get('resourceVersion');
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0);
    const inScope = (o: StoredObject) => namespace === undefined || o.metadata.namespace === namespace;
    let from: number;
    const initial: StoredObject[] = [];
    if (!rvParam || rvParam === '0') {
      // No version: the current state as ADDED events, then what changes.
      from = this.store.currentRevision;
      initial.push(...this.store.list(resource, namespace).filter(matches));
    } else {
      from = Number(rvParam);
      if (!Number.isInteger(from)) throw new ApiError(400, 'BadRequest', `invalid resource version "${rvParam}"`);
    }
    const write = (type: string, object: unknown) => res.write(`${JSON.stringify({type, object})}\n`);
    const onEvent = (event: StoreEvent) => {
      if (event.resource !== resource || !inScope(event.object)) return;
      const now = matches(event.object);
      // As the real server's watch cache does: an object that comes into or leaves the selection is
      // ADDED or DELETED for this watch, whatever the write was.
      const was = event.previous ? matches(event.previous) : now;
      if (now) write(event.type === 'MODIFIED' && !was ? 'ADDED' : event.type, event.object);
      else if (was && event.type === 'MODIFIED') write('DELETED', event.object);
    };
    // Throws a 410 before anything is written when the version is too old.
    let stop: () => void = () => undefined;
    const pending: StoreEvent[] = [];
    stop = this.store.watch(from, (event) => pending.push(event));
    res.writeHead(200, {'content-type': 'application/json', 'transfer-encoding': 'chunked'});
    // As the real server's watch does: the status goes out at once, before any event.
    res.flushHeaders();
    this.watches.add(res);
    for (const o of initial) write('ADDED', o);
    for (const event of pending.splice(0)) onEvent(event);
    stop();
    stop = this.store.watch(this.store.currentRevision, onEvent);
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks) {
      timers.push(
        setInterval(() => write('BOOKMARK', {kind: r.resource.kind, apiVersion: apiVersionOf(r.resource), metadata: {resourceVersion: String(this.store.currentRevision)}}), BOOKMARK_EVERY_MS),
      );
    }
    const end = () => {
      stop();
      for (const t of timers) clearInterval(t);
      this.watches.delete(res);
      res.end();
    };
    if (timeoutSeconds > 0) timers.push(setTimeout(end, timeoutSeconds * 1000));
    res.on('close', end);
  }

  /**
   * Creates an object as a component in the cluster does, through the API: generateName, admission
   * and field ownership, as for a request. `resource` is the store's name (pods, rayclusters.ray.io).
   */
  createAs(manager: string, resource: string, object: JsonMap): StoredObject {
    const type = this.resources.find((r) => storeName(r) === resource);
    if (!type) throw new Error(`the sandbox does not serve ${resource}`);
    const namespace = isMap(object.metadata) && typeof object.metadata.namespace === 'string' ? object.metadata.namespace : undefined;
    if (type.namespaced) this.requireNamespace(namespace ?? '', true);
    return this.create({resource: type, ...(type.namespaced ? {namespace} : {})}, object, {manager, dryRun: false});
  }

  private create(r: Route, body: Json, {manager, dryRun, user}: Write): StoredObject {
    if (!isMap(body) || !isMap(body.metadata)) throw new ApiError(400, 'BadRequest', 'the object has no metadata');
    const object = structuredClone(body) as NewObject;
    object.apiVersion ??= apiVersionOf(r.resource);
    object.kind ??= r.resource.kind;
    if (object.kind !== r.resource.kind) throw new ApiError(400, 'BadRequest', `the object is a ${object.kind}, and this is the ${r.resource.resource} endpoint`);
    if (r.resource.namespaced) {
      if (object.metadata.namespace !== undefined && object.metadata.namespace !== r.namespace) {
        throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      object.metadata.namespace = r.namespace;
    }
    delete object.metadata.resourceVersion;
    delete object.metadata.uid;
    delete object.metadata.deletionTimestamp;
    const admitted = admit(r.resource, object, this.store);
    if (user) checkGrant(this.store, user, admitted);
    const owned = withOwnership(admitted, recordUpdate({}, admitted, updateOwner(manager), {})) as NewObject;
    if (dryRun) return {...owned, metadata: {...owned.metadata, uid: 'dry-run', resourceVersion: '', creationTimestamp: new Date().toISOString()}} as StoredObject;
    const created = this.store.create(storeName(r.resource), owned);
    this.afterWrite(r.resource, created.metadata.namespace);
    return created;
  }

  /**
   * What a write sets going besides itself: quota usage, which the ResourceQuota plugin adds to at
   * once and the quota controller recounts; both are done here, before the response.
   */
  private afterWrite(resource: SandboxResource, namespace: string | undefined): void {
    if (resource.kind !== 'Pod' && resource.kind !== 'ResourceQuota') return;
    this.store.as(`kube-apiserver/${SANDBOX_VERSION.gitVersion}`, () => syncQuotaStatus(this.store, namespace));
  }

  /** What an update may change: only status through /status, and not status through the object itself. */
  private merged(r: Route, live: StoredObject, next: JsonMap): JsonMap {
    const hasStatus = r.resource.subresources?.includes('status');
    // A resourceVersion the request names is its precondition, through /status as anywhere.
    if (r.subresource === 'status') return {...live, status: next.status ?? null, metadata: {...live.metadata, ...(isMap(next.metadata) ? {labels: next.metadata.labels ?? live.metadata.labels ?? null, annotations: next.metadata.annotations ?? live.metadata.annotations ?? null, ...(next.metadata.resourceVersion !== undefined ? {resourceVersion: next.metadata.resourceVersion} : {})} : {})}};
    if (hasStatus && live.status !== undefined) return {...next, status: live.status};
    return next;
  }

  private commit(r: Route, live: StoredObject, next: JsonMap, {manager, dryRun, user}: Write, ownership?: Ownership): StoredObject {
    const candidate = withFieldDefaults(r.resource, this.merged(r, live, next)) as StoredObject;
    candidate.metadata = {...candidate.metadata, name: live.metadata.name, namespace: live.metadata.namespace, uid: live.metadata.uid, creationTimestamp: live.metadata.creationTimestamp} as StoredObject['metadata'];
    if (live.metadata.namespace === undefined) delete candidate.metadata.namespace;
    checkUpdate(r.resource, live, candidate, this.store);
    if (user) checkGrant(this.store, user, candidate);
    const owners = ownership ?? recordUpdate(live, candidate, updateOwner(manager), ownershipOf(live));
    const owned = withOwnership(candidate, owners) as StoredObject;
    if (dryRun) return owned;
    const updated = this.store.update(storeName(r.resource), owned);
    this.afterWrite(r.resource, live.metadata.namespace);
    return updated;
  }

  private replace(r: Route, body: Json, write: Write): StoredObject {
    if (!isMap(body) || !isMap(body.metadata)) throw new ApiError(400, 'BadRequest', 'the object has no metadata');
    if (body.metadata.name !== r.name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const live = this.get(r);
    return this.commit(r, live, body, write);
  }

  private patch(r: Route, type: string, text: string, force: boolean, write: Write): {object: StoredObject; created: boolean} {
    const existing = this.store.get(this.key(r));
    try {
      if (type === 'application/apply-patch+yaml' || type === 'application/apply-patch+json') {
        // JSON is YAML: the tool sends JSON; a YAML body is the one thing not taken here.
        const config = parseJson(text);
        if (!isMap(config)) throw new ApiError(400, 'BadRequest', 'an apply configuration is an object');
        if (q(config, 'metadata', 'name') !== r.name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
        const {object, ownership} = serverSideApply(existing, config, write.manager, ownershipOf(existing), force);
        if (!existing) {
          if (r.resource.namespaced) this.requireNamespace(r.namespace!, true);
          const created = this.create(r, withOwnership(object, {}), write);
          if (write.dryRun) return {object: created, created: true};
          return {object: this.store.update(storeName(r.resource), withOwnership(created, ownership) as StoredObject), created: true};
        }
        return {object: this.commit(r, existing, object, write, ownership), created: false};
      }
      const live = existing ?? this.get(r);
      const patch = parseJson(text);
      let next: Json;
      if (type === 'application/merge-patch+json') next = mergePatch(live, patch);
      else if (type === 'application/json-patch+json') next = jsonPatch(live, patch);
      else if (type === 'application/strategic-merge-patch+json') next = strategicMergePatch(live, patch);
      else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
      if (!isMap(next)) throw new ApiError(422, 'Invalid', 'the patched object is not an object');
      return {object: this.commit(r, live, next, write), created: false};
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(err.status, err.status === 409 ? 'Conflict' : err.status === 400 ? 'BadRequest' : 'Invalid', err.message);
      throw err;
    }
  }

  private bind(r: Route, body: Json): unknown {
    const live = this.get(r);
    const target = isMap(body) && isMap(body.target) ? body.target.name : undefined;
    if (typeof target !== 'string') throw new ApiError(400, 'BadRequest', 'a Binding needs target.name');
    if (isMap(live.spec) && live.spec.nodeName) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${r.name}": pod ${r.name} is already assigned to node "${String(live.spec.nodeName)}"`);
    }
    this.store.update(storeName(r.resource), {...live, spec: {...(live.spec as JsonMap), nodeName: target}});
    return {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201};
  }

  private remove(r: Route, options: JsonMap, dryRun: boolean): unknown {
    const live = this.get(r);
    const pre = isMap(options.preconditions) ? options.preconditions : {};
    const graceful = r.resource.resource === 'pods' && isMap(live.spec) && Boolean(live.spec.nodeName) && options.gracePeriodSeconds !== 0;
    checkDelete(r.resource, live);
    if (dryRun) return live;
    const policy = options.propagationPolicy;
    const result = this.store.delete(this.key(r), {uid: pre.uid as string | undefined, resourceVersion: pre.resourceVersion as string | undefined, graceful: graceful || r.resource.resource === 'namespaces'});
    if (policy === 'Orphan') this.orphanDependents(live);
    this.afterWrite(r.resource, live.metadata.namespace);
    return result;
  }

  private orphanDependents(owner: StoredObject): void {
    for (const resource of this.resources) {
      for (const o of this.store.list(storeName(resource), owner.metadata.namespace)) {
        const refs = Array.isArray(o.metadata.ownerReferences) ? o.metadata.ownerReferences : [];
        if (!refs.some((ref) => isMap(ref) && ref.uid === owner.metadata.uid)) continue;
        this.store.update(storeName(resource), {...o, metadata: {...o.metadata, ownerReferences: refs.filter((ref) => !(isMap(ref) && ref.uid === owner.metadata.uid))}});
      }
    }
  }
}

function q(o: JsonMap, ...path: string[]): Json | undefined {
  let node: Json | undefined = o;
  for (const part of path) node = isMap(node) ? node[part] : undefined;
  return node;
}

/** kubectl and client-go name the field manager after the program, as the API server does. */
function userAgentManager(userAgent: string | undefined): string {
  return (userAgent ?? 'unknown').split('/')[0] || 'unknown';
}

function toApiError(thrown: unknown): ApiError {
  if (thrown instanceof ApiError) return thrown;
  if (thrown instanceof PatchError) return new ApiError(thrown.status, 'Invalid', thrown.message);
  return new ApiError(500, 'InternalError', `an error on the server ("${(thrown as Error).message}") has prevented the request from succeeding`);
}
