import type {KubeObject} from '../kube/types.js';

/** `live` holds `desired` when every value desired names is there, equal; live may hold more (defaults). */
function contains(live: unknown, desired: unknown): boolean {
  if (desired === null || typeof desired !== 'object') return live === desired;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((item, i) => contains(live[i], item));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  return Object.entries(desired).every(([key, value]) => contains((live as Record<string, unknown>)[key], value));
}

/** A Secret's stringData is stored base64-encoded in data; compare it the way the server keeps it. */
function asStored(obj: KubeObject): KubeObject {
  if (obj.kind !== 'Secret' || !obj.stringData || typeof obj.stringData !== 'object') return obj;
  const {stringData, ...rest} = obj;
  const data: Record<string, unknown> = {...(rest.data as Record<string, unknown> | undefined)};
  for (const [key, value] of Object.entries(stringData as Record<string, string>)) data[key] = Buffer.from(String(value)).toString('base64');
  return {...rest, data};
}

/**
 * Whether applying `desired` over `live` would change nothing: labels, annotations and owners it
 * sets are there, and every other field it names (spec, data, ...) holds the same values. Status and the
 * server's own metadata are not compared.
 */
export function isUpToDate(live: KubeObject | undefined, desired: KubeObject): boolean {
  if (!live) return false;
  const {metadata, ...fields} = asStored(desired);
  for (const key of ['status', 'apiVersion', 'kind']) delete fields[key];
  const owners = live.metadata?.ownerReferences ?? [];
  return (
    contains(live.metadata?.labels ?? {}, metadata?.labels ?? {}) &&
    contains(live.metadata?.annotations ?? {}, metadata?.annotations ?? {}) &&
    (metadata?.ownerReferences ?? []).every((ref) => owners.some((o) => o.uid === ref.uid)) &&
    contains(live, fields)
  );
}
