/**
 * The admission plugins that read other objects to admit a pod, as kube-apiserver runs them: the
 * Priority plugin (a PriorityClass's value and preemption policy, or the global default's) and the
 * RuntimeClass plugin (the class must exist; its overhead and scheduling go into the pod). Their
 * refusals are 403s worded as the plugins word them. The Priority plugin also guards the
 * PriorityClasses themselves: one global default, and the system classes kept.
 */
import {isMap, list, map, type Json, type JsonMap} from './json.js';
import {parseList, sameList} from './quantity.js';
import {ApiError, type Store, type StoredObject} from './store.js';

export const PRIORITY_CLASSES = 'priorityclasses.scheduling.k8s.io';
export const RUNTIME_CLASSES = 'runtimeclasses.node.k8s.io';

/** The most a PriorityClass not of the system's may have; more is kept for system-*. */
export const HIGHEST_USER_PRIORITY = 1_000_000_000;

const systemClass = (name: string, value: number, description: string): JsonMap => ({
  apiVersion: 'scheduling.k8s.io/v1',
  kind: 'PriorityClass',
  metadata: {name},
  value,
  description,
  preemptionPolicy: 'PreemptLowerPriority',
});

/** The classes every API server writes when it starts (its scheduling/bootstrap-system-priority-classes hook). */
export const SYSTEM_PRIORITY_CLASSES: JsonMap[] = [
  systemClass('system-node-critical', 2_000_001_000, 'Used for system critical pods that must not be moved from their current node.'),
  systemClass('system-cluster-critical', 2_000_000_000, 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.'),
];

/** admission.NewForbidden: `<resource> "<name>" is forbidden: <why>`. */
export function forbiddenBy(resource: string, name: string, why: string): ApiError {
  const [plural = '', ...group] = resource.split('.');
  return new ApiError(403, 'Forbidden', `${resource}${name ? ` "${name}"` : ''} is forbidden: ${why}`, {...(name ? {name} : {}), ...(group.length ? {group: group.join('.')} : {}), kind: plural});
}

/** The global default class; should a race have made two, the lower one, as the plugin picks. */
function globalDefault(store: Store): StoredObject | undefined {
  return store
    .list(PRIORITY_CLASSES)
    .filter((pc) => pc.globalDefault === true)
    .sort((a, b) => Number(a.value ?? 0) - Number(b.value ?? 0))[0];
}

/**
 * The Priority plugin on a new pod: spec.priority and spec.preemptionPolicy from its class, or from
 * the global default (whose name it takes), or 0 and PreemptLowerPriority. A value or policy the pod
 * states itself must be what the class gives. `name` is the pod's as mutating admission sees it:
 * its generateName when it has no name yet.
 */
export function admitPriority(store: Store, spec: JsonMap, name: string): JsonMap {
  const wanted = typeof spec.priorityClassName === 'string' && spec.priorityClassName !== '' ? spec.priorityClassName : undefined;
  let priority = 0;
  let policy: Json = 'PreemptLowerPriority';
  let className = wanted;
  if (wanted === undefined) {
    const fallback = globalDefault(store);
    if (fallback) [priority, policy, className] = [Number(fallback.value ?? 0), fallback.preemptionPolicy ?? null, fallback.metadata.name];
  } else {
    const pc = store.get({resource: PRIORITY_CLASSES, name: wanted});
    if (!pc) throw forbiddenBy('pods', name, `no PriorityClass with name ${wanted} was found`);
    [priority, policy] = [Number(pc.value ?? 0), pc.preemptionPolicy ?? null];
  }
  if (spec.priority !== undefined && spec.priority !== null && spec.priority !== priority) {
    throw forbiddenBy('pods', name, `the integer value of priority (${String(spec.priority)}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`);
  }
  const out: JsonMap = {...spec, priority};
  // An empty class name is no name: the API leaves it out.
  if (className !== undefined) out.priorityClassName = className;
  else delete out.priorityClassName;
  if (policy !== null) {
    if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== null && spec.preemptionPolicy !== policy) {
      throw forbiddenBy('pods', name, `the string value of PreemptionPolicy (${String(spec.preemptionPolicy)}) must not be provided in pod spec; priority admission controller computed ${String(policy)} from the given PriorityClass name`);
    }
    out.preemptionPolicy = policy;
  }
  return out;
}

function runtimeClassOf(store: Store, spec: JsonMap, name: string): StoredObject | undefined {
  const wanted = spec.runtimeClassName;
  if (typeof wanted !== 'string') return undefined;
  const rc = store.get({resource: RUNTIME_CLASSES, name: wanted});
  if (!rc) throw forbiddenBy('pods', name, `pod rejected: RuntimeClass "${wanted}" not found`);
  return rc;
}

/** A RuntimeClass's fixed pod overhead: undefined when it has no overhead at all, {} when one without podFixed. */
function classOverhead(rc: StoredObject | undefined): JsonMap | undefined {
  return rc && isMap(rc.overhead) ? map(rc.overhead.podFixed) : undefined;
}

const sameJson = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The RuntimeClass plugin's mutation of a new pod: its class must exist; the class's overhead
 * becomes the pod's (a different one stated by the pod is refused); the class's node selector and
 * tolerations join the pod's, a selector that disagrees refused.
 */
export function admitRuntimeClass(store: Store, spec: JsonMap, name: string): JsonMap {
  const rc = runtimeClassOf(store, spec, name);
  if (!rc) return spec;
  const out: JsonMap = {...spec};
  const overhead = classOverhead(rc);
  if (overhead !== undefined) {
    if (isMap(spec.overhead) && !sameList(parseList(spec.overhead), parseList(overhead))) {
      throw forbiddenBy('pods', name, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead");
    }
    if (Object.keys(overhead).length > 0) out.overhead = overhead;
    else delete out.overhead;
  }
  const scheduling = map(rc.scheduling);
  if (isMap(scheduling.nodeSelector)) {
    const selector: JsonMap = {...map(spec.nodeSelector)};
    for (const [key, value] of Object.entries(scheduling.nodeSelector)) {
      if (selector[key] !== undefined && selector[key] !== value) {
        throw forbiddenBy('pods', name, `conflict: runtimeClass.scheduling.nodeSelector[${key}] = ${String(value)}; pod.spec.nodeSelector[${key}] = ${String(selector[key])}`);
      }
      selector[key] = value;
    }
    out.nodeSelector = selector;
  }
  const extra = list(scheduling.tolerations).filter((t) => !list(spec.tolerations).some((mine) => sameJson(mine, t)));
  if (extra.length > 0) out.tolerations = [...list(spec.tolerations), ...extra];
  return out;
}

/** The RuntimeClass plugin's validation: an overhead only with a class that defines the same one. */
export function validateRuntimeClass(store: Store, spec: JsonMap, name: string): void {
  const overhead = classOverhead(runtimeClassOf(store, spec, name));
  if (overhead !== undefined) {
    if (!sameList(parseList(map(spec.overhead)), parseList(overhead))) throw forbiddenBy('pods', name, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead");
  } else if (isMap(spec.overhead)) {
    throw forbiddenBy('pods', name, 'pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead');
  }
}

/** The Priority plugin on a PriorityClass written: only one may be the global default. */
export function checkGlobalDefault(store: Store, pc: JsonMap & {metadata: {name: string}}): void {
  if (pc.globalDefault !== true) return;
  const current = globalDefault(store);
  if (current && current.metadata.name !== pc.metadata.name) {
    throw forbiddenBy(PRIORITY_CLASSES, pc.metadata.name, `PriorityClass ${current.metadata.name} is already marked as default. Only one default can exist`);
  }
}

/** The registry keeps the system classes: deleting one is refused. */
export function checkPriorityClassDelete(name: string): void {
  if (SYSTEM_PRIORITY_CLASSES.some((pc) => map(pc.metadata).name === name)) {
    throw forbiddenBy(PRIORITY_CLASSES, name, 'this is a system priority class and cannot be deleted');
  }
}
