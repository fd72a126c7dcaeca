import {describe, expect, it} from 'vitest';
import type {ClusterClient} from '../../../src/kube/client.js';
import type {KubeObject, Node, Pod} from '../../../src/kube/types.js';
import type {ClusterState} from '../../../src/reconcile/fleet-status.js';
import {groupStatus, type GroupStatus, type HeadServiceLook} from '../../../src/reconcile/group-status.js';
import type {GroupState, RemoteSide} from '../../../src/reconcile/group.js';
import type {ObservedCluster} from '../../../src/reconcile/observe.js';
import {clusterSnapshot, roomlessSnapshot, RoomUnread, unreadParts, type RoomPart} from '../../../src/placement/snapshot.js';
import {QuotaRoom, type Quota} from '../../../src/placement/preflight.js';
import {planPass} from '../../../src/reconcile/span.js';
import {templateHash} from '../../../src/kuberay/joins.js';

const NS = 'ml';
const UID = 'rc-uid';
const DELETED = '2025-01-01T00:00:00Z';
const READY = 'app-gpu-worker-bcdfg';
const UNREADY = 'app-gpu-worker-hldhl';

interface PodOptions {
  node?: string;
  gpu?: number;
  group?: string;
  /** A placeholder, Ready (its remote worker is) or not. */
  placeholder?: 'ready' | 'unready';
  /** The cluster id of a placeholder's twin. */
  remote?: string;
  /** The scheduler's verdict on an unbound pod; none when it has not looked yet. */
  unschedulable?: string;
  deleting?: boolean;
  phase?: string;
  /** A remote worker: carries the tool's remote labels. */
  remoteWorker?: boolean;
  /** The node the scheduler preempts pods on to make room for it. */
  nominated?: string;
}

/** A pod of the RayCluster "app" as the API would list it: only the fields status reads. */
function pod(name: string, type: 'head' | 'worker', o: PodOptions = {}): Pod {
  const labels: Record<string, string> = {'ray.io/cluster': 'app', 'ray.io/node-type': type, 'ray.io/group': type === 'head' ? 'headgroup' : (o.group ?? 'gpu')};
  if (o.placeholder) labels['superskyray.io/role'] = 'placeholder';
  if (o.remoteWorker) Object.assign(labels, {'superskyray.io/role': 'remote-worker', 'superskyray.io/raycluster-uid': UID});
  const requests: Record<string, string> = {cpu: '1', ...(o.gpu ? {'nvidia.com/gpu': String(o.gpu)} : {})};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      labels,
      ...(o.remote || o.placeholder
        ? {annotations: {...(o.remote ? {'superskyray.io/remote-cluster': o.remote} : {}), ...(o.placeholder ? {'superskyray.io/replaces': 'a-pending-worker'} : {})}}
        : {}),
      ...(o.placeholder ? {ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'app', uid: UID, controller: true}]} : {}),
      ...(o.deleting ? {deletionTimestamp: DELETED} : {}),
    },
    spec: {...(o.node ? {nodeName: o.node} : {}), containers: [{name: 'ray', resources: {requests: o.placeholder ? {cpu: '1m'} : requests}}]},
    status: {
      phase: o.phase ?? (o.node ? 'Running' : 'Pending'),
      ...(o.unschedulable ? {conditions: [{type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: o.unschedulable}]} : {}),
      ...(o.placeholder ? {conditions: [{type: 'Ready', status: o.placeholder === 'ready' ? 'True' : 'False'}]} : {}),
      ...(o.nominated ? {nominatedNodeName: o.nominated} : {}),
    },
  };
}

const gpuNode = (name: string, gpus: number): Node => ({
  metadata: {name},
  status: {allocatable: {cpu: '16', memory: '64Gi', 'nvidia.com/gpu': String(gpus), pods: '110'}, conditions: [{type: 'Ready', status: 'True'}]},
});

const service = (name: string, annotations: Record<string, string>, role?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {name, namespace: NS, annotations, ...(role ? {labels: {'superskyray.io/role': role}} : {})},
});
const configMap = (name: string): KubeObject => ({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name, namespace: NS, labels: {'superskyray.io/role': 'dependency-copy'}}});
const headCopy = () => service('app-head-svc', {'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'}, 'head-service-copy');

/** One fleet cluster: answered (with its nodes and every pod on it) or not. */
function cluster(context: string, priority: number, o: {nodes?: Node[]; pods?: Pod[]; state?: ClusterState} = {}): ObservedCluster {
  const state = o.state ?? 'Ready';
  const id = `${context}-id`;
  const client = {context} as ClusterClient;
  if (state !== 'Ready') {
    return {client, status: {context, server: 'https://127.0.0.1:1', state, problems: [{reason: 'ConnectionRefused', message: 'connection refused'}]}};
  }
  return {
    client,
    status: {context, server: 'https://127.0.0.1:1', state, problems: [], clusterId: id},
    snapshot: clusterSnapshot({id, name: context, priority}, o.nodes ?? [], o.pods ?? []),
  };
}

interface Fixture {
  /** Pods of the RayCluster at home, head included. */
  home: Pod[];
  homeNodes?: Node[];
  remotes?: Array<{context: string; workers?: Pod[]; others?: Pod[]; copies?: KubeObject[]; nodes?: Node[]; state?: ClusterState; observed?: boolean}>;
  /** The group's RayClusters at home besides "app". */
  siblings?: Array<{name: string; uid: string}>;
  workerGroups?: Array<{groupName: string; replicas: number; scaleStrategy?: {workersToDelete: string[]}}>;
  autoscaling?: boolean;
  /** The RayCluster's rayVersion; 2.60.0 (autoscaler v2 by default) unless given. */
  rayVersion?: string;
  policy?: string;
  /** The context the group relocates to: its Ray object exists there too. */
  relocatingTo?: string;
}

/** The mesh as observeGroup reads it from the policy. */
function meshOf(policy: string | undefined): GroupState['mesh'] {
  try {
    return (JSON.parse(policy ?? '{}') as {mesh?: GroupState['mesh']}).mesh ?? 'cilium';
  } catch {
    return 'cilium';
  }
}

function state(f: Fixture): GroupState {
  const home = cluster('onprem', 3, {nodes: f.homeNodes ?? [gpuNode('onprem-0', 1)], pods: f.home});
  const others = (f.remotes ?? []).map((r, i) => ({r, o: cluster(r.context, 2 - i, {nodes: r.nodes, pods: r.workers, state: r.state})}));
  const remotes: RemoteSide[] = others.map(({r, o}) => ({
    cluster: o,
    observed: r.observed ?? o.snapshot !== undefined,
    workers: r.workers ?? [],
    others: r.others ?? [],
    copies: r.copies ?? [],
  }));
  return {
    name: 'app',
    kind: 'RayCluster',
    namespace: NS,
    home,
    object: {apiVersion: 'ray.io/v1', kind: 'RayCluster', metadata: {name: 'app', namespace: NS, annotations: f.policy !== undefined ? {'superskyray.io/policy': f.policy} : {}}},
    rayCluster: {
      apiVersion: 'ray.io/v1',
      kind: 'RayCluster',
      metadata: {name: 'app', uid: UID},
      spec: {rayVersion: f.rayVersion ?? '2.60.0', enableInTreeAutoscaling: f.autoscaling ?? false, workerGroupSpecs: (f.workerGroups ?? [{groupName: 'gpu', replicas: 2}]).map((g) => ({template: {spec: {containers: [{name: 'ray'}]}}, ...g}))},
    },
    mesh: meshOf(f.policy),
    autoscaling: f.autoscaling ?? false,
    // Each test hands groupStatus the head Service it means.
    homeHead: {read: false, problem: 'given to groupStatus instead'},
    placeholderBudget: (f.home ?? []).some((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder'),
    homePods: f.home,
    remotes,
    rayClusters: [{name: 'app', uid: UID, headService: 'app-head-svc'}, ...(f.siblings ?? []).map((rc) => ({...rc, headService: `${rc.name}-head-svc`}))],
    copySources: [],
    fleet: [home, ...others.map(({o}) => o)],
    ...(f.relocatingTo
      ? {relocation: {target: others.find(({o}) => o.client.context === f.relocatingTo)!.o, object: {apiVersion: 'ray.io/v1', kind: 'RayCluster', metadata: {name: 'app'}}}}
      : {}),
  };
}

const globalHead: HeadServiceLook = {read: true, service: service('app-head-svc', {'service.cilium.io/global': 'true'})};
const plainHead: HeadServiceLook = {read: true, service: service('app-head-svc', {})};

const head = () => pod('app-head-x7k2p', 'head', {node: 'onprem-0'});

/** The counts per cluster and worker group, one line each, as a person would read them. */
function counts(s: GroupStatus): string[] {
  return s.clusters.flatMap((c) => {
    if (!c.workers) return [`${c.context} ${c.state} unknown`];
    return c.workers.map((w) =>
      c.home
        ? `${c.context} ${c.state} ${w.workerGroup} local=${w.local} pending=${w.pending} placeholders=${w.placeholders}`
        : `${c.context} ${c.state} ${w.workerGroup} remote=${w.remote}`,
    );
  });
}

describe('groupStatus: mode and counts', () => {
  const cases: Array<{name: string; fixture: Fixture; head?: HeadServiceLook; mode: GroupStatus['mode']; want: string[]}> = [
    {
      name: 'everything at home is single, with the other cluster answering and holding nothing',
      fixture: {
        home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0'}), pod('app-gpu-worker-bbbbb', 'worker', {node: 'onprem-0'})],
        remotes: [{context: 'cloud'}],
      },
      mode: 'single',
      want: ['onprem Ready gpu local=2 pending=0 placeholders=0', 'cloud Ready gpu remote=0'],
    },
    {
      name: 'a Pending worker alone does not make it spanned',
      fixture: {home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0', gpu: 1}), pod('app-gpu-worker-ppppp', 'worker', {gpu: 1})], remotes: [{context: 'cloud'}]},
      mode: 'single',
      want: ['onprem Ready gpu local=1 pending=1 placeholders=0', 'cloud Ready gpu remote=0'],
    },
    {
      name: 'a placeholder at home and its remote worker make it spanned',
      fixture: {
        autoscaling: true,
        home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0'}), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
        remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies: [headCopy()], nodes: [gpuNode('cloud-0', 4)]}],
      },
      head: globalHead,
      mode: 'spanned',
      // The placeholder is bound (a pause pod runs at home) and still counts as a placeholder, not as local.
      want: ['onprem Ready gpu local=1 pending=0 placeholders=1', 'cloud Ready gpu remote=1'],
    },
    {
      name: 'a held placeholder is enough to know it is spanned when its twin cluster does not answer, which is never shown as zero',
      fixture: {
        home: [head(), pod(UNREADY, 'worker', {placeholder: 'unready', remote: 'cloud-id'})],
        remotes: [{context: 'cloud', state: 'Unreachable'}],
      },
      head: globalHead,
      mode: 'spanned',
      want: ['onprem Ready gpu local=0 pending=0 placeholders=1', 'cloud Unreachable unknown'],
    },
    {
      name: 'a remote worker without a placeholder still makes it spanned',
      fixture: {home: [head()], remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies: [headCopy()]}]},
      head: globalHead,
      mode: 'spanned',
      want: ['onprem Ready gpu local=0 pending=0 placeholders=0', 'cloud Ready gpu remote=1'],
    },
    {
      name: 'a cluster that answered the fleet but not the group is degraded, not empty',
      fixture: {home: [head()], remotes: [{context: 'cloud', observed: false}]},
      mode: 'single',
      want: ['onprem Ready gpu local=0 pending=0 placeholders=0', 'cloud Degraded unknown'],
    },
    {
      name: 'worker groups come in spec order, then any seen only on pods',
      fixture: {
        workerGroups: [{groupName: 'gpu', replicas: 1}, {groupName: 'cpu', replicas: 0}],
        home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0'}), pod('app-old-worker-aaaaa', 'worker', {group: 'old', node: 'onprem-0'})],
      },
      mode: 'single',
      want: ['onprem Ready gpu local=1 pending=0 placeholders=0', 'onprem Ready cpu local=0 pending=0 placeholders=0', 'onprem Ready old local=1 pending=0 placeholders=0'],
    },
  ];

  it.each(cases)('$name', ({fixture, head: look, mode, want}) => {
    const s = groupStatus(state(fixture), look ?? plainHead);
    expect(s.mode).toBe(mode);
    expect(counts(s)).toEqual(want);
  });

  it('is relocating while its Ray object also exists in the cluster it moves to, spanned or not', () => {
    const s = groupStatus(
      state({
        autoscaling: true,
        home: [head(), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
        remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies: [headCopy()]}, {context: 'big'}],
        relocatingTo: 'big',
      }),
      globalHead,
    );
    expect(s).toMatchObject({mode: 'relocating', relocatingTo: 'big', home: 'onprem'});
    expect(groupStatus(state({home: [head()]}), plainHead)).not.toHaveProperty('relocatingTo');
  });

  it('names the home, the live RayCluster, the head pod and the desired replicas', () => {
    const s = groupStatus(state({home: [head()], workerGroups: [{groupName: 'gpu', replicas: 3}]}), plainHead);
    expect(s).toMatchObject({
      group: 'app',
      kind: 'RayCluster',
      namespace: NS,
      home: 'onprem',
      homeClusterId: 'onprem-id',
      rayCluster: 'app',
      head: {name: 'app-head-x7k2p', phase: 'Running', node: 'onprem-0'},
      workerGroups: [{name: 'gpu', replicas: 3}],
    });
    expect(s.clusters[0]?.home).toBe(true);
  });

  it("names the group's other RayClusters, the one that exists and the one gone, with their remote workers per cluster", () => {
    const of = (name: string, cluster: string) => {
      const p = pod(name, 'worker', {node: 'cloud-0', remoteWorker: true});
      p.metadata!.labels!['ray.io/cluster'] = cluster;
      return p;
    };
    const s = groupStatus(
      state({home: [head()], siblings: [{name: 'svc-new', uid: 'new-uid'}], remotes: [{context: 'cloud', others: [of('n1', 'svc-new'), of('n2', 'svc-new'), of('o1', 'svc-old')]}]}),
      plainHead,
    );
    expect(s.otherRayClusters).toEqual([
      {name: 'svc-new', exists: true, remote: [{context: 'cloud', workers: 2}]},
      {name: 'svc-old', exists: false, remote: [{context: 'cloud', workers: 1}]},
    ]);
    // The live RayCluster's counts are its own.
    expect(s.clusters[1]?.workers).toEqual([{workerGroup: 'gpu', remote: 0, running: 0}]);
  });

  it('desires what KubeRay will run: replicas held within minReplicas and maxReplicas', () => {
    const capped = groupStatus(state({home: [head()], workerGroups: [{groupName: 'gpu', replicas: 9, maxReplicas: 4} as never, {groupName: 'cpu', replicas: 0, minReplicas: 2} as never]}), plainHead);
    expect(capped.workerGroups).toEqual([{name: 'gpu', replicas: 4}, {name: 'cpu', replicas: 2}]);
  });
});

describe('groupStatus: mesh and Services', () => {
  it.each([
    {policy: undefined, mesh: 'cilium', relocate: 'if-fits', warnings: []},
    {policy: JSON.stringify({fleet: ['onprem-id'], relocate: 'never', mesh: 'endpoints'}), mesh: 'endpoints', relocate: 'never', warnings: []},
    {policy: JSON.stringify({fleet: ['onprem-id'], relocate: 'never'}), mesh: 'cilium', relocate: 'never', warnings: []},
    {
      policy: '{not json',
      mesh: 'cilium',
      relocate: 'if-fits',
      warnings: ['the superskyray.io/policy annotation of raycluster/app is not JSON; assuming mesh cilium and relocate if-fits'],
    },
    {
      policy: JSON.stringify({mesh: 'carrier-pigeon'}),
      mesh: 'carrier-pigeon',
      relocate: 'if-fits',
      warnings: ['the policy of raycluster/app names mesh "carrier-pigeon", which this version does not know'],
    },
  ])('policy $policy: mesh $mesh, relocate $relocate', ({policy, mesh, relocate, warnings}) => {
    const s = groupStatus(state({home: [head()], policy}), plainHead);
    expect(s).toMatchObject({mesh, relocate, warnings});
  });

  it('counts the workers in phase Running: local ones at home, remote ones in their cluster', () => {
    const s = groupStatus(
      state({
        home: [
          pod('app-head-x7k2p', 'head', {node: 'onprem-0'}),
          pod('app-gpu-worker-a', 'worker', {node: 'onprem-0'}),
          pod('app-gpu-worker-b', 'worker', {node: 'onprem-0', phase: 'Pending'}),
          pod(UNREADY, 'worker', {placeholder: 'unready', remote: 'cloud-id'}),
        ],
        remotes: [{context: 'cloud', workers: [pod(UNREADY, 'worker', {node: 'cloud-0', remoteWorker: true, phase: 'Pending'})], copies: [headCopy()]}],
      }),
      globalHead,
    );
    expect(s.clusters.map((c) => c.workers)).toEqual([
      [{workerGroup: 'gpu', local: 2, pending: 0, placeholders: 1, running: 1}],
      [{workerGroup: 'gpu', remote: 1, running: 0}],
    ]);
  });

  it.each([
    {autoscaling: true, warned: true},
    {autoscaling: false, warned: false},
  ])('says why a drain of a cordoned node waits on a placeholder (autoscaling: $autoscaling)', ({autoscaling, warned}) => {
    const cordoned: Node = {...gpuNode('onprem-0', 1), spec: {unschedulable: true}};
    const s = groupStatus(
      state({
        autoscaling,
        homeNodes: [cordoned],
        home: [head(), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
        remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies: [headCopy()]}],
      }),
      globalHead,
    );
    const warning = `placeholder ${READY} is on cordoned node onprem-0, and its budget keeps a drain from evicting it: autoscaler v2 would lose track of remote worker ${READY} if it moved; the node drains once the autoscaler scales ${READY} in`;
    expect(s.warnings.includes(warning)).toBe(warned);
  });

  it('lists the home head Service with its global annotation, and the copies in each cluster that answered', () => {
    const s = groupStatus(
      state({
        autoscaling: true,
        home: [head(), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
        remotes: [
          {context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies: [headCopy(), configMap('app-config')]},
          {context: 'edge', state: 'Unreachable'},
        ],
      }),
      globalHead,
    );
    expect(s.clusters.map((c) => [c.context, c.objects])).toEqual([
      ['onprem', [{object: 'service/app-head-svc', role: 'home head Service', global: 'true'}]],
      [
        'cloud',
        [
          {object: 'service/app-head-svc', role: 'head-Service copy', global: 'true', shared: 'false'},
          {object: 'configmap/app-config', role: 'dependency copy'},
        ],
      ],
      ['edge', undefined],
    ]);
    expect(s.warnings).toEqual([]);
  });

  it.each([
    {
      name: 'a spanned group whose home head Service is not global under cilium',
      head: plainHead,
      copies: [headCopy()],
      warning: /the head Service app-head-svc in onprem is not annotated service\.cilium\.io\/global: "true"/,
    },
    {name: 'remote workers without a head-Service copy', head: globalHead, copies: [], warning: /^cloud runs remote workers of app but has no head-Service copy/},
    {name: 'a missing home head Service', head: {read: true} as HeadServiceLook, copies: [headCopy()], warning: /^the head Service app-head-svc is missing in onprem: no worker can reach the head$/},
  ])('warns about $name', ({head: look, copies, warning}) => {
    const s = groupStatus(
      state({
        autoscaling: true,
        home: [head(), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
        remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies}],
      }),
      look,
    );
    expect(s.warnings).toEqual([expect.stringMatching(warning)]);
  });

  it('shows the selectorless copy and its EndpointSlice under endpoints, and wants the Service, not just the slice', () => {
    const slice: KubeObject = {apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: {name: 'app-head-svc-superskyray', namespace: NS, labels: {'superskyray.io/role': 'head-service-copy'}}};
    const fixture = (copies: KubeObject[]): Fixture => ({
      autoscaling: true,
      policy: JSON.stringify({mesh: 'endpoints'}),
      home: [head(), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
      remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies}],
    });
    const s = groupStatus(state(fixture([service('app-head-svc', {}, 'head-service-copy'), slice])), plainHead);
    expect(s.clusters[1]?.objects).toEqual([
      {object: 'service/app-head-svc', role: 'head-Service copy'},
      {object: 'endpointslice/app-head-svc-superskyray', role: 'head-Service copy'},
    ]);
    expect(s.warnings).toEqual([]);
    expect(groupStatus(state(fixture([slice])), plainHead).warnings).toEqual([expect.stringMatching(/^cloud runs remote workers of app but has no head-Service copy/)]);
  });

  it('asks for no head-Service copy under mcs, which reaches the head through a ServiceExport', () => {
    const s = groupStatus(
      state({
        autoscaling: true,
        policy: JSON.stringify({mesh: 'mcs'}),
        home: [head(), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
        remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})]}],
      }),
      plainHead,
    );
    expect(s).toMatchObject({mode: 'spanned', mesh: 'mcs', warnings: []});
  });

  it('calls the home degraded when its head Service could not be read, rather than saying it has none', () => {
    const s = groupStatus(state({home: [head()]}), {read: false, problem: 'services "app-head-svc" is forbidden'});
    expect(s.clusters[0]).toMatchObject({
      state: 'Degraded',
      problems: [{reason: 'HeadServiceUnread', message: 'the head Service app-head-svc could not be read: services "app-head-svc" is forbidden'}],
    });
    expect(s.clusters[0]?.objects).toBeUndefined();
    expect(s.clusters[0]?.workers).toHaveLength(1);
  });
});

describe('groupStatus: placeholders and Pending workers', () => {
  const NO_GPU = '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.';
  const spanned = (): Fixture => ({
    autoscaling: true,
    workerGroups: [{groupName: 'gpu', replicas: 5}],
    // onprem-0 has one GPU, taken by the local worker.
    home: [
      head(),
      pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0', gpu: 1}),
      pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'}),
      pod('app-gpu-worker-fitsc', 'worker', {gpu: 1, unschedulable: NO_GPU}),
      pod('app-gpu-worker-toobg', 'worker', {gpu: 8, unschedulable: NO_GPU}),
      pod('app-gpu-worker-fresh', 'worker', {gpu: 1}),
    ],
    remotes: [
      // cloud-0 has four GPUs, one taken by the remote worker.
      {context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0', gpu: 1})], copies: [headCopy()], nodes: [gpuNode('cloud-0', 4)]},
      {context: 'edge', state: 'Unreachable'},
    ],
  });

  it('names each placeholder, whether KubeRay sees it Ready, and where and how its twin runs', () => {
    const fixture: Fixture = {
      home: [
        head(),
        pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'}),
        pod(UNREADY, 'worker', {placeholder: 'unready', remote: 'cloud-id'}),
        pod('app-gpu-worker-lostt', 'worker', {placeholder: 'unready', remote: 'edge-id'}),
        pod('app-gpu-worker-nowhr', 'worker', {placeholder: 'unready', remote: 'gone-id'}),
      ],
      remotes: [
        {context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0'})], copies: [headCopy()], nodes: [gpuNode('cloud-0', 4)]},
        {context: 'edge', state: 'Unreachable'},
      ],
    };
    expect(groupStatus(state(fixture), globalHead).placeholders).toEqual([
      {name: READY, workerGroup: 'gpu', ready: true, twinIn: 'cloud', twin: 'Running'},
      {name: UNREADY, workerGroup: 'gpu', ready: false, twinIn: 'cloud', twin: 'missing'},
      // A cluster that does not answer does not say its id either: the id is all there is to show.
      {name: 'app-gpu-worker-lostt', workerGroup: 'gpu', ready: false, twinIn: 'edge-id', twin: 'unknown'},
      {name: 'app-gpu-worker-nowhr', workerGroup: 'gpu', ready: false, twinIn: 'gone-id', twin: 'unknown'},
    ]);
  });

  it('says why each Pending worker waits: where span moves it, why it fits nowhere, or why it is not judged yet', () => {
    const s = groupStatus(state(spanned()), globalHead);
    expect(s.pending).toEqual([
      {
        name: 'app-gpu-worker-fitsc',
        workerGroup: 'gpu',
        spanTo: 'cloud',
        reason: 'onprem/onprem-0: needs nvidia.com/gpu 1, free 0; fits cloud, so span moves it there',
      },
      {
        name: 'app-gpu-worker-toobg',
        workerGroup: 'gpu',
        // cloud-0's fourth GPU went to the worker before it in this same pass.
        reason: 'onprem/onprem-0: needs nvidia.com/gpu 8, free 0; fits no other cluster either: cloud/cloud-0: needs nvidia.com/gpu 8, free 2',
      },
      {name: 'app-gpu-worker-fresh', workerGroup: 'gpu', reason: 'the scheduler of onprem has not looked at it yet'},
    ]);
    expect(counts(s)).toEqual(['onprem Ready gpu local=1 pending=3 placeholders=1', 'cloud Ready gpu remote=1', 'edge Unreachable unknown']);
    expect(s.repairs).toEqual([]);
  });

  it('never plans to span a Pending worker of a group on autoscaler v1, and says why', () => {
    const fixture: Fixture = {
      home: [head(), pod('app-gpu-worker-fitsc', 'worker', {gpu: 1, unschedulable: 'x'})],
      remotes: [{context: 'cloud', nodes: [gpuNode('cloud-0', 4)]}],
      autoscaling: true,
      rayVersion: '2.46.0',
    };
    const [pending] = groupStatus(state(fixture), plainHead).pending;
    expect(pending?.spanTo).toBeUndefined();
    expect(pending?.reason).toBe(
      'onprem: x; not spanned: raycluster/app in context "onprem" runs the Ray autoscaler v1 (Ray 2.46.0 defaults to v1; v2 is the default from Ray 2.48), which matches Ray nodes to pods by IP: it would never scale in a worker spanned to another cluster',
    );
    // The same group on v2 goes to cloud.
    expect(groupStatus(state({...fixture, rayVersion: '2.48.0'}), plainHead).pending[0]?.spanTo).toBe('cloud');
  });

  it('leaves a Pending worker with a nominated node at home: the scheduler means to run it there', () => {
    const fixture: Fixture = {
      home: [head(), pod('app-gpu-worker-nomin', 'worker', {gpu: 1, unschedulable: NO_GPU, nominated: 'onprem-0'})],
      remotes: [{context: 'cloud', nodes: [gpuNode('cloud-0', 4)]}],
    };
    expect(groupStatus(state(fixture), plainHead).pending).toEqual([
      {name: 'app-gpu-worker-nomin', workerGroup: 'gpu', reason: 'onprem: nominated to run on node onprem-0 (the scheduler is making room there), so it stays'},
    ]);
    // Without the nomination, the same worker goes to cloud.
    fixture.home[1]!.status!.nominatedNodeName = undefined;
    expect(groupStatus(state(fixture), plainHead).pending[0]?.spanTo).toBe('cloud');
  });

  it('counts the Pending pods ahead of a worker when the bound ones alone leave room', () => {
    const fixture: Fixture = {
      home: [head(), pod('app-gpu-worker-first', 'worker', {gpu: 1, unschedulable: 'x'}), pod('app-gpu-worker-secnd', 'worker', {gpu: 1, unschedulable: 'y'})],
    };
    const [first, second] = groupStatus(state(fixture), plainHead).pending;
    // No other cluster: nothing to span to, and the home's own reason first.
    expect(first?.reason).toBe('onprem/onprem-0: needs nvidia.com/gpu 1, free 0 (after the Pending pods ahead of it); fits no other cluster either: no other cluster of the fleet answered');
    expect(second?.reason).toMatch(/^onprem\/onprem-0: needs nvidia\.com\/gpu 1, free 0 \(after the Pending pods ahead of it\)/);
  });

  it('falls back on the scheduler\'s words when the node model sees room', () => {
    const fixture: Fixture = {home: [head(), pod('app-gpu-worker-affin', 'worker', {unschedulable: '0/1 nodes are available: 1 node(s) didn\'t match pod anti-affinity rules.'})]};
    expect(groupStatus(state(fixture), plainHead).pending[0]?.reason).toMatch(/^onprem: 0\/1 nodes are available: 1 node\(s\) didn't match pod anti-affinity rules\.; fits no other cluster/);
  });

  it('says a Pending worker named in workersToDelete is on its way out', () => {
    const fixture: Fixture = {
      workerGroups: [{groupName: 'gpu', replicas: 1, scaleStrategy: {workersToDelete: ['app-gpu-worker-doomd']}}],
      home: [head(), pod('app-gpu-worker-doomd', 'worker', {gpu: 1, unschedulable: NO_GPU})],
      remotes: [{context: 'cloud', nodes: [gpuNode('cloud-0', 4)]}],
    };
    expect(groupStatus(state(fixture), plainHead).pending).toEqual([
      {name: 'app-gpu-worker-doomd', workerGroup: 'gpu', reason: 'named in workersToDelete: KubeRay removes it'},
    ]);
  });

  it('lists the repairs a span would make, such as copies left after a collapse, and stays single', () => {
    const s = groupStatus(state({home: [head()], remotes: [{context: 'cloud', copies: [headCopy()]}]}), globalHead);
    expect(s.mode).toBe('single');
    expect(s.repairs).toEqual([
      {action: 'delete-copy', object: 'service/app-head-svc', context: 'cloud', why: 'no remote worker of the group is left in that cluster'},
    ]);
  });

  it('never changes the state it is given', () => {
    const st = state(spanned());
    const before = JSON.stringify(st, (k, v) => (k === 'client' ? undefined : v));
    groupStatus(st, globalHead);
    expect(JSON.stringify(st, (k, v) => (k === 'client' ? undefined : v))).toBe(before);
  });

  describe('reads the room (nodes, then pods) only when something asks for it', () => {
    /** status's loop: roomless snapshots, and each part filled in from the full ones when it is asked for. */
    function lookLikeStatus(full: GroupState, headLook: HeadServiceLook): {status: GroupStatus; read: RoomPart[]} {
      const fleet = full.fleet.map((o) => ({...o, ...(o.snapshot ? {snapshot: roomlessSnapshot(o.snapshot)} : {})}));
      const twin = (o: ObservedCluster) => fleet[full.fleet.indexOf(o)]!;
      const st: GroupState = {...full, fleet, home: twin(full.home), remotes: full.remotes.map((r) => ({...r, cluster: twin(r.cluster)}))};
      const read: RoomPart[] = [];
      for (;;) {
        try {
          return {status: groupStatus(st, headLook), read};
        } catch (err) {
          if (!(err instanceof RoomUnread) || read.includes(err.part)) throw err;
          read.push(err.part);
          fleet.forEach((o, i) => {
            const whole = full.fleet[i]!.snapshot;
            if (!o.snapshot || !whole) return;
            const known = Object.fromEntries((['nodes', 'pods'] as const).filter((p) => p === err.part || !unreadParts(o.snapshot!).includes(p)).map((p) => [p, whole[p]]));
            o.snapshot = roomlessSnapshot(whole, known);
          });
        }
      }
    }

    const manual = (): Fixture => ({
      workerGroups: [{groupName: 'gpu', replicas: 2}],
      home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0', gpu: 1}), pod(READY, 'worker', {placeholder: 'ready', remote: 'cloud-id', node: 'onprem-0'})],
      remotes: [{context: 'cloud', workers: [pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0', gpu: 1})], copies: [headCopy()], nodes: [gpuNode('cloud-0', 4)]}],
    });
    const cases: Array<{name: string; fixture: Fixture; read: RoomPart[]}> = [
      {name: 'a group at home with nothing Pending: none', fixture: {home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0', gpu: 1})]}, read: []},
      {name: 'a spanned group of fixed size with nothing Pending: none', fixture: manual(), read: []},
      {name: 'an autoscaled spanned group: the nodes, for a cordoned placeholder', fixture: {...manual(), autoscaling: true}, read: ['nodes']},
      {name: 'Pending workers: both, for where they would go', fixture: spanned(), read: ['nodes', 'pods']},
    ];
    it.each(cases)('$name', ({fixture, read}) => {
      const full = state(fixture);
      const looked = lookLikeStatus(full, globalHead);
      expect(looked.read).toEqual(read);
      expect(looked.status).toEqual(groupStatus(full, globalHead));
    });
  });
});

describe("planPass with the preflight's checks of the clusters workers could go to", () => {
  const NO_GPU = '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.';
  const twoFit = (): Fixture => ({
    workerGroups: [{groupName: 'gpu', replicas: 3}],
    home: [head(), pod('app-gpu-worker-aaaaa', 'worker', {node: 'onprem-0', gpu: 1}), pod('app-gpu-worker-fitsa', 'worker', {gpu: 1, unschedulable: NO_GPU}), pod('app-gpu-worker-fitsb', 'worker', {gpu: 1, unschedulable: NO_GPU})],
    remotes: [
      {context: 'cloud', nodes: [gpuNode('cloud-0', 4)]},
      {context: 'edge', nodes: [gpuNode('edge-0', 4)]},
    ],
  });
  const check = (refusals: string[], quota: Quota[] = []) => ({refusals: new Map([['gpu', refusals]]), quota: new QuotaRoom(quota)});

  it('skips a cluster the preflight refused, saying why, and moves the workers to the next', () => {
    const pass = planPass(state(twoFit()), {random: () => 0, checks: new Map([['cloud-id', check(['PriorityClass batch is not there in cloud'])]])});
    expect(pass.skipped).toEqual([{context: 'cloud', reasons: ['PriorityClass batch is not there in cloud']}]);
    expect(pass.moves.map((m) => m.to)).toEqual(['edge', 'edge']);
    expect(pass.noTarget).toBeUndefined();
  });

  it('moves nothing when every cluster is refused, and says so for the command to refuse', () => {
    const checks = new Map([
      ['cloud-id', check(['PriorityClass batch is not there in cloud'])],
      ['edge-id', check(['a dry-run create of a remote worker is refused in edge: violates PodSecurity "restricted:latest"'])],
    ]);
    const pass = planPass(state(twoFit()), {random: () => 0, checks});
    expect(pass.moves).toEqual([]);
    expect(pass.noTarget?.pending).toEqual(['app-gpu-worker-fitsa', 'app-gpu-worker-fitsb']);
    expect(pass.noTarget?.message).toBe(
      'no cluster of the fleet may run the remote workers of raycluster/app in context "onprem": cloud: PriorityClass batch is not there in cloud; edge: a dry-run create of a remote worker is refused in edge: violates PodSecurity "restricted:latest"',
    );
    expect(pass.stuck.map((s) => s.pending)).toEqual(['app-gpu-worker-fitsa', 'app-gpu-worker-fitsb']);
  });

  it('does not send a worker, in the same pass, to where a remote worker of its group is given up on', () => {
    const fixture = twoFit();
    const stuck = pod(READY, 'worker', {remoteWorker: true, node: 'cloud-0', gpu: 1});
    stuck.metadata!.creationTimestamp = new Date(Date.now() - 600_000).toISOString();
    stuck.status = {phase: 'Pending', containerStatuses: [{name: 'ray', state: {waiting: {reason: 'ImagePullBackOff'}}}]};
    fixture.home.push(pod(READY, 'worker', {placeholder: 'unready', remote: 'cloud-id', node: 'onprem-0'}));
    fixture.remotes![0]!.workers = [stuck];
    const pass = planPass(state(fixture), {random: () => 0, to: 'cloud'});
    expect(pass.repairs.map((r) => r.do)).toContain('give-up');
    expect(pass.moves).toEqual([]);
    expect(pass.stuck[0]?.reason).toBe('cloud: a remote worker of group gpu is given up on there in this pass');
  });

  it("refuses a cluster for one worker group only: the group it may run still goes there", () => {
    const fixture = twoFit();
    fixture.workerGroups = [{groupName: 'gpu', replicas: 3}, {groupName: 'cpu', replicas: 1}];
    fixture.home.push(pod('app-cpu-worker-movee', 'worker', {group: 'cpu', unschedulable: NO_GPU}));
    const checks = new Map([['cloud-id', {refusals: new Map([['gpu', ['the workers mount PersistentVolumeClaim(s) datasets']], ['cpu', []]]), quota: new QuotaRoom([])}]]);
    const pass = planPass(state(fixture), {random: () => 0, to: 'cloud', checks});
    expect(pass.moves.map((m) => `${m.workerGroup}->${m.to}`)).toEqual(['cpu->cloud']);
    expect(pass.noTarget).toBeUndefined();
    expect(pass.stuck.map((s) => s.reason)).toEqual(['cloud is skipped: the workers mount PersistentVolumeClaim(s) datasets', 'cloud is skipped: the workers mount PersistentVolumeClaim(s) datasets']);
    expect(pass.skipped).toEqual([{context: 'cloud', reasons: ['worker group gpu: the workers mount PersistentVolumeClaim(s) datasets']}]);
  });

  it("takes each cluster's quota worker by worker: the worker past it goes to the next cluster", () => {
    const full = [{name: 'team', hard: {pods: '1'}, used: {pods: '0'}, scoped: false}];
    const pass = planPass(state(twoFit()), {random: () => 0, checks: new Map([['cloud-id', check([], full)], ['edge-id', check([], full)]])});
    expect(pass.moves.map((m) => m.to)).toEqual(['cloud', 'edge']);
    const none = planPass(state(twoFit()), {random: () => 0, to: 'cloud', checks: new Map([['cloud-id', check([], full)]])});
    expect(none.moves.map((m) => m.to)).toEqual(['cloud']);
    expect(none.stuck).toEqual([{pending: 'app-gpu-worker-fitsb', reason: 'cloud: ResourceQuota team has no room for another worker: pods would be 2 of 1 (1 used)'}]);
  });

  it('does not send a worker group again where one of its remote workers did not join under the same template', () => {
    const barred = (template: string) => {
      const st = state(twoFit());
      const at = '2026-12-06T10:00:00Z';
      st.object.metadata!.annotations = {'superskyray.io/not-joined': JSON.stringify({gpu: {'cloud-id': {template, reason: 'container ray is ImagePullBackOff', at}}})};
      return st;
    };
    const hash = templateHash({template: {spec: {containers: [{name: 'ray'}]}}});
    expect(planPass(barred(hash), {random: () => 0}).moves.map((m) => m.to)).toEqual(['edge', 'edge']);
    const onlyCloud = planPass(barred(hash), {random: () => 0, to: 'cloud'});
    expect(onlyCloud.moves).toEqual([]);
    expect(onlyCloud.stuck[0]?.reason).toBe("cloud: a remote worker of group gpu did not join there at 2026-12-06T10:00:00Z (container ray is ImagePullBackOff), and it is not tried again until the group's template changes");
    // A changed template is tried there again.
    expect(planPass(barred('an-older-one'), {random: () => 0, to: 'cloud'}).moves.map((m) => m.to)).toEqual(['cloud', 'cloud']);
  });

  it('says what the remote worker leaves out of the Pending worker as admitted at home', () => {
    const fixture = twoFit();
    fixture.home[2]!.spec!.containers.push({name: 'istio-proxy', resources: {requests: {cpu: '100m'}}});
    const pass = planPass(state(fixture), {random: () => 0});
    expect(pass.moves[0]?.leftOut).toEqual(["container(s) istio-proxy: not in the worker group's template (injected at home by admission)"]);
    expect(pass.moves[1]?.leftOut).toEqual([]);
  });
});
