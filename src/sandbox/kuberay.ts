/**
 * The KubeRay operator (v1.5) of a simulated cluster, from its source: the head pod and the headless
 * head Service; worker pods counted by the labels ray.io/cluster and ray.io/group only (Pending and
 * Terminating ones count); workersToDelete honoured and never cleared; without in-tree autoscaling a
 * decrease deletes pods in list order; Failed and Succeeded pods deleted; a group left alone while a
 * deletion it made is not yet observed. A RayCluster is reconciled only when its spec, labels or
 * annotations change, when a pod or Service it controls changes, 2 s after a pass that changed
 * something, and every 300 s. A RayService gets a RayCluster <svc>-<5 chars> that stays pending:
 * nothing answers Serve's health checks here, as on the local test clusters.
 */
import {ApiError, type Store, type StoreEvent, type StoredObject} from './store.js';
import {type Json, type JsonMap, list, map, now} from './json.js';


const RAYCLUSTERS = 'rayclusters.ray.io';
const RAYSERVICES = 'rayservices.ray.io';
const REQUEUE_MS = 2_000;
const RESYNC_MS = 300_000;
const HEAD_GROUP = 'headgroup';
const OPERATOR = 'kuberay-operator/v1.5.0-sandbox';

function controllerOf(o: StoredObject): string | undefined {
  const ref = list(o.metadata.ownerReferences).map(map).find((r) => r.controller === true);
  return ref ? String(ref.uid) : undefined;
}

function ownerReference(owner: StoredObject): JsonMap {
  return {apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true};
}

const prefix = (text: string) => text.slice(0, 50).toLowerCase();
const isTerminal = (p: StoredObject) => ['Succeeded', 'Failed'].includes(String(map(p.status).phase));
const isReady = (p: StoredObject) => map(p.status).phase === 'Running' && list(map(p.status).conditions).some((c) => map(c).type === 'Ready' && map(c).status === 'True');

function desiredReplicas(group: JsonMap): number {
  if (group.suspend === true) return 0;
  const min = typeof group.minReplicas === 'number' ? group.minReplicas : 0;
  const max = typeof group.maxReplicas === 'number' ? group.maxReplicas : 2147483647;
  let replicas = typeof group.replicas === 'number' ? group.replicas : min;
  if (min > max) replicas = max;
  else if (replicas < min) replicas = min;
  else if (replicas > max) replicas = max;
  return replicas * (typeof group.numOfHosts === 'number' ? group.numOfHosts : 1);
}

/** A pod of the RayCluster, built from a group's template as the operator builds it. */
function buildPod(rc: StoredObject, template: JsonMap, type: 'head' | 'worker', group: string, autoscaling: boolean): JsonMap {
  const name = rc.metadata.name;
  const meta = map(template.metadata);
  const spec: JsonMap = structuredClone(map(template.spec));
  const labels: JsonMap = {
    'ray.io/is-ray-node': 'yes',
    'app.kubernetes.io/name': 'kuberay',
    'app.kubernetes.io/created-by': 'kuberay-operator',
    'ray.io/identifier': `${name}-${type}`.slice(0, 63),
    ...map(meta.labels),
    'ray.io/cluster': name,
    'ray.io/node-type': type,
    'ray.io/group': group,
  };
  const containers = list(spec.containers).map((c) => structuredClone(map(c)));
  if (containers[0]) {
    const env = list(containers[0].env);
    const fieldRef = (n: string, path: string) => ({name: n, valueFrom: {fieldRef: {apiVersion: 'v1', fieldPath: path}}});
    containers[0].env = [
      ...env,
      fieldRef('RAY_CLUSTER_NAME', "metadata.labels['ray.io/cluster']"),
      fieldRef('RAY_CLOUD_INSTANCE_ID', 'metadata.name'),
      fieldRef('RAY_NODE_TYPE_NAME', "metadata.labels['ray.io/group']"),
      {name: 'RAY_PORT', value: '6379'},
      {name: 'KUBERAY_GEN_RAY_START_CMD', value: type === 'head' ? 'ray start --head' : `ray start --address=${name}-head-svc.${rc.metadata.namespace}.svc.cluster.local:6379`},
    ];
    containers[0].volumeMounts = [...list(containers[0].volumeMounts), {name: 'shared-mem', mountPath: '/dev/shm'}];
  }
  if (type === 'head' && autoscaling) {
    containers.push({
      name: 'autoscaler',
      image: containers[0]?.image ?? 'rayproject/ray',
      imagePullPolicy: 'IfNotPresent',
      resources: {requests: {cpu: '500m', memory: '512Mi'}, limits: {cpu: '500m', memory: '512Mi'}},
      env: [
        {name: 'RAY_CLUSTER_NAME', valueFrom: {fieldRef: {apiVersion: 'v1', fieldPath: "metadata.labels['ray.io/cluster']"}}},
        {name: 'RAY_CLUSTER_NAMESPACE', valueFrom: {fieldRef: {apiVersion: 'v1', fieldPath: 'metadata.namespace'}}},
        {name: 'RAY_HEAD_POD_NAME', valueFrom: {fieldRef: {apiVersion: 'v1', fieldPath: 'metadata.name'}}},
        {name: 'KUBERAY_CRD_VER', value: 'v1'},
      ],
    });
    spec.serviceAccountName ??= name;
  }
  spec.containers = containers;
  spec.volumes = [...list(spec.volumes), {name: 'shared-mem', emptyDir: {medium: 'Memory'}}];
  if (type === 'worker') {
    spec.initContainers = [
      ...list(spec.initContainers),
      {name: 'wait-gcs-ready', image: containers[0]?.image ?? 'rayproject/ray', resources: {requests: {cpu: '200m', memory: '256Mi'}, limits: {cpu: '200m', memory: '256Mi'}}},
    ];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: type === 'head' ? `${prefix(name)}-head-` : `${prefix(`${name}-${group}`)}-worker-`,
      namespace: rc.metadata.namespace ?? null,
      labels,
      annotations: {...map(meta.annotations), ...(type === 'head' ? {'ray.io/ft-enabled': 'false'} : {})},
      ownerReferences: [ownerReference(rc)],
    },
    spec,
  };
}

/** The headless head Service, with the head container's ports or KubeRay's defaults. */
function buildHeadService(rc: StoredObject, head: JsonMap): JsonMap {
  const name = rc.metadata.name;
  const selector = {'ray.io/cluster': name, 'ray.io/node-type': 'head', 'ray.io/identifier': `${name}-head`, 'app.kubernetes.io/name': 'kuberay', 'app.kubernetes.io/created-by': 'kuberay-operator'};
  const declared = list(map(list(map(head.spec).containers)[0]).ports).map(map);
  const ports: JsonMap[] = declared.length > 0
    ? declared.map((p, i) => ({name: p.name ?? `${i}-port`, port: p.containerPort ?? null, targetPort: p.containerPort ?? null, protocol: 'TCP', appProtocol: 'tcp'}))
    : [['client', 10001], ['dashboard', 8265], ['gcs-server', 6379], ['serve', 8000]].map(([n, port]) => ({name: n as string, port: port as number, targetPort: port as number, protocol: 'TCP', appProtocol: 'tcp'}));
  if (!ports.some((p) => p.name === 'metrics')) ports.push({name: 'metrics', port: 8080, targetPort: 8080, protocol: 'TCP', appProtocol: 'tcp'});
  ports.sort((a, b) => String(a.name).localeCompare(String(b.name)));
  // KubeRay: headGroupSpec.serviceType, and a custom headService's annotations; headless only as a ClusterIP.
  const headGroup = map(map(rc.spec).headGroupSpec);
  const type = typeof headGroup.serviceType === 'string' && headGroup.serviceType !== '' ? headGroup.serviceType : 'ClusterIP';
  const annotations = map(map(map(headGroup.headService).metadata).annotations);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: `${name}-head-svc`,
      namespace: rc.metadata.namespace ?? null,
      labels: selector,
      ...(Object.keys(annotations).length > 0 ? {annotations} : {}),
      ownerReferences: [ownerReference(rc)],
    },
    spec: type === 'ClusterIP' ? {clusterIP: 'None', publishNotReadyAddresses: true, selector, ports: ports as Json[]} : {type, selector, ports: ports as Json[]},
  };
}

export class KubeRayOperator {
  private readonly queue = new Set<string>();
  private readonly seen = new Map<string, string>();
  /** Pods deleted by a group, not yet gone: the group waits for them (KubeRay's expectations). */
  private readonly deleting = new Map<string, Set<string>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly unwatch: () => void;
  private readonly resync: NodeJS.Timeout;
  private scheduled = false;
  private stopped = false;
  /** Which pods a decrease deletes: KubeRay takes the first of an unsorted list; tests may fix it. */
  random: () => number = Math.random;

  constructor(
    private readonly store: Store,
    /** Creates through the API (names from generateName, defaults), as the operator's client does. */
    private readonly create: (resource: string, object: JsonMap) => StoredObject,
  ) {
    this.unwatch = store.watch(store.currentRevision, (event) => this.onEvent(event));
    this.resync = setInterval(() => this.enqueueAll(), RESYNC_MS);
    this.enqueueAll();
  }

  stop(): void {
    this.stopped = true;
    this.unwatch();
    clearInterval(this.resync);
    for (const t of this.timers.values()) clearTimeout(t);
  }

  private key(o: StoredObject): string {
    return `${o.metadata.namespace}/${o.metadata.name}`;
  }

  private enqueueAll(): void {
    for (const rc of this.store.list(RAYCLUSTERS)) this.enqueue(`rc:${this.key(rc)}`);
    for (const svc of this.store.list(RAYSERVICES)) this.enqueue(`svc:${this.key(svc)}`);
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private later(key: string, ms: number): void {
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.enqueue(key);
      }, ms),
    );
  }

  private onEvent(event: StoreEvent): void {
    const o = event.object;
    if (event.resource === RAYCLUSTERS || event.resource === RAYSERVICES) {
      // Status writes do not trigger: only the spec, labels and annotations (and deletion) do.
      const fingerprint = event.type === 'DELETED' ? 'gone' : JSON.stringify([o.spec, o.metadata.labels, o.metadata.annotations, o.metadata.deletionTimestamp]);
      const key = `${event.resource === RAYCLUSTERS ? 'rc' : 'svc'}:${this.key(o)}`;
      if (this.seen.get(key) === fingerprint) return;
      this.seen.set(key, fingerprint);
      this.enqueue(key);
      return;
    }
    if (event.resource !== 'pods' && event.resource !== 'services') return;
    const owner = controllerOf(o);
    if (!owner) return;
    const rc = this.store.list(RAYCLUSTERS, o.metadata.namespace).find((r) => r.metadata.uid === owner);
    if (rc) this.enqueue(`rc:${this.key(rc)}`);
  }

  private drain(): void {
    this.scheduled = false;
    const keys = [...this.queue];
    this.queue.clear();
    for (const key of keys) {
      if (this.stopped) return;
      const [kind, rest] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      const [namespace, name] = rest.split('/') as [string, string];
      try {
        const changed = this.store.as(OPERATOR, () => (kind === 'rc' ? this.reconcileCluster(namespace, name) : this.reconcileService(namespace, name)));
        if (changed) this.later(key, REQUEUE_MS);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        this.later(key, REQUEUE_MS);
      }
    }
  }

  private deletePod(pod: StoredObject, group: string): void {
    try {
      this.store.delete({resource: 'pods', namespace: pod.metadata.namespace, name: pod.metadata.name}, {graceful: Boolean(map(pod.spec).nodeName)});
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
      return;
    }
    const set = this.deleting.get(group) ?? new Set();
    set.add(pod.metadata.name);
    this.deleting.set(group, set);
  }

  /** True while a deletion this group made is not yet observed (the pod still exists). */
  private waiting(group: string, pods: StoredObject[]): boolean {
    const set = this.deleting.get(group);
    if (!set) return false;
    for (const name of set) if (!pods.some((p) => p.metadata.name === name)) set.delete(name);
    if (set.size === 0) this.deleting.delete(group);
    return set.size > 0;
  }

  /** One reconcile of a RayCluster; true when it changed something (then it runs again in 2 s). */
  private reconcileCluster(namespace: string, name: string): boolean {
    const rc = this.store.get({resource: RAYCLUSTERS, namespace, name});
    if (!rc || rc.metadata.deletionTimestamp !== undefined) return false;
    const spec = map(rc.spec);
    const autoscaling = spec.enableInTreeAutoscaling === true;
    const pods = this.store.list('pods', namespace).filter((p) => map(p.metadata.labels)['ray.io/cluster'] === name);
    let changed = false;
    const groupKey = (g: string) => `${rc.metadata.uid}/${g}`;

    if (spec.suspend === true) {
      for (const p of pods) if (p.metadata.deletionTimestamp === undefined) (this.deletePod(p, groupKey(String(map(p.metadata.labels)['ray.io/group']))), (changed = true));
      return this.writeStatus(rc, pods) || changed;
    }

    const headTemplate = map(map(spec.headGroupSpec).template);
    if (autoscaling && !map(headTemplate.spec).serviceAccountName && !this.store.get({resource: 'serviceaccounts', namespace, name})) {
      this.create('serviceaccounts', {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name, namespace, ownerReferences: [ownerReference(rc)]}});
      changed = true;
    }
    const services = this.store.list('services', namespace).filter((s) => {
      const l = map(s.metadata.labels);
      return l['ray.io/cluster'] === name && l['ray.io/node-type'] === 'head' && l['ray.io/identifier'] === `${name}-head`;
    });
    if (services.length === 0) {
      this.create('services', buildHeadService(rc, headTemplate));
      changed = true;
    }

    const heads = pods.filter((p) => map(p.metadata.labels)['ray.io/node-type'] === 'head');
    if (!this.waiting(groupKey(''), heads)) {
      for (const p of heads) if (isTerminal(p)) (this.deletePod(p, groupKey('')), (changed = true));
      if (heads.length === 0) {
        this.create('pods', buildPod(rc, headTemplate, 'head', HEAD_GROUP, autoscaling));
        changed = true;
      }
    }

    for (const raw of list(spec.workerGroupSpecs)) {
      const group = map(raw);
      const groupName = String(group.groupName ?? '');
      const key = groupKey(groupName);
      const workers = pods.filter((p) => map(p.metadata.labels)['ray.io/group'] === groupName && map(p.metadata.labels)['ray.io/node-type'] !== 'head');
      if (this.waiting(key, workers)) continue;
      if (group.suspend === true) {
        for (const p of workers) if (p.metadata.deletionTimestamp === undefined) (this.deletePod(p, key), (changed = true));
        continue;
      }
      const terminal = workers.filter(isTerminal);
      if (terminal.length > 0) {
        for (const p of terminal) this.deletePod(p, key);
        // The operator returns an error after deleting failed workers: nothing else this pass.
        changed = true;
        continue;
      }
      const doomed = new Set(list(map(group.scaleStrategy).workersToDelete).map(String));
      for (const p of workers) if (doomed.has(p.metadata.name)) (this.deletePod(p, key), (changed = true));
      const counted = workers.filter((p) => !doomed.has(p.metadata.name));
      const diff = desiredReplicas(group) - counted.length;
      if (diff > 0) {
        for (let i = 0; i < diff; i++) this.create('pods', buildPod(rc, map(group.template), 'worker', groupName, autoscaling));
        changed = true;
      } else if (diff < 0 && !autoscaling) {
        // The first pods of an unsorted list: any of them.
        const order = [...counted].sort(() => this.random() - 0.5);
        for (const p of order.slice(0, -diff)) this.deletePod(p, key);
        changed = true;
      }
    }
    const after = this.store.list('pods', namespace).filter((p) => map(p.metadata.labels)['ray.io/cluster'] === name);
    return this.writeStatus(rc, after) || changed;
  }

  /** The status KubeRay writes; written only when it changed. */
  private writeStatus(rc: StoredObject, pods: StoredObject[]): boolean {
    const spec = map(rc.spec);
    const groups = list(spec.workerGroupSpecs).map(map);
    const workers = pods.filter((p) => map(p.metadata.labels)['ray.io/node-type'] === 'worker');
    const head = pods.find((p) => map(p.metadata.labels)['ray.io/node-type'] === 'head');
    const desired = groups.reduce((n, g) => n + desiredReplicas(g), 0);
    const old = map(rc.status);
    const allReady = pods.length === desired + 1 && pods.every(isReady);
    const provisioned = list(old.conditions).map(map).find((c) => c.type === 'RayClusterProvisioned')?.status === 'True' || allReady;
    const headReady = head !== undefined && isReady(head);
    const condition = (type: string, status: boolean, reason: string) => {
      const before = list(old.conditions).map(map).find((c) => c.type === type);
      const value = status ? 'True' : 'False';
      return {type, status: value, reason, message: '', lastTransitionTime: before?.status === value ? (before.lastTransitionTime ?? now()) : now()};
    };
    const status: JsonMap = {
      ...old,
      ...(old.state === 'ready' || allReady ? {state: 'ready'} : {}),
      desiredWorkerReplicas: desired,
      minWorkerReplicas: groups.reduce((n, g) => n + (g.suspend === true ? 0 : typeof g.minReplicas === 'number' ? g.minReplicas : 0), 0),
      maxWorkerReplicas: groups.reduce((n, g) => n + (g.suspend === true ? 0 : typeof g.maxReplicas === 'number' ? g.maxReplicas : 2147483647), 0),
      availableWorkerReplicas: workers.filter((p) => map(p.status).phase === 'Running').length,
      readyWorkerReplicas: workers.filter(isReady).length,
      head: head ? {podName: head.metadata.name, podIP: map(head.status).podIP ?? '', serviceIP: map(head.status).podIP ?? '', serviceName: `${rc.metadata.name}-head-svc`} : {},
      conditions: [
        condition('HeadPodReady', headReady, headReady ? 'HeadPodRunningAndReady' : 'HeadPodNotFound'),
        condition('RayClusterProvisioned', provisioned, provisioned ? 'AllPodRunningAndReadyFirstTime' : 'RayClusterPodsProvisioning'),
      ],
    };
    const {lastUpdateTime: _a, observedGeneration: _b, ...comparable} = status;
    const {lastUpdateTime: _c, observedGeneration: _d, ...before} = old;
    if (JSON.stringify(comparable) === JSON.stringify(before)) return false;
    try {
      this.store.update(RAYCLUSTERS, {...rc, status: {...status, lastUpdateTime: now()}});
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    }
    return true;
  }

  /** A RayService: its RayCluster, made once, and named as pending; Serve never becomes ready here. */
  private reconcileService(namespace: string, name: string): boolean {
    const svc = this.store.get({resource: RAYSERVICES, namespace, name});
    if (!svc || svc.metadata.deletionTimestamp !== undefined) return false;
    const status = map(svc.status);
    const pending = map(status.pendingServiceStatus).rayClusterName;
    const active = map(status.activeServiceStatus).rayClusterName;
    const clusterName = typeof pending === 'string' && pending ? pending : typeof active === 'string' && active ? active : undefined;
    if (!clusterName) {
      const generated = this.store.generateName(`${name}-`);
      this.store.update(RAYSERVICES, {...svc, status: {...status, pendingServiceStatus: {rayClusterName: generated}, serviceStatus: 'NotRunning'}});
      return true;
    }
    if (this.store.get({resource: RAYCLUSTERS, namespace, name: clusterName})) return false;
    this.create(RAYCLUSTERS, {
      apiVersion: 'ray.io/v1',
      kind: 'RayCluster',
      metadata: {
        name: clusterName,
        namespace,
        labels: {...map(svc.metadata.labels), 'ray.io/originated-from-cr-name': name, 'ray.io/originated-from-crd': 'RayService'},
        annotations: {...map(svc.metadata.annotations), 'ray.io/kuberay-version': 'v1.5.0'},
        ownerReferences: [ownerReference(svc)],
      },
      spec: structuredClone(map(map(svc.spec).rayClusterConfig)),
    });
    return true;
  }
}
