import {describe, expect, it} from 'vitest';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {repairs, type GroupView, type RemoteView, type Repair} from '../../../src/reconcile/repair.js';

const UID = 'rc-uid';
const DELETED = '2025-01-01T00:00:00Z';

interface PodOptions {
  /** A placeholder: `held` has our finalizer (the Pending worker turned placeholder); `auto` is an autoscaled group's pause pod. */
  placeholder?: 'held' | 'auto';
  /** The cluster its remote twin runs in. */
  remote?: string;
  /** The pod an autoscaled placeholder replaces. */
  replaces?: string;
  deleting?: boolean;
  node?: string;
  phase?: string;
  owned?: boolean;
  /** A held placeholder of an earlier version: deleted, and kept by our finalizer. */
  legacy?: boolean;
  /** The superskyray.io/raycluster-uid label of a remote worker. */
  uid?: string;
}

/** A home pod, a placeholder or a remote worker: only the fields repairs() reads. */
function pod(name: string, o: PodOptions = {}): Pod {
  const labels: Record<string, string> = {'ray.io/cluster': 'app', 'ray.io/group': 'gpu', 'ray.io/node-type': 'worker'};
  if (o.placeholder) labels['superskyray.io/role'] = 'placeholder';
  if (o.uid) labels['superskyray.io/raycluster-uid'] = o.uid;
  const annotations: Record<string, string> = {};
  if (o.remote) annotations['superskyray.io/remote-cluster'] = o.remote;
  // A pause placeholder always names the Pending pod it replaced; a held one is that pod.
  if (o.placeholder === 'auto') annotations['superskyray.io/replaces'] = o.replaces ?? 'replaced-pending-pod';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ml',
      labels,
      annotations,
      ...(o.legacy ? {finalizers: ['superskyray.io/remote-worker']} : {}),
      ...(o.deleting ? {deletionTimestamp: DELETED} : {}),
      ...(o.owned ? {ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'app', uid: UID, controller: true}]} : {}),
    },
    spec: {containers: [{name: 'ray-worker'}], ...(o.node ? {nodeName: o.node} : {})},
    status: {phase: o.phase ?? (o.node ? 'Running' : 'Pending')},
  };
}

/** A remote worker of the current RayCluster. */
const worker = (name: string, o: PodOptions = {}) => pod(name, {uid: UID, node: 'cloud-0', ...o});

const copy = (kind: string, name: string, deleting = false): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: {name, namespace: 'ml', ...(deleting ? {deletionTimestamp: DELETED} : {})},
});
const headServiceCopy = () => copy('Service', 'app-head-svc');

const remote = (id: string, workers: Pod[] = [], copies: KubeObject[] = [], observed = true): RemoteView => ({id, observed, workers, copies});

function view(v: Partial<GroupView>): GroupView {
  return {autoscaling: false, rayClusterUid: UID, workerGroups: [{name: 'gpu', workersToDelete: []}], homePods: [], remotes: [], ...v};
}

/** The observable plan: what is done, where, and to which object, in order. */
function plan(rs: Repair[]): string[] {
  return rs.map((r) => {
    switch (r.do) {
      case 'create-remote':
        return `create-remote ${r.cluster} ${r.from.metadata?.name}`;
      case 'delete-remote':
        return `delete-remote ${r.cluster} ${r.pod.metadata?.name}`;
      case 'hold':
        return `hold ${r.cluster} ${r.pod.metadata?.name}`;
      case 'release':
        return `release ${r.pod.metadata?.name}`;
      case 'delete-copy':
        return `delete-copy ${r.cluster} ${r.object.kind}/${r.object.metadata?.name}`;
      case 'clear-workers-to-delete':
        return `clear-workers-to-delete ${r.index} ${r.workerGroup}`;
      case 'update-endpoints':
        return `update-endpoints ${r.cluster} ${r.object.metadata?.name} ${r.ip}`;
      case 'make-head-local':
        return `make-head-local ${r.service}`;
      default:
        return `${r.do} ${r.pod.metadata?.name}`;
    }
  });
}

const W = 'app-gpu-worker-abcde';
const P = 'app-gpu-worker-pqrst';

describe('repairs: held placeholders (no autoscaler): KubeRay\'s own Pending worker, labelled and never deleted by us', () => {
  const held = (o: PodOptions = {}) => pod(W, {placeholder: 'held', remote: 'cloud', ...o});
  const cases: Array<{name: string; view: GroupView; want: string[]}> = [
    {
      name: 'a held placeholder with its remote twin present needs nothing',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W)], [headServiceCopy()])]}),
      want: [],
    },
    {
      name: 'a held placeholder whose twin is missing in an observed cluster gets the twin re-created, and stays',
      view: view({homePods: [held()], remotes: [remote('cloud', [], [headServiceCopy()])]}),
      want: [`create-remote cloud ${W}`],
    },
    {
      name: 'a held placeholder whose twin cluster did not answer: absence not observed means nothing',
      view: view({homePods: [held()], remotes: [remote('cloud', [], [headServiceCopy()], false)]}),
      want: [],
    },
    {
      name: 'a held placeholder whose twin cluster is not in the view at all is left alone',
      view: view({homePods: [held({remote: 'gone'})], remotes: [remote('cloud')]}),
      want: [],
    },
    {
      name: 'a held placeholder that got a node at home: its twin goes first, then it is a plain worker again',
      view: view({homePods: [held({node: 'onprem-0'})], remotes: [remote('cloud', [worker(W)])]}),
      want: [`delete-remote cloud ${W}`, `release ${W}`],
    },
    {
      name: 'a held placeholder named in workersToDelete: its twin goes now; KubeRay deletes the placeholder',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W)])], workerGroups: [{name: 'gpu', workersToDelete: [W]}]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a held placeholder in workersToDelete whose twin is gone is not re-created',
      view: view({homePods: [held()], remotes: [remote('cloud')], workerGroups: [{name: 'gpu', workersToDelete: [W]}]}),
      want: [],
    },
    {
      name: 'a held placeholder being deleted (by KubeRay, or anyone) takes its twin with it',
      view: view({homePods: [held({deleting: true})], remotes: [remote('cloud', [worker(W)])]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a placeholder of an earlier version, deleted and kept by our finalizer, is let go once its twin is gone',
      view: view({homePods: [held({deleting: true, legacy: true})], remotes: [remote('cloud')]}),
      want: [`release ${W}`],
    },
    {
      name: 'a remote twin that Failed is deleted, and so is its placeholder, so that KubeRay replaces it',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W, {phase: 'Failed'})])]}),
      want: [`delete-remote cloud ${W}`, `delete-home ${W}`],
    },
    {
      name: 'a remote twin that Succeeded ended for good too',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W, {phase: 'Succeeded'})])]}),
      want: [`delete-remote cloud ${W}`, `delete-home ${W}`],
    },
  ];

  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });

  it('re-creates the twin from the placeholder itself, in the cluster it names', () => {
    const placeholder = held();
    const [create] = repairs(view({homePods: [placeholder], remotes: [remote('other'), remote('cloud')]}));
    expect(create).toMatchObject({do: 'create-remote', cluster: 'cloud'});
    expect(create?.do === 'create-remote' && create.from).toBe(placeholder);
  });
});

describe('repairs: remote workers against their home pods', () => {
  const cases: Array<{name: string; view: GroupView; want: string[]}> = [
    {
      name: 'a remote worker whose home pod is gone is garbage collected',
      view: view({homePods: [], remotes: [remote('cloud', [worker(W)])]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a remote worker of an earlier RayCluster is deleted',
      view: view({homePods: [pod(W, {placeholder: 'held', remote: 'cloud'})], remotes: [remote('cloud', [worker(W, {uid: 'old-uid'})])]}),
      // The placeholder's twin is then missing; it is re-created next pass (its twin is not terminating yet).
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a remote worker without the raycluster-uid label is deleted',
      view: view({homePods: [], remotes: [remote('cloud', [pod(W, {node: 'cloud-0'})])]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a remote worker in an unobserved cluster is never touched',
      view: view({homePods: [], remotes: [remote('cloud', [worker(W)], [headServiceCopy()], false)]}),
      want: [],
    },
    {
      name: 'a remote worker already terminating is not deleted again',
      view: view({homePods: [], remotes: [remote('cloud', [worker(W, {deleting: true})])]}),
      want: [],
    },
    {
      name: 'a Pending plain worker whose remote twin exists is held (the swap was interrupted before the hold)',
      view: view({homePods: [pod(W)], remotes: [remote('cloud', [worker(W)])]}),
      want: [`hold cloud ${W}`],
    },
    {
      name: 'a Pending plain worker whose only remote twin is already going away is left alone',
      view: view({homePods: [pod(W)], remotes: [remote('cloud', [worker(W, {deleting: true})])]}),
      want: [],
    },
    {
      name: 'a plain worker that got a node at home: its remote twin goes',
      view: view({homePods: [pod(W, {node: 'onprem-0'})], remotes: [remote('cloud', [worker(W)])]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a Pending plain worker that is being deleted at home: its remote twin goes',
      view: view({homePods: [pod(W, {deleting: true})], remotes: [remote('cloud', [worker(W)])]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a Pending plain worker named in workersToDelete is not held; its twin goes',
      view: view({homePods: [pod(W)], remotes: [remote('cloud', [worker(W)])], workerGroups: [{name: 'gpu', workersToDelete: [W]}]}),
      want: [`delete-remote cloud ${W}`],
    },
    {
      name: 'a Pending plain worker with twins in two clusters is held for the first, the second twin goes',
      view: view({homePods: [pod(W)], remotes: [remote('cloud', [worker(W)]), remote('edge', [worker(W)])]}),
      want: [`hold cloud ${W}`, `delete-remote edge ${W}`],
    },
    {
      name: 'a placeholder pairs with the cluster it names; a same-named worker elsewhere goes',
      view: view({homePods: [pod(W, {placeholder: 'held', remote: 'cloud'})], remotes: [remote('cloud', [worker(W)]), remote('edge', [worker(W)])]}),
      want: [`delete-remote edge ${W}`],
    },
  ];

  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });

  it('holds the very home pod it observed, naming the cluster of its twin', () => {
    const pending = pod(W);
    const [hold] = repairs(view({homePods: [pending], remotes: [remote('cloud', [worker(W)])]}));
    expect(hold).toMatchObject({do: 'hold', cluster: 'cloud'});
    expect(hold?.do === 'hold' && hold.pod).toBe(pending);
  });
});

describe('repairs: autoscaled placeholders', () => {
  const auto = (o: PodOptions = {}) => pod(P, {placeholder: 'auto', remote: 'cloud', replaces: W, ...o});
  const cases: Array<{name: string; view: GroupView; want: string[]}> = [
    {
      name: 'an unowned placeholder whose replaced pod is still Pending: delete that pod, then own the placeholder',
      view: view({autoscaling: true, homePods: [pod(W), auto()], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-home ${W}`, `own ${P}`],
    },
    {
      name: 'an unowned placeholder whose replaced pod is already gone is owned',
      view: view({autoscaling: true, homePods: [auto()], remotes: [remote('cloud', [worker(P)])]}),
      want: [`own ${P}`],
    },
    {
      name: 'an unowned placeholder whose replaced pod is terminating is owned, without deleting it again',
      view: view({autoscaling: true, homePods: [pod(W, {deleting: true}), auto()], remotes: [remote('cloud', [worker(P)])]}),
      want: [`own ${P}`],
    },
    {
      name: 'an unowned placeholder whose replaced pod got a node: roll back, remote first',
      view: view({autoscaling: true, homePods: [pod(W, {node: 'onprem-0'}), auto()], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`, `delete-placeholder ${P}`],
    },
    {
      name: 'an owned placeholder with its twin is consistent',
      view: view({autoscaling: true, homePods: [auto({owned: true})], remotes: [remote('cloud', [worker(P)])]}),
      want: [],
    },
    {
      name: 'a placeholder without a twin in an observed cluster is deleted',
      view: view({autoscaling: true, homePods: [auto({owned: true})], remotes: [remote('cloud')]}),
      want: [`delete-placeholder ${P}`],
    },
    {
      name: 'a placeholder without a twin in an unobserved cluster is kept',
      view: view({autoscaling: true, homePods: [auto({owned: true})], remotes: [remote('cloud', [], [], false)]}),
      want: [],
    },
    {
      name: 'a placeholder whose twin Failed: the twin goes first, then the placeholder, so KubeRay replaces it',
      view: view({autoscaling: true, homePods: [auto({owned: true})], remotes: [remote('cloud', [worker(P, {phase: 'Failed'})])]}),
      want: [`delete-remote cloud ${P}`, `delete-placeholder ${P}`],
    },
    {
      name: 'a placeholder being deleted takes its twin with it',
      view: view({autoscaling: true, homePods: [auto({owned: true, deleting: true})], remotes: [remote('cloud', [worker(P)])]}),
      want: [`delete-remote cloud ${P}`],
    },
  ];

  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});

describe('repairs: copies collapse when no remote worker is left', () => {
  const copies = () => [headServiceCopy(), copy('ConfigMap', 'app-config'), copy('EndpointSlice', 'app-head-svc-abc12')];
  const cases: Array<{name: string; view: GroupView; want: string[]}> = [
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
      view: view({homePods: [pod(W, {placeholder: 'held', remote: 'cloud'})], remotes: [remote('cloud', [worker(W)], copies())]}),
      want: [],
    },
    {
      name: 'copies stay in a cluster that gets new remote workers in this pass',
      view: view({remotes: [remote('cloud', [], copies())], incoming: ['cloud']}),
      want: [],
    },
    {
      name: 'copies stay where a twin is re-created in this pass',
      view: view({homePods: [pod(W, {placeholder: 'held', remote: 'cloud'})], remotes: [remote('cloud', [], [headServiceCopy()])]}),
      want: [`create-remote cloud ${W}`],
    },
    {
      name: 'copies in an unobserved cluster are never deleted',
      view: view({remotes: [remote('cloud', [], copies(), false)]}),
      want: [],
    },
    {
      name: 'when the last remote worker goes, its copies go after it',
      view: view({homePods: [], remotes: [remote('cloud', [worker(W)], [headServiceCopy()])]}),
      want: [`delete-remote cloud ${W}`, 'delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'only clusters left without workers lose their copies',
      view: view({
        homePods: [pod(W, {placeholder: 'held', remote: 'cloud'})],
        remotes: [remote('cloud', [worker(W)], [headServiceCopy()]), remote('edge', [], [headServiceCopy()])],
      }),
      want: ['delete-copy edge Service/app-head-svc'],
    },
    {
      name: 'a cluster whose only remote worker is terminating loses its copies',
      view: view({remotes: [remote('cloud', [worker(W, {deleting: true})], [headServiceCopy()])]}),
      want: ['delete-copy cloud Service/app-head-svc'],
    },
    {
      name: 'back on one cluster, the head Service the tool made global is made local',
      view: view({headMadeGlobal: 'app-head-svc', remotes: [remote('cloud', [worker(W, {deleting: true})], [headServiceCopy()])]}),
      want: ['delete-copy cloud Service/app-head-svc', 'make-head-local app-head-svc'],
    },
    {
      name: 'the head Service stays global while a remote worker stays',
      view: view({headMadeGlobal: 'app-head-svc', homePods: [pod(W, {placeholder: 'held', remote: 'cloud'})], remotes: [remote('cloud', [worker(W)], [headServiceCopy()])]}),
      want: [],
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

describe('repairs: workersToDelete', () => {
  const groups = (a: string[], b: string[]) => [
    {name: 'cpu', workersToDelete: a},
    {name: 'gpu', workersToDelete: b},
  ];
  const cases: Array<{name: string; view: GroupView; want: string[]}> = [
    {
      name: 'is cleared once every pod it names is gone at home',
      view: view({workerGroups: groups([], ['gone-1', 'gone-2']), homePods: [pod('other')]}),
      want: ['clear-workers-to-delete 1 gpu'],
    },
    {
      name: 'is kept while one named pod still exists at home',
      view: view({workerGroups: groups([], ['gone-1', 'still-here']), homePods: [pod('still-here')]}),
      want: [],
    },
    {
      name: 'is kept while a named pod is only terminating at home',
      view: view({workerGroups: groups([], ['going']), homePods: [pod('going', {deleting: true})]}),
      want: [],
    },
    {
      name: 'an empty list is not cleared',
      view: view({workerGroups: groups([], [])}),
      want: [],
    },
    {
      name: 'each group is cleared on its own, by its index in spec order',
      view: view({workerGroups: groups(['a-gone'], ['b-here']), homePods: [pod('b-here')]}),
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
  const held = () => pod(W, {placeholder: 'held', remote: 'cloud'});
  const cases: Array<{name: string; view: GroupView; want: string[]}> = [
    {
      name: 'a slice on the head pod\'s current IP needs nothing',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W)], [headServiceCopy(), slice('10.1.0.7')])], headEndpoint: '10.1.0.7'}),
      want: [],
    },
    {
      name: 'after a head restart the slice moves to the new IP',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W)], [headServiceCopy(), slice('10.1.0.7')])], headEndpoint: '10.1.0.9'}),
      want: ['update-endpoints cloud app-head-svc-superskyray 10.1.0.9'],
    },
    {
      name: 'a slice with no address gets one',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W)], [slice(undefined)])], headEndpoint: '10.1.0.9'}),
      want: ['update-endpoints cloud app-head-svc-superskyray 10.1.0.9'],
    },
    {
      name: 'while the head has no IP (restarting), the slice is left as it is',
      view: view({homePods: [held()], remotes: [remote('cloud', [worker(W)], [slice('10.1.0.7')])]}),
      want: [],
    },
    {
      name: 'a slice in a cluster with no remote worker left goes with the other copies, not updated',
      view: view({remotes: [remote('cloud', [], [slice('10.1.0.7')])], headEndpoint: '10.1.0.9'}),
      want: ['delete-copy cloud EndpointSlice/app-head-svc-superskyray'],
    },
    {
      name: 'a slice in a cluster that did not answer is left alone',
      view: view({homePods: [held()], remotes: [remote('cloud', [], [slice('10.1.0.7')], false)], headEndpoint: '10.1.0.9'}),
      want: [],
    },
  ];
  it.each(cases)('$name', ({view: v, want}) => {
    expect(plan(repairs(v))).toEqual(want);
  });
});
