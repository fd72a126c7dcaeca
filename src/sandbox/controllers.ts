/**
 * The control plane of a simulated cluster, acting on its Store as the real components act through
 * the API: kube-scheduler (node-level fit, taints, selectors, FailedScheduling), a kubelet as KWOK
 * plays it (Running and Ready, pod IPs, graceful deletion), and the controller-manager's namespace,
 * garbage-collection, pod-GC, EndpointSlice and PVC-protection controllers (its quota controller is
 * in quota.ts).
 */
import {addInto, maxInto, parseResources, type ResourceAmounts} from '../placement/quantity.js';
import {PVC_PROTECTION} from './admission.js';
import {ApiError, type Store, type StoredObject} from './store.js';
import {type Json, type JsonMap, list, map, now} from './json.js';


/**
 * A control loop: runs `reconcile` soon after any change in the store (coalesced) and every
 * `resyncMs`. A reconcile that throws is retried on the next change or resync.
 */
export class Loop {
  private scheduled = false;
  private stopped = false;
  private readonly unwatch: () => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    /** The component's user agent, as its writes are audited. */
    private readonly actor: string,
    private readonly reconcile: () => void,
    resyncMs = 1000,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.unwatch = store.watch(store.currentRevision, () => this.kick());
    this.timer = setInterval(() => this.kick(), resyncMs);
    this.kick();
  }

  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      try {
        this.store.as(this.actor, this.reconcile);
      } catch (err) {
        this.onError(err);
      }
    });
  }

  stop(): void {
    this.stopped = true;
    this.unwatch();
    clearInterval(this.timer);
  }
}

/** Writes an Event about an object, as components record them. */
export function recordEvent(store: Store, object: StoredObject, type: 'Normal' | 'Warning', reason: string, message: string, component: string): void {
  const namespace = object.metadata.namespace ?? 'default';
  if (!store.get({resource: 'namespaces', name: namespace})) return;
  const time = now();
  store.create('events', {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {name: store.generateName(`${object.metadata.name}.`), namespace},
    involvedObject: {kind: object.kind, namespace, name: object.metadata.name, uid: object.metadata.uid, apiVersion: object.apiVersion, resourceVersion: object.metadata.resourceVersion},
    reason,
    message,
    type,
    source: {component},
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
    reportingComponent: component,
  });
}

/** Writes `change(object)` back unless it changed nothing; a conflict means another writer came first. */
function update(store: Store, resource: string, object: StoredObject, change: (o: StoredObject) => void): void {
  const next = structuredClone(object);
  change(next);
  if (JSON.stringify(next) === JSON.stringify(object)) return;
  try {
    store.update(resource, next);
  } catch (err) {
    if (!(err instanceof ApiError && (err.code === 409 || err.code === 404))) throw err;
  }
}

/** What a pod asks of its node: its containers, its longest init container, its sidecars and overhead. */
export function podRequests(pod: StoredObject): ResourceAmounts {
  const spec = map(pod.spec);
  const requests = (c: Json) => parseResources(map(map(map(c).resources).requests) as Record<string, string>);
  const total: ResourceAmounts = {};
  for (const c of list(spec.containers)) addInto(total, requests(c));
  const sidecars: ResourceAmounts = {};
  const init: ResourceAmounts = {};
  for (const c of list(spec.initContainers)) {
    if (map(c).restartPolicy === 'Always') addInto(sidecars, requests(c));
    else maxInto(init, addInto({...sidecars}, requests(c)));
  }
  addInto(total, sidecars);
  maxInto(total, init);
  addInto(total, parseResources(map(spec.overhead) as Record<string, string>));
  total.pods = 1;
  return total;
}

const isTerminal = (p: StoredObject) => ['Succeeded', 'Failed'].includes(String(map(p.status).phase));

function tolerates(pod: StoredObject, taint: JsonMap): boolean {
  return list(map(pod.spec).tolerations).some((raw) => {
    const t = map(raw);
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

function matchesExpression(labels: JsonMap, e: JsonMap): boolean {
  const value = labels[String(e.key)];
  const values = list(e.values).map(String);
  switch (e.operator) {
    case 'In':
      return value !== undefined && values.includes(String(value));
    case 'NotIn':
      return value === undefined || !values.includes(String(value));
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

/** Why `node` cannot take `pod`, in the scheduler's words, or undefined when it can. */
function misfit(pod: StoredObject, node: StoredObject, used: ResourceAmounts, asks: ResourceAmounts): string | undefined {
  const labels = map(node.metadata.labels);
  const spec = map(pod.spec);
  if (map(node.spec).unschedulable) return 'node(s) were unschedulable';
  const ready = list(map(node.status).conditions).some((c) => map(c).type === 'Ready' && map(c).status === 'True');
  if (!ready) return 'node(s) had untolerated taint {node.kubernetes.io/not-ready: }';
  for (const raw of list(map(node.spec).taints)) {
    const taint = map(raw);
    if ((taint.effect === 'NoSchedule' || taint.effect === 'NoExecute') && !tolerates(pod, taint)) {
      return `node(s) had untolerated taint {${String(taint.key)}: ${String(taint.value ?? '')}}`;
    }
  }
  for (const [key, value] of Object.entries(map(spec.nodeSelector))) if (labels[key] !== value) return "node(s) didn't match Pod's node affinity/selector";
  const required = map(map(map(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
  const terms = list(required.nodeSelectorTerms);
  if (terms.length > 0 && !terms.some((term) => list(map(term).matchExpressions).every((e) => matchesExpression(labels, map(e))))) {
    return "node(s) didn't match Pod's node affinity/selector";
  }
  const allocatable = parseResources(map(map(node.status).allocatable) as Record<string, string>);
  for (const [resource, amount] of Object.entries(asks)) {
    if (amount > 0 && (used[resource] ?? 0) + amount > (allocatable[resource] ?? 0)) return resource === 'pods' ? 'Too many pods' : `Insufficient ${resource}`;
  }
  return undefined;
}

/** kube-scheduler: binds each Pending pod, oldest first, to the least used node that fits it. */
export function schedule(store: Store): void {
  const nodes = store.list('nodes');
  const pods = store.list('pods');
  const used = new Map<string, ResourceAmounts>(nodes.map((n) => [n.metadata.name, {}]));
  for (const p of pods) {
    const node = map(p.spec).nodeName;
    if (typeof node === 'string' && used.has(node) && !isTerminal(p)) addInto(used.get(node)!, podRequests(p));
  }
  const pending = pods
    .filter((p) => !map(p.spec).nodeName && p.metadata.deletionTimestamp === undefined && (map(p.spec).schedulerName ?? 'default-scheduler') === 'default-scheduler' && !isTerminal(p))
    .filter((p) => list(map(p.spec).schedulingGates).length === 0)
    .sort((a, b) => (a.metadata.creationTimestamp < b.metadata.creationTimestamp ? -1 : a.metadata.creationTimestamp > b.metadata.creationTimestamp ? 1 : a.metadata.name < b.metadata.name ? -1 : 1));
  for (const pod of pending) {
    const asks = podRequests(pod);
    const reasons = new Map<string, number>();
    let best: {node: StoredObject; score: number} | undefined;
    for (const node of nodes) {
      const why = misfit(pod, node, used.get(node.metadata.name)!, asks);
      if (why) {
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
        continue;
      }
      const allocatable = parseResources(map(map(node.status).allocatable) as Record<string, string>);
      const share = (r: string) => ((used.get(node.metadata.name)![r] ?? 0) + (asks[r] ?? 0)) / Math.max(1, allocatable[r] ?? 1);
      const score = (share('cpu') + share('memory')) / 2;
      if (!best || score < best.score) best = {node, score};
    }
    if (best) {
      addInto(used.get(best.node.metadata.name)!, asks);
      const target = best.node.metadata.name;
      update(store, 'pods', pod, (p) => {
        p.spec = {...map(p.spec), nodeName: target};
        const status = map(p.status);
        p.status = {...status, conditions: [...list(status.conditions).filter((c) => map(c).type !== 'PodScheduled'), {type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now()}]};
      });
      recordEvent(store, pod, 'Normal', 'Scheduled', `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${target}`, 'default-scheduler');
      continue;
    }
    const detail = [...reasons.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([why, n]) => `${n} ${why}`).join(', ');
    const message = `0/${nodes.length} nodes are available${detail ? `: ${detail}` : ''}. preemption: 0/${nodes.length} nodes are available: ${nodes.length} No preemption victims found for incoming pod.`;
    const current = list(map(pod.status).conditions).map(map).find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.message === message) continue;
    update(store, 'pods', pod, (p) => {
      const status = map(p.status);
      p.status = {...status, conditions: [...list(status.conditions).filter((c) => map(c).type !== 'PodScheduled'), {type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: now()}]};
    });
    recordEvent(store, pod, 'Warning', 'FailedScheduling', message, 'default-scheduler');
  }
}

/** The pod IPs a node hands out, from its podCIDR (addresses.ts). */
function nextPodIp(node: StoredObject, taken: Set<string>): string {
  const cidr = String(map(node.spec).podCIDR ?? '10.127.250.0/24');
  const base = cidr.split('/')[0]!.split('.').map(Number);
  for (let i = 2; i < 255; i++) {
    const ip = `${base[0]}.${base[1]}.${base[2]}.${i}`;
    if (!taken.has(ip)) return ip;
  }
  throw new Error(`node ${node.metadata.name} has no pod IP left in ${cidr}`);
}

/** Whether every readiness gate of a pod has its condition True, as the kubelet requires for Ready. */
function gatesPass(pod: StoredObject): boolean {
  const conditions = list(map(pod.status).conditions).map(map);
  return list(map(pod.spec).readinessGates).every((g) => conditions.some((c) => c.type === map(g).conditionType && c.status === 'True'));
}

/**
 * Images of this registry cannot be pulled by any kubelet of the sandbox, nor of test/env (a KWOK
 * stage there): a pod with one stays Pending in ImagePullBackOff, for tests of a worker that never starts.
 */
export const UNPULLABLE_REGISTRY = 'unpullable.invalid/';

/** A bound pod with an unpullable image, as a kubelet leaves it: Pending, its containers waiting. */
function backOff(pod: StoredObject, time: string): void {
  const waiting = (c: Json) => ({
    name: map(c).name ?? '',
    image: map(c).image ?? '',
    imageID: '',
    ready: false,
    started: false,
    restartCount: 0,
    state: {waiting: {reason: 'ImagePullBackOff', message: `Back-off pulling image "${String(map(c).image ?? '')}"`}},
  });
  const status = map(pod.status);
  const scheduled = list(status.conditions).map(map).find((c) => c.type === 'PodScheduled') ?? {type: 'PodScheduled', status: 'True', lastTransitionTime: time};
  const inits = list(map(pod.spec).initContainers);
  pod.status = {
    ...status,
    phase: 'Pending',
    startTime: time,
    conditions: [
      {type: 'Initialized', status: 'False', lastProbeTime: null, lastTransitionTime: time},
      {type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: time},
      {type: 'ContainersReady', status: 'False', lastProbeTime: null, lastTransitionTime: time},
      scheduled,
    ],
    ...(inits.length > 0 ? {initContainerStatuses: inits.map(waiting)} : {}),
    containerStatuses: list(map(pod.spec).containers).map(waiting),
  };
}

const unpullable = (pod: StoredObject) => [...list(map(pod.spec).initContainers), ...list(map(pod.spec).containers)].some((c) => String(map(c).image ?? '').startsWith(UNPULLABLE_REGISTRY));

/**
 * The kubelet, as KWOK plays it: bound pods run and are ready once their readiness gates pass (Ready
 * follows the gates' conditions, which others write); bound pods being deleted go.
 */
export function kubelet(store: Store): void {
  const nodes = new Map(store.list('nodes').map((n) => [n.metadata.name, n]));
  const pods = store.list('pods');
  const taken = new Set(pods.map((p) => String(map(p.status).podIP ?? '')).filter(Boolean));
  for (const pod of pods) {
    const nodeName = map(pod.spec).nodeName;
    if (typeof nodeName !== 'string') continue;
    const node = nodes.get(nodeName);
    if (pod.metadata.deletionTimestamp !== undefined) {
      // The containers are stopped at once; the pod goes when no finalizer holds it.
      if (list(pod.metadata.finalizers).length === 0) {
        try {
          store.delete({resource: 'pods', namespace: pod.metadata.namespace, name: pod.metadata.name}, {uid: pod.metadata.uid});
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
        }
      }
      continue;
    }
    if (node && map(pod.status).phase === 'Running') {
      const ready = gatesPass(pod);
      const conditions = list(map(pod.status).conditions).map(map);
      if (conditions.some((c) => c.type === 'Ready' && (c.status === 'True') !== ready)) {
        update(store, 'pods', pod, (p) => {
          const status = map(p.status);
          status.conditions = list(status.conditions).map(map).map((c) => (c.type === 'Ready' ? {...c, status: ready ? 'True' : 'False', lastTransitionTime: now()} : c));
        });
      }
      continue;
    }
    if (!node || map(pod.status).phase !== 'Pending') continue;
    if (unpullable(pod)) {
      if (map(pod.status).containerStatuses === undefined) update(store, 'pods', pod, (p) => backOff(p, now()));
      continue;
    }
    const ip = nextPodIp(node, taken);
    taken.add(ip);
    const time = now();
    const hostIP = String(list(map(node.status).addresses).map(map).find((a) => a.type === 'InternalIP')?.address ?? '127.0.0.1');
    update(store, 'pods', pod, (p) => {
      const status = map(p.status);
      const scheduled = list(status.conditions).map(map).find((c) => c.type === 'PodScheduled') ?? {type: 'PodScheduled', status: 'True', lastTransitionTime: time};
      const gates = new Set(list(map(p.spec).readinessGates).map((g) => String(map(g).conditionType)));
      const gated = list(status.conditions).map(map).filter((c) => gates.has(String(c.type)));
      p.status = {
        ...status,
        phase: 'Running',
        podIP: ip,
        podIPs: [{ip}],
        hostIP,
        hostIPs: [{ip: hostIP}],
        startTime: time,
        conditions: [
          {type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: time},
          {type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: time},
          {type: 'Ready', status: gatesPass(p) ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: time},
          {type: 'ContainersReady', status: 'True', lastProbeTime: null, lastTransitionTime: time},
          scheduled,
          ...gated,
        ],
        containerStatuses: list(map(p.spec).containers).map((c) => ({
          name: map(c).name ?? '',
          image: map(c).image ?? '',
          imageID: '',
          ready: true,
          started: true,
          restartCount: 0,
          state: {running: {startedAt: time}},
        })),
      };
    });
  }
}

/** Pod GC: a pod being deleted that never got a node is Failed, so that its owner can let it go. */
export function podGc(store: Store): void {
  for (const pod of store.list('pods')) {
    if (pod.metadata.deletionTimestamp === undefined || map(pod.spec).nodeName || isTerminal(pod)) continue;
    update(store, 'pods', pod, (p) => {
      p.status = {...map(p.status), phase: 'Failed', reason: 'Terminated', message: 'pod was deleted before it was scheduled'};
    });
  }
}

/** Namespaces: a new one gets its default ServiceAccount; one being deleted is emptied, then goes. */
export function namespaces(store: Store, namespaced: string[], create: (resource: string, object: JsonMap) => StoredObject): void {
  for (const ns of store.list('namespaces')) {
    const name = ns.metadata.name;
    if (ns.metadata.deletionTimestamp === undefined) {
      if (!store.get({resource: 'serviceaccounts', namespace: name, name: 'default'})) {
        create('serviceaccounts', {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'default', namespace: name}});
      }
      continue;
    }
    if (ns.status && map(ns.status).phase !== 'Terminating') update(store, 'namespaces', ns, (o) => void (o.status = {...map(o.status), phase: 'Terminating'}));
    let left = 0;
    for (const resource of namespaced) {
      for (const o of store.list(resource, name)) {
        left++;
        if (o.metadata.deletionTimestamp !== undefined) continue;
        try {
          store.delete({resource, namespace: name, name: o.metadata.name}, {graceful: resource === 'pods' && Boolean(map(o.spec).nodeName)});
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
        }
      }
    }
    if (left === 0) {
      try {
        store.delete({resource: 'namespaces', name}, {uid: ns.metadata.uid});
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
      }
    }
  }
}

/** Garbage collection: an object whose every owner is gone is deleted (background propagation). */
export function garbageCollect(store: Store, resources: string[]): void {
  const uids = new Set<string>();
  const all = resources.map((resource) => ({resource, objects: store.list(resource)}));
  for (const {objects} of all) for (const o of objects) uids.add(o.metadata.uid);
  for (const {resource, objects} of all) {
    for (const o of objects) {
      const owners = list(o.metadata.ownerReferences).map(map);
      if (owners.length === 0 || o.metadata.deletionTimestamp !== undefined) continue;
      if (owners.some((ref) => uids.has(String(ref.uid)))) continue;
      try {
        store.delete({resource, namespace: o.metadata.namespace, name: o.metadata.name}, {graceful: resource === 'pods' && Boolean(map(o.spec).nodeName)});
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
      }
    }
  }
}

const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';

/** EndpointSlices for Services with a selector: the ready pods' IPs, the Service's labels copied. */
export function endpointSlices(store: Store, create: (resource: string, object: JsonMap) => StoredObject): void {
  const slices = store.list('endpointslices.discovery.k8s.io');
  for (const svc of store.list('services')) {
    const selector = map(map(svc.spec).selector);
    if (Object.keys(selector).length === 0) continue;
    const namespace = svc.metadata.namespace!;
    const pods = store
      .list('pods', namespace)
      .filter((p) => Object.entries(selector).every(([k, v]) => map(p.metadata.labels)[k] === v) && map(p.status).podIP && p.metadata.deletionTimestamp === undefined);
    const endpoints = pods.map((p) => {
      const ready = list(map(p.status).conditions).some((c) => map(c).type === 'Ready' && map(c).status === 'True');
      return {addresses: [String(map(p.status).podIP)], conditions: {ready, serving: ready, terminating: false}, nodeName: map(p.spec).nodeName ?? null, targetRef: {kind: 'Pod', namespace, name: p.metadata.name, uid: p.metadata.uid}};
    });
    const ports = list(map(svc.spec).ports).map((raw) => {
      const port = map(raw);
      return {name: port.name ?? '', port: typeof port.targetPort === 'number' ? port.targetPort : (port.port ?? null), protocol: port.protocol ?? 'TCP'};
    });
    const labels = {...map(svc.metadata.labels), 'kubernetes.io/service-name': svc.metadata.name, 'endpointslice.kubernetes.io/managed-by': SLICE_CONTROLLER};
    const mine = slices.find((s) => s.metadata.namespace === namespace && map(s.metadata.labels)['kubernetes.io/service-name'] === svc.metadata.name && map(s.metadata.labels)['endpointslice.kubernetes.io/managed-by'] === SLICE_CONTROLLER);
    const body = {addressType: 'IPv4', endpoints, ports} as JsonMap;
    if (!mine) {
      create('endpointslices.discovery.k8s.io', {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {generateName: `${svc.metadata.name}-`, namespace, labels, ownerReferences: [{apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true}]},
        ...body,
      });
    } else {
      update(store, 'endpointslices.discovery.k8s.io', mine, (s) => {
        Object.assign(s, body);
        s.metadata.labels = labels;
      });
    }
  }
}

/** Whether a pod that has not finished mounts the claim, by name or as its generic ephemeral volume. */
function usesClaim(pod: StoredObject, claim: string): boolean {
  if (isTerminal(pod)) return false;
  return list(map(pod.spec).volumes).some((v) => map(map(v).persistentVolumeClaim).claimName === claim || (map(v).ephemeral !== undefined && `${pod.metadata.name}-${String(map(v).name)}` === claim));
}

/** PVC protection: a claim being deleted keeps its finalizer while a pod uses it, and goes after. */
export function pvcProtection(store: Store): void {
  for (const pvc of store.list('persistentvolumeclaims')) {
    if (pvc.metadata.deletionTimestamp === undefined || !list(pvc.metadata.finalizers).includes(PVC_PROTECTION)) continue;
    if (store.list('pods', pvc.metadata.namespace).some((p) => usesClaim(p, pvc.metadata.name))) continue;
    update(store, 'persistentvolumeclaims', pvc, (o) => void (o.metadata.finalizers = list(o.metadata.finalizers).filter((f) => f !== PVC_PROTECTION)));
  }
}
