/**
 * The patch types the API server takes: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
 * merge patch (merge, with lists of named things merged by key and the directives clients send), and
 * server-side apply with field ownership. Pure: each takes the live object and returns the new one.
 */
import {isMap, type Json, type JsonMap} from './json.js';

export class PatchError extends Error {
  override readonly name = 'PatchError';
  constructor(
    message: string,
    /** The HTTP status the server answers with: 422 for a patch that cannot apply, 409 for a failed test or a conflict. */
    readonly status: 400 | 409 | 422 = 422,
  ) {
    super(message);
  }
}

const clone = <T>(v: T): T => structuredClone(v);

/** RFC 7386: maps merge, null deletes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isMap(patch)) return clone(patch);
  const result: JsonMap = isMap(target) ? {...target} : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`the JSON pointer "${path}" does not start with "/"`, 400);
  return path.slice(1).split('/').map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function parentOf(doc: Json, parts: string[], op: string): {parent: JsonMap | Json[]; key: string} {
  let node: Json = doc;
  for (const part of parts.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(node) ? node[Number(part)] : isMap(node) ? node[part] : undefined;
    if (next === undefined || next === null || typeof next !== 'object') throw new PatchError(`${op}: the path to "/${parts.join('/')}" does not exist`);
    node = next;
  }
  if (node === null || typeof node !== 'object') throw new PatchError(`${op}: "/${parts.join('/')}" has no parent object`);
  return {parent: node, key: parts.at(-1)!};
}

function read(doc: Json, path: string, op: string): Json {
  let node: Json = doc;
  for (const part of pointer(path)) {
    const next: Json | undefined = Array.isArray(node) ? node[Number(part)] : isMap(node) ? node[part] : undefined;
    if (next === undefined) throw new PatchError(`${op}: "${path}" does not exist`);
    node = next;
  }
  return node;
}

function arrayIndex(list: Json[], key: string, op: string, forInsert: boolean): number {
  if (key === '-' && forInsert) return list.length;
  const index = Number(key);
  if (!/^\d+$/.test(key) || index > list.length || (!forInsert && index === list.length)) throw new PatchError(`${op}: index ${key} is out of range`);
  return index;
}

function remove(doc: Json, path: string, op: string): Json {
  const parts = pointer(path);
  const {parent, key} = parentOf(doc, parts, op);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, op, false), 1)[0]!;
  if (!(key in parent)) throw new PatchError(`${op}: "${path}" does not exist`);
  const value = parent[key]!;
  delete parent[key];
  return value;
}

function add(doc: Json, path: string, value: Json, op: string): Json {
  const parts = pointer(path);
  if (parts.length === 0) return value;
  const {parent, key} = parentOf(doc, parts, op);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, op, true), 0, value);
  else parent[key] = value;
  return doc;
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical);
  if (isMap(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k]!)]));
  return v;
}

/** RFC 6902, all or nothing: a failed test is a 409 Conflict, as the API server answers it. */
export function jsonPatch(target: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch is a list of operations', 400);
  let doc = clone(target);
  for (const raw of operations) {
    if (!isMap(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new PatchError('each JSON patch operation needs op and path', 400);
    const {op, path} = raw;
    switch (op) {
      case 'add':
        doc = add(doc, path, clone(raw.value ?? null), op);
        break;
      case 'remove':
        remove(doc, path, op);
        break;
      case 'replace':
        read(doc, path, op);
        if (pointer(path).length === 0) doc = clone(raw.value ?? null);
        else {
          remove(doc, path, op);
          doc = add(doc, path, clone(raw.value ?? null), op);
        }
        break;
      case 'move': {
        if (typeof raw.from !== 'string') throw new PatchError('move needs from', 400);
        const value = remove(doc, raw.from, op);
        doc = add(doc, path, value, op);
        break;
      }
      case 'copy':
        if (typeof raw.from !== 'string') throw new PatchError('copy needs from', 400);
        doc = add(doc, path, clone(read(doc, raw.from, op)), op);
        break;
      case 'test':
        if (!deepEqual(read(doc, path, op), raw.value ?? null)) throw new PatchError(`testing value ${path} failed`, 409);
        break;
      default:
        throw new PatchError(`unknown JSON patch operation "${op}"`, 400);
    }
  }
  return doc;
}

/**
 * The lists a strategic merge patch merges item by item, by this key. Other lists are replaced,
 * as the API's patch strategies say for the fields clients of these kinds patch.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  env: 'name',
  ports: 'containerPort',
  ownerReferences: 'uid',
  conditions: 'type',
  tolerations: 'key',
  imagePullSecrets: 'name',
};
/** Lists of plain values that a strategic merge patch merges as sets. */
const SET_LISTS = new Set(['finalizers']);

/** A strategic merge patch: RFC 7386, plus keyed lists and the $patch / $deleteFromPrimitiveList directives. */
export function strategicMergePatch(target: Json, patch: Json, field = ''): Json {
  if (!isMap(patch)) {
    if (Array.isArray(patch) && Array.isArray(target) && MERGE_KEYS[field]) return mergeKeyedList(target, patch, MERGE_KEYS[field]);
    if (Array.isArray(patch) && Array.isArray(target) && SET_LISTS.has(field)) return [...new Set([...target, ...patch])];
    return clone(patch);
  }
  if (patch.$patch === 'replace') {
    const {$patch: _replace, ...rest} = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return null;
  const result: JsonMap = isMap(target) ? {...target} : {};
  for (const [key, value] of Object.entries(patch)) {
    const directive = /^\$deleteFromPrimitiveList\/(.+)$/.exec(key);
    if (directive) {
      const list = result[directive[1]!];
      if (Array.isArray(list) && Array.isArray(value)) result[directive[1]!] = list.filter((item) => !value.some((v) => deepEqual(v, item)));
      continue;
    }
    if (key.startsWith('$')) continue;
    if (value === null) delete result[key];
    else result[key] = strategicMergePatch(result[key] ?? null, value, key);
  }
  return result;
}

function mergeKeyedList(target: Json[], patch: Json[], key: string): Json[] {
  const result = [...target];
  for (const item of patch) {
    if (!isMap(item)) {
      result.push(clone(item));
      continue;
    }
    const at = result.findIndex((existing) => isMap(existing) && existing[key] === item[key]);
    if (item.$patch === 'delete') {
      if (at >= 0) result.splice(at, 1);
    } else if (at >= 0) {
      result[at] = strategicMergePatch(result[at]!, item);
    } else {
      result.push(strategicMergePatch(null, item));
    }
  }
  return result;
}

/**
 * A managed field: the keys from the object's root, JSON-encoded so that keys holding dots or slashes
 * (annotation keys) stay whole. Lists are owned whole (atomic).
 */
type FieldPath = string;
const encode = (keys: string[]): FieldPath => JSON.stringify(keys);
const decode = (path: FieldPath): string[] => JSON.parse(path) as string[];

/** The leaf fields a configuration sets: the fields its manager will own. */
export function fieldPaths(config: Json, prefix: string[] = []): FieldPath[] {
  // An empty map is a value of its own ({} set on purpose), as a leaf is.
  if (!isMap(config) || (prefix.length > 0 && Object.keys(config).length === 0)) return [encode(prefix)];
  const paths: FieldPath[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (prefix.length === 0 && (key === 'apiVersion' || key === 'kind')) continue;
    if (prefix.length === 0 && key === 'metadata' && isMap(value)) {
      // Of the metadata, only labels, annotations, finalizers and ownerReferences are managed.
      for (const managed of ['labels', 'annotations']) {
        const map = value[managed];
        if (isMap(map)) for (const k of Object.keys(map)) paths.push(encode(['metadata', managed, k]));
      }
      for (const managed of ['finalizers', 'ownerReferences']) if (value[managed] !== undefined) paths.push(encode(['metadata', managed]));
      continue;
    }
    paths.push(...fieldPaths(value, [...prefix, key]));
  }
  return paths;
}

function valueAt(obj: Json, path: FieldPath): Json | undefined {
  let node: Json | undefined = obj;
  for (const part of decode(path)) {
    if (!isMap(node)) return undefined;
    node = node[part];
  }
  return node;
}

function setAt(obj: JsonMap, path: FieldPath, value: Json): void {
  const parts = decode(path);
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isMap(node[part])) node[part] = {};
    node = node[part] as JsonMap;
  }
  node[parts.at(-1)!] = clone(value);
}

function removeAt(obj: JsonMap, path: FieldPath): void {
  const parts = decode(path);
  const trail: JsonMap[] = [obj];
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isMap(node[part])) return;
    node = node[part] as JsonMap;
    trail.push(node);
  }
  delete node[parts.at(-1)!];
  // Maps left empty by the removal go too, as the server prunes them.
  for (let i = trail.length - 1; i > 0; i--) {
    if (Object.keys(trail[i]!).length > 0) break;
    delete trail[i - 1]![parts[i - 1]!];
  }
}

/** Field paths as managedFields writes them: FieldsV1, a tree of "f:<key>" with {} at the leaves. */
export function toFieldsV1(paths: FieldPath[]): JsonMap {
  const tree: JsonMap = {};
  for (const path of paths) {
    let node = tree;
    for (const key of decode(path)) {
      const k = `f:${key}`;
      if (!isMap(node[k])) node[k] = {};
      node = node[k] as JsonMap;
    }
  }
  return tree;
}

/** The leaf paths of a FieldsV1 tree. */
export function fromFieldsV1(tree: Json, prefix: string[] = []): FieldPath[] {
  if (!isMap(tree)) return [];
  const keys = Object.keys(tree).filter((k) => k.startsWith('f:'));
  if (keys.length === 0) return prefix.length > 0 ? [encode(prefix)] : [];
  return keys.flatMap((k) => fromFieldsV1(tree[k]!, [...prefix, k.slice(2)]));
}

/**
 * Who owns which fields: owner -> field paths. Kept on the object as metadata.managedFields. An
 * owner is a manager and an operation, as the real server keys its entries: a manager that applies
 * and also updates (patches) owns through two entries, and its apply conflicts with its own update.
 */
export type Ownership = Record<string, FieldPath[]>;

const UPDATE_SUFFIX = '\u0000Update';

/** The owner that `manager`'s updates (create, replace, patch) own through; its applies own as `manager`. */
export function updateOwner(manager: string): string {
  return `${manager}${UPDATE_SUFFIX}`;
}

/** An owner as managedFields writes it. */
export function ownerEntry(owner: string): {manager: string; operation: 'Apply' | 'Update'} {
  return owner.endsWith(UPDATE_SUFFIX) ? {manager: owner.slice(0, -UPDATE_SUFFIX.length), operation: 'Update'} : {manager: owner, operation: 'Apply'};
}

export interface ApplyResult {
  object: JsonMap;
  ownership: Ownership;
}

/**
 * Server-side apply of `config` by `manager`: it takes the fields it sets, gives up (and removes)
 * the ones it set before and no longer sets, unless another manager owns them too. A field another
 * manager owns with a different value is a conflict (409) unless `force`, which takes it over.
 */
export function serverSideApply(live: JsonMap | undefined, config: JsonMap, manager: string, ownership: Ownership, force: boolean): ApplyResult {
  // A new object takes its identity from the configuration; identity is not a managed field.
  const meta = isMap(config.metadata) ? config.metadata : {};
  const object: JsonMap = live ? clone(live) : {metadata: {name: meta.name ?? null, ...(meta.namespace !== undefined ? {namespace: meta.namespace} : {})}};
  const owned = fieldPaths(config);
  const conflicts: string[] = [];
  for (const path of owned) {
    for (const [other, paths] of Object.entries(ownership)) {
      if (other === manager || !paths.includes(path)) continue;
      // In the real server's words: conflict with "kubectl" using v1: .data.a
      if (!deepEqual(valueAt(object, path) ?? null, valueAt(config, path) ?? null)) conflicts.push(`conflict with "${ownerEntry(other).manager}" using ${String(config.apiVersion ?? 'v1')}: .${decode(path).join('.')}`);
    }
  }
  if (conflicts.length > 0 && !force) {
    throw new PatchError(`Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${conflicts.join(', ')}`, 409);
  }
  const next: Ownership = {};
  for (const [other, paths] of Object.entries(ownership)) {
    if (other === manager) continue;
    // A forced apply takes the conflicting fields away from their other owners.
    const kept = force ? paths.filter((p) => !owned.includes(p) || deepEqual(valueAt(object, p) ?? null, valueAt(config, p) ?? null)) : paths;
    if (kept.length > 0) next[other] = kept;
  }
  for (const dropped of (ownership[manager] ?? []).filter((p) => !owned.includes(p))) {
    if (!Object.values(next).some((paths) => paths.includes(dropped))) removeAt(object, dropped);
  }
  for (const path of owned) setAt(object, path, valueAt(config, path) ?? null);
  for (const key of ['apiVersion', 'kind']) if (config[key] !== undefined) object[key] = config[key]!;
  next[manager] = owned;
  return {object, ownership: next};
}

/** What an update (create, replace, patch) by `manager` changed, now owned by it. */
export function recordUpdate(before: Json, after: Json, manager: string, ownership: Ownership): Ownership {
  const beforePaths = new Set(fieldPaths(before ?? {}));
  const changed = fieldPaths(after).filter((p) => !beforePaths.has(p) || !deepEqual(valueAt(before, p) ?? null, valueAt(after, p) ?? null));
  const gone = [...beforePaths].filter((p) => valueAt(after, p) === undefined);
  const next: Ownership = {};
  for (const [other, paths] of Object.entries(ownership)) {
    // A field someone else changed is theirs now; a field that is gone is no one's.
    const kept = other === manager ? paths : paths.filter((p) => !changed.includes(p));
    const left = kept.filter((p) => !gone.includes(p));
    if (left.length > 0) next[other] = left;
  }
  next[manager] = [...new Set([...(next[manager] ?? []), ...changed])];
  if (next[manager]!.length === 0) delete next[manager];
  return next;
}
