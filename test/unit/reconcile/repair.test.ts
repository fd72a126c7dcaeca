import {describe, expect, it} from 'vitest';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {leftoverRepairs, repairs, type GroupView, type RemoteView, type Repair} from '../../../src/reconcile/repair.js';

const UID = 'rc-uid';
const DELETED = '2025-01-01T00:00:00Z';
const NOW = Date.parse('2025-01-01T01:00:00Z');
const OWNER = [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'app', uid: UID, controller: true}];

interface PodOptions {
  deleting?: boolean;
  node?: string;
  phase?: string;
  nominated?: string;
  group?: string;
  /** Ready (remote workers), or the readiness gate's condition (placeholders; undefined: not written yet). */
  ready?: boolean;
  /** The superskyray.io/raycluster-uid label of a remote worker. */
  uid?: string;
}

/** A pod as KubeRay counts it: only the fields repairs() reads. */
function basePod(name: string, o: PodOptions, labels: Record<string, string> = {}, annotations: Record<string, string> = {}, finalizers?: string[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ml',
      labels: {'ray.io/cluster': 'app', 'ray.io/group': o.group ?? 'gpu', 'ray.io/node-type': 'worker', ...labels},
      annotations,
      ownerReferences: OWNER,
      ...(finalizers ? {finalizers} : {}),
      ...(o.deleting ? {deletionTimestamp: DELETED} : {}),
    },
    spec: {containers: [{name: 'ray-worker'}], ...(o.node ? {nodeName: o.node} : {})},
    status: {
      phase: o.phase ?? (o.node ? 'Running' : 'Pending'),
      ...(o.nominated ? {nominatedNodeName: o.nominated} : {}),
      ...(o.ready !== undefined ? {conditions: [{type: 'Ready', status: o.ready ? 'True' : 'False'}]} : {}),
    },
  };
}

/** KubeRay's own worker at home: Pending unless given a node. */
const kuberayPod = (name: string, o: PodOptions = {}) => basePod(name, o);

/**
 * A Pending worker caught in a swap to `target` (name@cluster): `locked` has only the first write
 * (finalizer and target), `failed` is marked Failed too, `deleting` is Failed and deleted by KubeRay.
 */
function swapping(name: string, target: string, stage: 'locked' | 'failed' | 'deleting', finalizer = true): Pod {
  return basePod(
    name,
    {phase: stage === 'locked' ? 'Pending' : 'Failed', deleting: stage === 'deleting'},
    {},
    {'superskyray.io/swap-to': target},
    finalizer ? ['superskyray.io/swap'] : undefined,
  );
}

/** A placeholder bound at home, standing for a remote worker in `cluster`; `ready` is its gate's condition. */
function placeholder(name: string, cluster = 'cloud', o: PodOptions = {ready: true}): Pod {
  const p = basePod(name, {node: 'onprem-0', ...o, ready: undefined}, {'superskyray.io/role': 'placeholder'}, {'superskyray.io/remote-cluster': cluster});
  if (o.ready !== undefined) p.status!.conditions = [{type: 'superskyray.io/remote-worker-ready', status: o.ready ? 'True' : 'False'}];
  return p;
}

/** A remote worker of the current RayCluster, Running and Ready unless told otherwise. */
const worker = (name: string, o: PodOptions = {}) => basePod(name, {node: 'cloud-0', ready: true, ...o}, {'superskyray.io/raycluster-uid': o.uid ?? UID});

const copy = (kind: string, name: string, deleting = false): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: {name, namespace: 'ml', ...(deleting ? {deletionTimestamp: DELETED} : {})},
});
const headServiceCopy = (): KubeObject => ({...copy('Service', 'app-head-svc'), metadata: {name: 'app-head-svc', namespace: 'ml', labels: {'superskyray.io/role': 'head-service-copy'}}});

const remote = (id: string, workers: Pod[] = [], copies: KubeObject[] = [], observed = true, others: Pod[] = []): RemoteView => ({id, observed, workers, others, copies});

/** Home has room for placeholders on onprem-0, then onprem-1, unless `room` says how many. */
function view(v: Partial<GroupView> & {room?: number}): GroupView {
  const nodes = ['onprem-0', 'onprem-1'].slice(0, v.room ?? 2);
  const {room: _, ...rest} = v;
  return {
    autoscaling: false,
    rayClusterUid: UID,
    rayClusters: [{uid: UID, headService: 'app-head-svc'}],
    workerGroups: [{name: 'gpu', replicas: 2, workersToDelete: []}],
    homePods: [],
    remotes: [],
    bindPlaceholder: () => nodes.shift(),
    now: NOW,
    joinTimeoutMs: 300_000,
    ...rest,
  };
}

/** The observable plan: what is done, where, and to which object, in order. */
function plan(rs: Repair[]): string[] {
  return rs.map((r) => {
    switch (r.do) {
      case 'swap':
        return `swap ${r.pod.metadata?.name} -> ${r.target.name}@${r.target.cluster} [${r.steps.join(',')}]${r.node ? ` on ${r.node}` : ''}`;
      case 'delete-remote':
        return `delete-remote ${r.cluster} ${r.pod.metadata?.name}`;
      case 'set-ready':
        return `set-ready ${r.pod.metadata?.name} ${r.ready}`;
      case 'delete-copy':
      case 'close-copy':
        return `${r.do} ${r.cluster} ${r.object.kind}/${r.object.metadata?.name}`;
      case 'update-copy':
        return `update-copy ${r.cluster} ${r.object.kind}/${r.object.metadata?.name} to ${r.source.metadata?.resourceVersion}`;
      case 'clear-workers-to-delete':
        return `clear-workers-to-delete ${r.index} ${r.workerGroup}`;
      case 'update-endpoints':
        return `update-endpoints ${r.cluster} ${r.object.metadata?.name} ${r.ip}`;
      case 'make-head-local':
        return `make-head-local ${r.service}`;
      case 'make-budget':
      case 'delete-budget':
        return r.do;
      case 'give-up':
        return `give-up ${r.pod.metadata?.name} ${r.cluster} ${r.remote.metadata?.name}: ${r.reason}`;
      default:
        return `${r.do} ${r.pod.metadata?.name}`;
    }
  });
}

const W = 'app-gpu-worker-abcde';
const P = 'app-gpu-worker-pqrst';
const L = 'app-gpu-worker-local';

interface Case {
  name: string;
  view: GroupView;
  want: string[];
}

describe('repairs: a swap an earlier run was interrupted in resumes from the step it reached, or backs out', () => {
  const cases: Case[] = [
    {
      name: 'only the first write of the lock: the Pending worker is let go, as it was',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'locked')], remotes: [remote('cloud')]}),
      want: [`unlock ${W}`],
    },
    {
      name: 'marked Failed, not yet deleted by KubeRay: wait for the lock, then every step',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'failed')], remotes: [remote('cloud')]}),
      want: [`swap ${W} -> ${P}@cloud [await,placeholder,remote,unlock] on onprem-0`],
    },
    {
      name: 'locked (KubeRay deleted it): the placeholder, the remote worker, unlock',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting')], remotes: [remote('cloud')]}),
      want: [`swap ${W} -> ${P}@cloud [placeholder,remote,unlock] on onprem-0`],
    },
    {
      name: 'locked, the placeholder made: the remote worker, unlock',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting'), placeholder(P, 'cloud', {})], remotes: [remote('cloud')]}),
      want: [`swap ${W} -> ${P}@cloud [remote,unlock]`],
    },
    {
      name: 'locked, the placeholder and the remote worker made: unlock only, and the new placeholder is not judged yet',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting'), placeholder(P, 'cloud', {})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`swap ${W} -> ${P}@cloud [unlock]`],
    },
    {
      name: 'its target cluster does not answer: KubeRay\'s group is never left locked on it',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting')], remotes: [remote('cloud', [], [], false)]}),
      want: [`unlock ${W}`],
    },
    {
      name: 'no home node has room for the placeholder: back out, and KubeRay replaces the worker',
      view: view({room: 0, homePods: [swapping(W, `${P}@cloud`, 'deleting')], remotes: [remote('cloud')]}),
      want: [`unlock ${W}`],
    },
    {
      name: 'the placeholder\'s name is taken by a pod that is not a live placeholder: back out',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting'), placeholder(P, 'cloud', {deleting: true})], remotes: [remote('cloud')]}),
      want: [`unlock ${W}`],
    },
    {
      name: 'our finalizer without a target: unlock',
      view: view({homePods: [{...kuberayPod(W, {phase: 'Failed', deleting: true}), metadata: {...kuberayPod(W).metadata, deletionTimestamp: DELETED, finalizers: ['superskyray.io/swap']}}]}),
      want: [`unlock ${W}`],
    },
    {
      name: 'a target that was let go already (no finalizer) needs nothing: KubeRay deletes the Failed pod',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting', false)], remotes: [remote('cloud')]}),
      want: [],
    },
    {
      name: 'two swaps resume on two nodes, each placeholder bound to its own',
      view: view({room: 2, homePods: [swapping(W, `${P}@cloud`, 'deleting'), swapping('w2', 'p2@cloud', 'deleting')], remotes: [remote('cloud')]}),
      want: [`swap ${W} -> ${P}@cloud [placeholder,remote,unlock] on onprem-0`, 'swap w2 -> p2@cloud [placeholder,remote,unlock] on onprem-1'],
    },
    {
      name: 'copies stay in a cluster a resumed swap makes its remote worker in',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting'), placeholder(P, 'cloud', {})], remotes: [remote('cloud', [], [headServiceCopy()])]}),
      want: [`swap ${W} -> ${P}@cloud [remote,unlock]`],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: a placeholder stands for its remote worker, and is Ready only while that one is', () => {
  const cases: Case[] = [
    {
      name: 'its remote worker Ready and its gate True: nothing',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)])]}),
      want: [],
    },
    {
      name: 'its remote worker became Ready: the gate is set True',
      view: view({homePods: [placeholder(P, 'cloud', {})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`set-ready ${P} true`],
    },
    {
      name: 'its remote worker is no longer Ready: the gate is set False',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P, {ready: false})])]}),
      want: [`set-ready ${P} false`],
    },
    {
      name: 'its remote worker still starting, and no gate written yet: nothing to write',
      view: view({homePods: [placeholder(P, 'cloud', {})], remotes: [remote('cloud', [worker(P, {phase: 'Pending', ready: false})])]}),
      want: [],
    },
    {
      name: 'its remote worker Failed: that goes first, then the placeholder, so that KubeRay replaces it',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P, {phase: 'Failed'})])]}),
      want: [`delete-remote cloud ${P}`, `delete-placeholder ${P}`],
    },
    {
      name: 'its remote worker Succeeded: ended for good too',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P, {phase: 'Succeeded'})])]}),
      want: [`delete-remote cloud ${P}`, `delete-placeholder ${P}`],
    },
    {
      name: 'its remote worker missing in a cluster that answered: the placeholder goes, so that KubeRay replaces it',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [], [headServiceCopy()])]}),
      want: [`delete-placeholder ${P}`, 'delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'its remote worker\'s cluster did not answer: absence not observed means nothing',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [], [headServiceCopy()], false)]}),
      want: [],
    },
    {
      name: 'named in workersToDelete: its remote worker goes now; KubeRay deletes the placeholder',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)])], workerGroups: [{name: 'gpu', replicas: 1, workersToDelete: [P]}]}),
      want: [`delete-remote cloud ${P}`],
    },
    {
      name: 'named in workersToDelete with its remote worker gone: nothing more',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud')], workerGroups: [{name: 'gpu', replicas: 1, workersToDelete: [P]}]}),
      want: [],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: a remote worker whose placeholder went by accident is kept and taken over; one removed on purpose goes', () => {
  const cases: Case[] = [
    {
      name: 'its placeholder evicted (still terminating) while the group wants it: kept, waiting for KubeRay\'s replacement',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), placeholder(P, 'cloud', {deleting: true, ready: true})], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [],
    },
    {
      name: 'its placeholder gone and KubeRay\'s replacement Pending: the replacement is swapped onto it, the remote worker kept',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W)], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [`swap ${W} -> ${P}@cloud [lock,fail,await,placeholder,unlock] on onprem-0`],
    },
    {
      name: 'the replacement is taken over whether or not the scheduler has judged it yet',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W)], remotes: [remote('cloud', [worker(P)])]}),
      want: [`swap ${W} -> ${P}@cloud [lock,fail,await,placeholder,unlock] on onprem-0`],
    },
    {
      name: 'no home node has room for a new placeholder: the remote worker waits',
      view: view({room: 0, homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W)], remotes: [remote('cloud', [worker(P)])]}),
      want: [],
    },
    {
      name: 'the replacement runs at home instead: the remote worker is surplus and goes',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W, {node: 'onprem-1'})], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [`delete-remote cloud ${P}`, 'delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'the replacement is nominated to a node at home: not taken over, and the remote worker is surplus',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W, {nominated: 'onprem-1'})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`],
    },
    {
      name: 'its placeholder deleted by KubeRay for fewer replicas: the group wants no more, so it goes',
      view: view({workerGroups: [{name: 'gpu', replicas: 1, workersToDelete: []}], homePods: [kuberayPod(L, {node: 'onprem-0'}), placeholder(P, 'cloud', {deleting: true, ready: true})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`],
    },
    {
      name: 'its placeholder gone and named in workersToDelete: it goes',
      view: view({workerGroups: [{name: 'gpu', replicas: 2, workersToDelete: [P]}], homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W)], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`, 'clear-workers-to-delete 0 gpu'],
    },
    {
      name: 'its worker group is gone from the spec: it goes',
      view: view({workerGroups: [{name: 'cpu', replicas: 2, workersToDelete: []}], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`],
    },
    {
      name: 'two remote workers, one replacement so far, one slot still missing: one is taken over, the other waits',
      view: view({homePods: [kuberayPod(W)], remotes: [remote('cloud', [worker('p1'), worker('p2')])]}),
      want: [`swap ${W} -> p1@cloud [lock,fail,await,placeholder,unlock] on onprem-0`],
    },
    {
      name: 'two remote workers for one missing slot: the one without a replacement goes',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'})], remotes: [remote('cloud', [worker('p1'), worker('p2')])]}),
      want: ['delete-remote cloud p2'],
    },
    {
      name: 'a replacement of another worker group is not taken',
      view: view({
        workerGroups: [{name: 'gpu', replicas: 1, workersToDelete: []}, {name: 'cpu', replicas: 1, workersToDelete: []}],
        homePods: [kuberayPod('cpu-w', {group: 'cpu'})],
        remotes: [remote('cloud', [worker(P)])],
      }),
      want: [],
    },
    {
      name: 'a remote worker of an earlier RayCluster goes',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P, {uid: 'old-uid'})])]}),
      want: [`delete-placeholder ${P}`, `delete-remote cloud ${P}`],
    },
    {
      name: 'a home pod of its name that is not a placeholder: it goes',
      view: view({homePods: [kuberayPod(P, {node: 'onprem-0'})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`],
    },
    {
      name: 'a placeholder pairs with the cluster it names; a same-named remote worker elsewhere goes',
      view: view({homePods: [placeholder(P, 'cloud')], remotes: [remote('cloud', [worker(P)]), remote('edge', [worker(P)], [headServiceCopy()])]}),
      want: [`delete-remote edge ${P}`, 'delete-copy edge Service/app-head-svc'],
    },
    {
      name: 'a remote worker in a cluster that did not answer is never touched',
      view: view({workerGroups: [{name: 'gpu', replicas: 0, workersToDelete: []}], remotes: [remote('cloud', [worker(P)], [], false)]}),
      want: [],
    },
    {
      name: 'a remote worker already terminating is not deleted again',
      view: view({workerGroups: [{name: 'gpu', replicas: 0, workersToDelete: []}], remotes: [remote('cloud', [worker(P, {deleting: true})])]}),
      want: [],
    },
    {
      name: 'the remote worker of a swap in progress is left to that swap',
      view: view({homePods: [swapping(W, `${P}@cloud`, 'deleting')], remotes: [remote('cloud', [worker(P)])]}),
      want: [`swap ${W} -> ${P}@cloud [placeholder,unlock] on onprem-0`],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: what rests on a pod being absent names it, for the actor to ask the API server first', () => {
  const absences = (rs: Repair[]) => rs.map((r) => `${r.do} ${'absent' in r && r.absent ? `unless ${r.absent.name} is ${r.absent.cluster ? `in ${r.absent.cluster}` : 'at home'}` : 'as it is'}`);
  it.each([
    {
      name: 'a placeholder whose remote worker is not seen',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [])]}),
      want: [`delete-placeholder unless ${P} is in cloud`],
    },
    {
      name: 'a remote worker whose placeholder is not seen, taken over by the replacement',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W)], remotes: [remote('cloud', [worker(P)])]}),
      want: [`swap unless ${P} is at home`],
    },
    {
      name: 'a remote worker whose placeholder is not seen, and no more wanted',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'}), kuberayPod(W, {node: 'onprem-1'})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote unless ${P} is at home`],
    },
    {
      name: 'a remote worker whose placeholder is seen, of another pairing: nothing rests on an absence',
      view: view({homePods: [placeholder(P, 'edge')], remotes: [remote('cloud', [worker(P)]), remote('edge', [worker(P)])]}),
      want: ['delete-remote as it is'],
    },
  ])('$name', ({view: v, want}) => {
    expect(absences(repairs(v))).toEqual(want);
  });
});

describe('repairs: copies collapse when no remote worker is left', () => {
  const copies = () => [headServiceCopy(), copy('ConfigMap', 'app-config'), copy('EndpointSlice', 'app-head-svc-abc12')];
  const noMore = [{name: 'gpu', replicas: 0, workersToDelete: []}];
  const cases: Case[] = [
    {
      name: 'copies in an observed cluster without remote workers are deleted',
      view: view({remotes: [remote('cloud', [], copies())]}),
      want: ['delete-copy cloud Service/app-head-svc', 'delete-copy cloud ConfigMap/app-config', 'delete-copy cloud EndpointSlice/app-head-svc-abc12'],
    },
    {
      name: 'copies already terminating are not deleted again',
      view: view({remotes: [remote('cloud', [], [copy('Service', 'app-head-svc', true), copy('ConfigMap', 'app-config')])]}),
      want: ['delete-copy cloud ConfigMap/app-config'],
    },
    {
      name: 'copies stay where a remote worker stays',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], copies())]}),
      want: [],
    },
    {
      name: 'copies stay in a cluster that gets new remote workers in this pass',
      view: view({remotes: [remote('cloud', [], copies())], incoming: ['cloud']}),
      want: [],
    },
    {
      name: 'copies stay where a remote worker waits for its placeholder\'s replacement',
      view: view({homePods: [kuberayPod(L, {node: 'onprem-0'})], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [],
    },
    {
      name: 'copies in an unobserved cluster are never deleted',
      view: view({remotes: [remote('cloud', [], copies(), false)]}),
      want: [],
    },
    {
      name: 'when the last remote worker goes, its copies go after it',
      view: view({workerGroups: noMore, remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [`delete-remote cloud ${P}`, 'delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'only clusters left without workers lose their copies',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headServiceCopy()]), remote('edge', [], [headServiceCopy()])]}),
      want: ['delete-copy edge Service/app-head-svc'],
    },
    {
      name: 'a cluster whose only remote worker is terminating loses its copies',
      view: view({remotes: [remote('cloud', [worker(P, {deleting: true})], [headServiceCopy()])]}),
      want: ['delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'back on one cluster, the head Service the tool made global is made local',
      view: view({headMadeGlobal: 'app-head-svc', remotes: [remote('cloud', [worker(P, {deleting: true})], [headServiceCopy()])]}),
      want: ['delete-copy cloud Service/app-head-svc', 'make-head-local app-head-svc'],
    },
    {
      name: 'the head Service stays global while a remote worker stays',
      view: view({headMadeGlobal: 'app-head-svc', homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [],
    },
    {
      name: 'the head Service stays global while a swap is in progress',
      view: view({headMadeGlobal: 'app-head-svc', homePods: [swapping(W, `${P}@cloud`, 'locked')], remotes: [remote('cloud')]}),
      want: [`unlock ${W}`],
    },
    {
      name: 'the head Service stays global while a cluster that may hold remote workers does not answer',
      view: view({headMadeGlobal: 'app-head-svc', remotes: [remote('cloud', [], [], false)]}),
      want: [],
    },
    {
      name: 'the head Service stays global while new remote workers arrive',
      view: view({headMadeGlobal: 'app-head-svc', remotes: [remote('cloud', [], [])], incoming: ['cloud']}),
      want: [],
    },
  ];

  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });

  it('deletes the copy objects it observed, in their cluster', () => {
    const service = headServiceCopy();
    expect(repairs(view({remotes: [remote('cloud', [], [service])]}))).toEqual([{do: 'delete-copy', cluster: 'cloud', object: service, why: expect.any(String)}]);
  });
});

describe('repairs: the group\'s other RayClusters (a RayService upgrading, a RayJob retried)', () => {
  const NEW = 'rc-new';
  /** A remote worker of the group's RayCluster `cluster` (uid `uid`), not the one this pass is about. */
  const sibling = (name: string, cluster: string, uid: string) => {
    const w = worker(name, {uid});
    w.metadata!.labels!['ray.io/cluster'] = cluster;
    return w;
  };
  /** A head-Service copy of a RayCluster, as copies now record it: by UID. */
  const headCopyOf = (service: string, uid?: string): KubeObject => ({
    ...copy('Service', service),
    metadata: {name: service, namespace: 'ml', labels: {'superskyray.io/role': 'head-service-copy', ...(uid ? {'superskyray.io/raycluster-uid': uid} : {})}},
  });
  const sliceOf = (service: string, uid?: string): KubeObject => ({
    ...copy('EndpointSlice', `${service}-superskyray`),
    metadata: {
      name: `${service}-superskyray`,
      namespace: 'ml',
      labels: {'superskyray.io/role': 'head-service-copy', 'kubernetes.io/service-name': service, ...(uid ? {'superskyray.io/raycluster-uid': uid} : {})},
    },
  });
  const both = [{uid: UID, headService: 'app-head-svc'}, {uid: NEW, headService: 'app-new-head-svc'}];
  const cases: Case[] = [
    {
      name: 'a remote worker of a RayCluster that is gone goes; the live one\'s stay',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headServiceCopy()], true, [sibling('app-old-w1', 'app-old', 'rc-old')])]}),
      want: ['delete-remote cloud app-old-w1'],
    },
    {
      name: 'a remote worker of a sibling RayCluster that exists stays, and so do the copies its cluster holds',
      view: view({rayClusters: both, remotes: [remote('cloud', [], [headCopyOf('app-new-head-svc', NEW), copy('ConfigMap', 'app-config')], true, [sibling('app-new-w1', 'app-new', NEW)])]}),
      want: [],
    },
    {
      name: 'with only a gone RayCluster\'s workers there, they and every copy go',
      view: view({remotes: [remote('cloud', [], [headCopyOf('app-old-head-svc', 'rc-old'), copy('ConfigMap', 'app-config')], true, [sibling('app-old-w1', 'app-old', 'rc-old')])]}),
      want: ['delete-remote cloud app-old-w1', 'delete-copy cloud Service/app-old-head-svc', 'delete-copy cloud ConfigMap/app-config'],
    },
    {
      name: 'in a cluster that keeps workers, the head-Service copy and slice of a gone RayCluster go, matched by UID',
      view: view({
        homePods: [placeholder(P)],
        remotes: [remote('cloud', [worker(P)], [headCopyOf('app-head-svc', UID), headCopyOf('app-old-head-svc', 'rc-old'), sliceOf('app-old-head-svc', 'rc-old'), copy('ConfigMap', 'app-config')])],
      }),
      want: ['delete-copy cloud Service/app-old-head-svc', 'delete-copy cloud EndpointSlice/app-old-head-svc-superskyray'],
    },
    {
      name: 'a head-Service copy made before copies recorded a UID is matched by its Service\'s name',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headCopyOf('app-head-svc'), headCopyOf('app-old-head-svc'), sliceOf('app-old-head-svc')])]}),
      want: ['delete-copy cloud Service/app-old-head-svc', 'delete-copy cloud EndpointSlice/app-old-head-svc-superskyray'],
    },
    {
      name: 'a head-Service copy whose UID is another RayCluster\'s of the same name (deleted and made again) goes',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headCopyOf('app-head-svc', 'rc-before')])]}),
      want: ['delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'a cluster that did not answer is left alone',
      view: view({remotes: [remote('cloud', [], [headCopyOf('app-old-head-svc', 'rc-old')], false, [sibling('app-old-w1', 'app-old', 'rc-old')])]}),
      want: [],
    },
    {
      name: 'the head Service stays global while a sibling RayCluster keeps remote workers',
      view: view({rayClusters: both, headMadeGlobal: 'app-head-svc', remotes: [remote('cloud', [], [headCopyOf('app-new-head-svc', NEW)], true, [sibling('app-new-w1', 'app-new', NEW)])]}),
      want: [],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: a dependency copy follows its source at home', () => {
  /** A copy made from version `of` of the home object, as dependencyCopy records it. */
  const depCopy = (kind: string, name: string, of?: string, deleting = false): KubeObject => ({
    ...copy(kind, name, deleting),
    metadata: {
      name,
      namespace: 'ml',
      labels: {'superskyray.io/role': 'dependency-copy'},
      ...(of ? {annotations: {'superskyray.io/source-resource-version': of}} : {}),
      ...(deleting ? {deletionTimestamp: DELETED} : {}),
    },
  });
  const source = (kind: string, name: string, version: string): KubeObject => ({apiVersion: 'v1', kind, metadata: {name, namespace: 'ml', resourceVersion: version}});
  const staying = {homePods: [placeholder(P)]};
  const cases: Case[] = [
    {
      name: 'a copy of the version at home needs nothing',
      view: view({...staying, copySources: [source('ConfigMap', 'cfg', '7')], remotes: [remote('cloud', [worker(P)], [depCopy('ConfigMap', 'cfg', '7')])]}),
      want: [],
    },
    {
      name: 'an edited ConfigMap and (with --copy-secrets) a rotated Secret reach their copies',
      view: view({...staying, copySecrets: true, copySources: [source('ConfigMap', 'cfg', '9'), source('Secret', 'token', '12')], remotes: [remote('cloud', [worker(P)], [depCopy('ConfigMap', 'cfg', '7'), depCopy('Secret', 'token', '3')])]}),
      want: ['update-copy cloud ConfigMap/cfg to 9', 'update-copy cloud Secret/token to 12'],
    },
    {
      name: 'a Secret copy follows its source only when the run was asked to copy Secrets',
      view: view({...staying, copySources: [source('ConfigMap', 'cfg', '9'), source('Secret', 'token', '12')], remotes: [remote('cloud', [worker(P)], [depCopy('ConfigMap', 'cfg', '7'), depCopy('Secret', 'token', '3')])]}),
      want: ['update-copy cloud ConfigMap/cfg to 9'],
    },
    {
      name: 'a copy made before copies recorded their source version is brought up to date once',
      view: view({...staying, copySources: [source('ServiceAccount', 'ray', '4')], remotes: [remote('cloud', [worker(P)], [depCopy('ServiceAccount', 'ray')])]}),
      want: ['update-copy cloud ServiceAccount/ray to 4'],
    },
    {
      name: 'a copy whose source is gone (or unreadable) at home stays as it is',
      view: view({...staying, copySources: [], remotes: [remote('cloud', [worker(P)], [depCopy('ConfigMap', 'cfg', '7')])]}),
      want: [],
    },
    {
      name: 'a copy that goes is not updated first',
      view: view({copySources: [source('ConfigMap', 'cfg', '9')], remotes: [remote('cloud', [], [depCopy('ConfigMap', 'cfg', '7')])]}),
      want: ['delete-copy cloud ConfigMap/cfg'],
    },
    {
      name: 'a cluster that did not answer is left alone',
      view: view({...staying, copySources: [source('ConfigMap', 'cfg', '9')], remotes: [remote('cloud', [worker(P)], [depCopy('ConfigMap', 'cfg', '7')], false)]}),
      want: [],
    },
    {
      name: 'the head-Service copy is not a dependency copy: it is never updated from a source',
      view: view({...staying, copySources: [source('Service', 'app-head-svc', '9')], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]}),
      want: [],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: workersToDelete', () => {
  const groups = (a: string[], b: string[]) => [
    {name: 'cpu', replicas: 1, workersToDelete: a},
    {name: 'gpu', replicas: 1, workersToDelete: b},
  ];
  const cases: Case[] = [
    {
      name: 'is cleared once every pod it names is gone at home',
      view: view({workerGroups: groups([], ['gone-1', 'gone-2']), homePods: [kuberayPod('other')]}),
      want: ['clear-workers-to-delete 1 gpu'],
    },
    {
      name: 'is kept while one named pod still exists at home',
      view: view({workerGroups: groups([], ['gone-1', 'still-here']), homePods: [kuberayPod('still-here')]}),
      want: [],
    },
    {
      name: 'is kept while a named pod is only terminating at home',
      view: view({workerGroups: groups([], ['going']), homePods: [kuberayPod('going', {deleting: true})]}),
      want: [],
    },
    {
      name: 'an empty list is not cleared',
      view: view({workerGroups: groups([], [])}),
      want: [],
    },
    {
      name: 'each group is cleared on its own, by its index in spec order',
      view: view({workerGroups: groups(['a-gone'], ['b-here']), homePods: [kuberayPod('b-here')]}),
      want: ['clear-workers-to-delete 0 cpu'],
    },
    {
      name: 'is never cleared with the autoscaler on',
      view: view({autoscaling: true, workerGroups: groups(['a-gone'], ['b-gone'])}),
      want: [],
    },
  ];

  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: mesh mode endpoints keeps each EndpointSlice copy on the head pod', () => {
  const slice = (ip: string | undefined): KubeObject => ({
    ...copy('EndpointSlice', 'app-head-svc-superskyray'),
    endpoints: ip ? [{addresses: [ip], conditions: {ready: true}}] : [],
  });
  const cases: Case[] = [
    {
      name: 'a slice on the head pod\'s current IP needs nothing',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headServiceCopy(), slice('10.1.0.7')])], headEndpoint: '10.1.0.7'}),
      want: [],
    },
    {
      name: 'after a head restart the slice moves to the new IP',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headServiceCopy(), slice('10.1.0.7')])], headEndpoint: '10.1.0.9'}),
      want: ['update-endpoints cloud app-head-svc-superskyray 10.1.0.9'],
    },
    {
      name: 'a slice with no address gets one',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [slice(undefined)])], headEndpoint: '10.1.0.9'}),
      want: ['update-endpoints cloud app-head-svc-superskyray 10.1.0.9'],
    },
    {
      name: 'while the head has no IP (restarting), the slice is left as it is',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [slice('10.1.0.7')])]}),
      want: [],
    },
    {
      name: 'a slice in a cluster with no remote worker left goes with the other copies, not updated',
      view: view({remotes: [remote('cloud', [], [slice('10.1.0.7')])], headEndpoint: '10.1.0.9'}),
      want: ['delete-copy cloud EndpointSlice/app-head-svc-superskyray'],
    },
    {
      name: 'a slice in a cluster that did not answer is left alone',
      view: view({homePods: [placeholder(P)], remotes: [remote('cloud', [], [slice('10.1.0.7')], false)], headEndpoint: '10.1.0.9'}),
      want: [],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: with the Ray autoscaler, the placeholders\' PodDisruptionBudget is there exactly while placeholders are', () => {
  const auto = (v: Partial<GroupView>, placeholderBudget: boolean | undefined) => ({...view({autoscaling: true, ...v}), placeholderBudget});
  const spanned = {homePods: [placeholder(P)], remotes: [remote('cloud', [worker(P)], [headServiceCopy()])]};
  const cases: Case[] = [
    {
      name: 'a swap about to make a placeholder: the budget first',
      view: auto({homePods: [swapping(W, `${P}@cloud`, 'deleting')], remotes: [remote('cloud')]}, false),
      want: ['make-budget', `swap ${W} -> ${P}@cloud [placeholder,remote,unlock] on onprem-0`],
    },
    {
      name: 'a new span in this pass (a cluster getting remote workers): the budget first',
      view: {...auto({remotes: [remote('cloud')]}, false), incoming: ['cloud']},
      want: ['make-budget'],
    },
    {name: 'placeholders made before the budget was (an earlier version): it is made', view: auto(spanned, false), want: ['make-budget']},
    {name: 'a placeholder and its budget: nothing to do', view: auto(spanned, true), want: []},
    {
      name: 'the last placeholder gone: the budget goes with the copies',
      view: auto({remotes: [remote('cloud', [], [headServiceCopy()])]}, true),
      want: ['delete-copy cloud Service/app-head-svc', 'delete-budget'],
    },
    {name: 'the budget could not be read: nothing is decided from it', view: auto(spanned, undefined), want: []},
    {
      name: 'without the autoscaler no budget is made (kubectl drain evicts by name, and the placeholder made again has the same one)',
      view: {...view(spanned), placeholderBudget: false},
      want: [],
    },
    {name: 'without the autoscaler (turned off since), a budget goes', view: {...view(spanned), placeholderBudget: true}, want: ['delete-budget']},
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('leftoverRepairs: what is left of a RayCluster that is gone', () => {
  const gone = 'its RayCluster app is gone';
  const summary = (plan: Repair[]) => plan.map((r) => `${r.do} ${'pod' in r ? r.pod.metadata?.name : 'object' in r ? r.object.metadata?.name : ''}${'cluster' in r ? `@${r.cluster}` : ''}`);
  it.each<{name: string; homePods: Pod[]; remotes: RemoteView[]; want: string[]}>([
    {name: 'nothing left', homePods: [], remotes: [remote('cloud')], want: []},
    {
      name: "remote workers of the group's other RayClusters go too",
      homePods: [],
      remotes: [remote('cloud', [], [copy('ConfigMap', 'cfg')], true, [worker('w0', {uid: 'rc-earlier'})])],
      want: ['delete-remote w0@cloud', 'delete-copy cfg@cloud'],
    },
    {
      name: 'remote workers go first, then the copies, in every cluster that answered',
      homePods: [],
      remotes: [remote('cloud', [worker('w1'), worker('w2')], [headServiceCopy()]), remote('edge', [worker('w3')], [copy('ConfigMap', 'cfg')])],
      want: ['delete-remote w1@cloud', 'delete-remote w2@cloud', 'delete-remote w3@edge', 'delete-copy app-head-svc@cloud', 'delete-copy cfg@edge'],
    },
    {
      name: 'a cluster that did not answer is left alone',
      homePods: [],
      remotes: [remote('cloud', [worker('w1')], [headServiceCopy()], false)],
      want: [],
    },
    {
      name: 'what is already going is not deleted again',
      homePods: [],
      remotes: [remote('cloud', [worker('w1', {deleting: true})], [copy('Service', 'app-head-svc', true)])],
      want: [],
    },
    {
      name: 'a Pending worker caught in a swap is let go of, whatever its stage',
      homePods: [swapping('p1', 'w1@cloud', 'deleting'), swapping('p2', 'w2@cloud', 'locked'), kuberayPod('p3', {deleting: true})],
      remotes: [remote('cloud')],
      want: ['unlock p1', 'unlock p2'],
    },
  ])('$name', ({homePods, remotes, want}) => {
    const plan = leftoverRepairs({homePods, remotes, rayClusters: []}, gone);
    expect(summary(plan)).toEqual(want);
    expect(plan.every((r) => r.why === gone)).toBe(true);
  });

  it("keeps what a RayCluster KubeRay has made since needs: its remote workers, and its cluster's copies", () => {
    const next = worker('w9', {uid: 'rc-next'});
    const plan = leftoverRepairs({homePods: [], remotes: [remote('cloud', [], [headServiceCopy(), copy('ConfigMap', 'cfg')], true, [worker('w0'), next])], rayClusters: [{uid: 'rc-next', headService: 'app-next-head-svc'}]}, gone);
    expect(summary(plan)).toEqual(['delete-remote w0@cloud', 'delete-copy app-head-svc@cloud']);
  });
});

describe('a remote worker that never joins', () => {
  /** A remote worker made `ageS` seconds before the look, not Ready, in the state given. */
  const starting = (ageS: number, status: Partial<NonNullable<Pod['status']>> = {}): Pod => {
    const w = worker(W, {ready: false});
    w.metadata!.creationTimestamp = new Date(NOW - ageS * 1000).toISOString();
    w.status = {...w.status, ...status};
    return w;
  };
  const pulling = {containerStatuses: [{name: 'ray-worker', state: {waiting: {reason: 'ImagePullBackOff', message: 'Back-off pulling image "unpullable.invalid/ray"'}}}]};
  const initialising = {conditions: [{type: 'PodScheduled', status: 'True'}, {type: 'Initialized', status: 'False'}, {type: 'Ready', status: 'False'}]};
  const unscheduled = {phase: 'Pending', conditions: [{type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/2 nodes are available: 2 Insufficient cpu.'}]};

  it.each([
    ['an invalid image name, at once', starting(5, {containerStatuses: [{name: 'ray-worker', state: {waiting: {reason: 'InvalidImageName'}}}]}), undefined, [`give-up ${W} cloud ${W}: container ray-worker is InvalidImageName`]],
    ['an image pull backing off, not within a minute', starting(59, pulling), undefined, []],
    ['an image pull backing off for a minute', starting(60, pulling), undefined, [`give-up ${W} cloud ${W}: container ray-worker is ImagePullBackOff (Back-off pulling image "unpullable.invalid/ray")`]],
    ['a crash loop that lasted a minute', starting(61, {containerStatuses: [{name: 'ray-worker', state: {waiting: {reason: 'CrashLoopBackOff'}}}]}), undefined, [`give-up ${W} cloud ${W}: container ray-worker is CrashLoopBackOff`]],
    ['an init container that never finishes, after the bound', starting(301, initialising), undefined, [`give-up ${W} cloud ${W}: its init containers did not finish within 300 s (wait-gcs-ready waits for the head's GCS)`]],
    ['no node there, after the bound', starting(400, unscheduled), undefined, [`give-up ${W} cloud ${W}: it was not scheduled there within 300 s (0/2 nodes are available: 2 Insufficient cpu.)`]],
    ['an init container still waiting, within the bound', starting(299, initialising), undefined, []],
    ['one that joined once and is unready now, whatever its state', starting(4000, pulling), true, [`set-ready ${W} false`]],
    ['one Ready now that no pass saw Ready before', {...starting(4000), status: {phase: 'Running', conditions: [{type: 'Ready', status: 'True'}]}}, undefined, [`set-ready ${W} true`]],
  ])('gives up on %s', (_, remoteWorker, gate, want) => {
    const p = placeholder(W, 'cloud', {ready: gate});
    expect(plan(repairs(view({homePods: [p], remotes: [remote('cloud', [remoteWorker])]})))).toEqual(want);
  });
});

describe('a head-Service copy that exposes the head', () => {
  const exposed = (spec: Record<string, unknown>): KubeObject => ({...headServiceCopy(), spec});
  it.each([
    ['a LoadBalancer one, made by an older version', {type: 'LoadBalancer', ports: [{name: 'gcs', port: 6379, nodePort: 31234}]}, ['close-copy cloud Service/app-head-svc']],
    ['a NodePort one', {type: 'NodePort', ports: [{name: 'gcs', port: 6379, nodePort: 31234}]}, ['close-copy cloud Service/app-head-svc']],
    ['a ClusterIP one', {type: 'ClusterIP', ports: [{name: 'gcs', port: 6379}]}, []],
    ['a headless one', {clusterIP: 'None', ports: [{name: 'gcs', port: 6379}]}, []],
  ])('becomes ClusterIP where workers stay: %s', (_, spec, want) => {
    const p = placeholder(W, 'cloud');
    expect(plan(repairs(view({homePods: [p], remotes: [remote('cloud', [worker(W)], [exposed(spec)])]})))).toEqual(want);
  });
});
