/**
 * ResourceQuota for pods, as the API server's ResourceQuota admission plugin and the controller
 * manager's resource quota controller enforce and count it, for the compute resources a Ray worker
 * asks for: pods, cpu, memory, requests.cpu, requests.memory, limits.cpu and limits.memory. Quota
 * scopes (Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass) narrow which pods
 * a quota counts. Other resource names in spec.hard are kept in status.hard and neither counted
 * nor enforced.
 */
import {isMap, list, map, type Json, type JsonMap} from './json.js';
import {forbiddenBy} from './pod-admission.js';
import {add, compare, formatList, formatQuantity, parseList, zero, type Quantity} from './quantity.js';
import {ApiError, type NewObject, type Store, type StoredObject} from './store.js';

export const RESOURCE_QUOTAS = 'resourcequotas';

type ResourceList = Record<string, Quantity>;

/** The resource names counted here, as the pod evaluator names them. */
const COUNTED = ['pods', 'cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'];
/**
 * Quota on these makes every container say them, or the pod is refused: a compatibility rule the
 * pod evaluator keeps (its "validationSet"), which a Ray worker without requests runs into.
 */
const MUST_SPECIFY = new Set(['cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']);

/** addResourceList: a name new to `into` is copied, a known one summed (keeping its format). */
function addList(into: ResourceList, more: ResourceList): ResourceList {
  const out = {...into};
  for (const [k, q] of Object.entries(more)) out[k] = out[k] ? add(out[k], q) : q;
  return out;
}

/** maxResourceList: the larger of each, the first on a tie. */
function maxList(into: ResourceList, more: ResourceList): ResourceList {
  const out = {...into};
  for (const [k, q] of Object.entries(more)) if (!out[k] || compare(q, out[k]) > 0) out[k] = q;
  return out;
}

const containerList = (c: Json, field: 'requests' | 'limits'): ResourceList => parseList(map(map(map(c).resources)[field]));

/**
 * resourcehelper.PodRequests and PodLimits: the containers' sum, or more while an init container
 * runs beside the sidecars started before it; the RuntimeClass overhead on top (on limits, only
 * where the containers set a limit).
 */
export function podTotal(pod: JsonMap, field: 'requests' | 'limits'): ResourceList {
  const spec = map(pod.spec);
  let total: ResourceList = {};
  for (const c of list(spec.containers)) total = addList(total, containerList(c, field));
  let sidecars: ResourceList = {};
  let init: ResourceList = {};
  for (const c of list(spec.initContainers)) {
    const own = containerList(c, field);
    if (map(c).restartPolicy === 'Always') {
      total = addList(total, own);
      sidecars = addList(sidecars, own);
      init = maxList(init, sidecars);
    } else {
      init = maxList(init, addList(own, sidecars));
    }
  }
  total = maxList(total, init);
  const overhead = parseList(map(spec.overhead));
  if (field === 'requests') return addList(total, overhead);
  for (const [k, q] of Object.entries(overhead)) if (total[k]) total[k] = add(total[k], q);
  return total;
}

const isTerminal = (pod: JsonMap) => ['Succeeded', 'Failed'].includes(String(map(pod.status).phase));

/** podComputeUsageHelper: what a list of requests and limits counts against quota. */
function computeUsage(requests: ResourceList, limits: ResourceList): ResourceList {
  const usage: ResourceList = {pods: {nanos: 10n ** 9n, format: 'DecimalSI'}};
  for (const r of ['cpu', 'memory']) {
    if (requests[r]) usage[r] = usage[`requests.${r}`] = requests[r];
    if (limits[r]) usage[`limits.${r}`] = limits[r];
  }
  return usage;
}

/** What a pod counts against quota: nothing once it has finished (Succeeded or Failed). */
export function podUsage(pod: JsonMap): ResourceList {
  return isTerminal(pod) ? {} : computeUsage(podTotal(pod, 'requests'), podTotal(pod, 'limits'));
}

/** A quota scope, or a scopeSelector expression, as the pod evaluator matches it. */
function inScope(pod: JsonMap, selector: JsonMap): boolean {
  const spec = map(pod.spec);
  const className = typeof spec.priorityClassName === 'string' && spec.priorityClassName !== '' ? spec.priorityClassName : undefined;
  const values = list(selector.values).map(String);
  switch (selector.scopeName) {
    case 'Terminating':
      return typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds >= 0;
    case 'NotTerminating':
      return !(typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds >= 0);
    case 'BestEffort':
      return isBestEffort(spec);
    case 'NotBestEffort':
      return !isBestEffort(spec);
    case 'PriorityClass':
      // A label selector over {PriorityClass: <name>}: NotIn and DoesNotExist match a pod without one.
      if (selector.operator === 'Exists') return className !== undefined;
      if (selector.operator === 'DoesNotExist') return className === undefined;
      if (selector.operator === 'In') return className !== undefined && values.includes(className);
      if (selector.operator === 'NotIn') return className === undefined || !values.includes(className);
      return false;
    default:
      return false;
  }
}

function isBestEffort(spec: JsonMap): boolean {
  const containers = [...list(spec.containers), ...list(spec.initContainers)];
  return containers.every((c) => ['requests', 'limits'].every((f) => Object.keys(containerList(c, f as 'requests' | 'limits')).every((r) => r !== 'cpu' && r !== 'memory')));
}

/** A quota's scopes and scopeSelector, as one list of requirements. */
function scopesOf(quota: JsonMap): JsonMap[] {
  const spec = map(quota.spec);
  return [...list(spec.scopes).map((s): JsonMap => ({scopeName: s, operator: 'Exists'})), ...list(map(spec.scopeSelector).matchExpressions).filter(isMap)];
}

/** The hard limits of a quota that are counted here. */
function countedHard(quota: JsonMap): ResourceList {
  const hard = parseList(map(map(quota.spec).hard));
  return Object.fromEntries(Object.entries(hard).filter(([k]) => COUNTED.includes(k)));
}

/** Whether a quota counts a pod: it limits something a pod uses, and the pod is in all its scopes. */
function covers(quota: JsonMap, pod: JsonMap): boolean {
  return Object.keys(countedHard(quota)).length > 0 && scopesOf(quota).every((s) => inScope(pod, s));
}

/** What the pods of a namespace use of a quota: zero for each counted limit, plus every pod it covers. */
export function quotaUsed(quota: JsonMap, pods: JsonMap[]): ResourceList {
  const names = Object.keys(countedHard(quota));
  let used: ResourceList = Object.fromEntries(names.map((k) => [k, zero()]));
  for (const pod of pods.filter((p) => covers(quota, p))) {
    const usage = podUsage(pod);
    used = addList(used, Object.fromEntries(names.filter((k) => usage[k]).map((k) => [k, usage[k]!])));
  }
  return used;
}

const sortedKeys = (o: Record<string, string>): Record<string, string> => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));

/** The status the quota controller writes: hard as the spec says it, used as the pods use it. */
export function quotaStatus(quota: JsonMap, pods: JsonMap[]): JsonMap {
  return {hard: sortedKeys(formatList(parseList(map(map(quota.spec).hard)))), used: sortedKeys(formatList(quotaUsed(quota, pods)))};
}

const printList = (l: ResourceList) =>
  Object.keys(l)
    .sort()
    .map((k) => `${k}=${formatQuantity(l[k]!)}`)
    .join(',');

/** The pod evaluator's Constraints: each container must say each cpu and memory resource the quota limits. */
function missingResources(pod: JsonMap, limited: string[]): string | undefined {
  const required = limited.filter((r) => MUST_SPECIFY.has(r));
  const missing = new Map<string, string[]>();
  const spec = map(pod.spec);
  for (const c of [...list(spec.containers), ...list(spec.initContainers)]) {
    const has = Object.keys(computeUsage(containerList(c, 'requests'), containerList(c, 'limits')));
    for (const r of required.filter((x) => !has.includes(x))) missing.set(r, [...(missing.get(r) ?? []), String(map(c).name ?? '')]);
  }
  if (missing.size === 0) return undefined;
  return `must specify ${[...missing.keys()]
    .sort()
    .map((r) => `${r} for: ${[...new Set(missing.get(r))].sort().join(',')}`)
    .join('; ')}`;
}

/**
 * The ResourceQuota admission plugin for a new pod: refused when a quota covering it needs a request
 * it lacks, or when it would take a quota past its hard limit. Usage is counted from the pods
 * themselves, as the quota controller would have it once caught up.
 */
export function checkPodQuota(store: Store, pod: NewObject): void {
  const namespace = pod.metadata.namespace;
  const quotas = store.list(RESOURCE_QUOTAS, namespace).filter((q) => covers(q, pod));
  for (const quota of quotas) {
    const missing = missingResources(pod, Object.keys(countedHard(quota)));
    if (missing) throw forbiddenBy('pods', pod.metadata.name, `failed quota: ${quota.metadata.name}: ${missing}`);
  }
  const usage = Object.fromEntries(Object.entries(podUsage(pod)).filter(([, q]) => q.nanos !== 0n));
  if (quotas.length === 0 || Object.keys(usage).length === 0) return;
  const pods = store.list('pods', namespace);
  for (const quota of quotas) {
    const hard = countedHard(quota);
    const requested = Object.fromEntries(Object.entries(usage).filter(([k]) => hard[k]));
    const used = quotaUsed(quota, pods);
    const exceeded = Object.keys(requested).filter((k) => compare(add(used[k] ?? zero(), requested[k]!), hard[k]!) > 0);
    if (exceeded.length === 0) continue;
    const only = (l: ResourceList) => Object.fromEntries(exceeded.filter((k) => l[k]).map((k) => [k, l[k]!]));
    throw forbiddenBy('pods', pod.metadata.name, `exceeded quota: ${quota.metadata.name}, requested: ${printList(only(requested))}, used: ${printList(only(used))}, limited: ${printList(only(hard))}`);
  }
}

/** Keys sorted all the way down, so that two statuses compare by content. */
function canonical(v: Json | undefined): string {
  const sort = (x: Json): Json => (Array.isArray(x) ? x.map(sort) : isMap(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort(x[k]!)])) : x);
  return JSON.stringify(v === undefined ? null : sort(v));
}

/**
 * The resource quota controller: writes each quota's status (in one namespace, or all) where it is
 * not what the spec and the pods make it. Run after every change to pods or quotas, it keeps usage
 * current at once, where the real controller catches up within seconds.
 */
export function syncQuotaStatus(store: Store, namespace?: string): void {
  for (const quota of store.list(RESOURCE_QUOTAS, namespace)) {
    const status = quotaStatus(quota, store.list('pods', quota.metadata.namespace));
    if (canonical(status) === canonical(quota.status)) continue;
    try {
      store.update(RESOURCE_QUOTAS, {...quota, status} as StoredObject);
    } catch (err) {
      // Another writer came first, or the quota went: the next pass counts again.
      if (!(err instanceof ApiError && (err.code === 409 || err.code === 404))) throw err;
    }
  }
}
