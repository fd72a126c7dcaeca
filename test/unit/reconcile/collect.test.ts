import {describe, expect, it} from 'vitest';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {leftovers, type CollectedCluster} from '../../../src/reconcile/collect.js';

const HOME = 'home-id';
const DELETED = '2025-01-01T00:00:00Z';

/** Something the tool made in another cluster for group `group` of HOME (or of `home`). */
function made(kind: string, name: string, role: string, o: {uid?: string; group?: string; home?: string; deleting?: boolean; namespace?: string} = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind,
    metadata: {
      name,
      namespace: o.namespace ?? 'ml',
      labels: {
        'superskyray.io/managed-by': 'kubectl-superskyray',
        'superskyray.io/group': o.group ?? 'app',
        'superskyray.io/role': role,
        'superskyray.io/home-cluster': o.home ?? HOME,
        'ray.io/cluster': 'app',
        ...(o.uid ? {'superskyray.io/raycluster-uid': o.uid} : {}),
      },
      ...(o.deleting ? {deletionTimestamp: DELETED} : {}),
    },
  };
}
const remoteWorker = (name: string, uid = 'rc-1', o: {deleting?: boolean; group?: string} = {}) => made('Pod', name, 'remote-worker', {uid, ...o});
const headCopy = (uid?: string) => made('Service', 'app-head-svc', 'head-service-copy', uid ? {uid} : {});
const configCopy = (group = 'app') => made('ConfigMap', 'app-config', 'dependency-copy', {group});

/** What place applied at home for the group: no role, no home label. */
function placed(name: string, group = 'app'): KubeObject {
  return {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name, namespace: 'ml', labels: {'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': group}}};
}

function locked(name: string, owner: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: 'ml', finalizers: ['superskyray.io/swap'], deletionTimestamp: DELETED, ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'app', uid: owner, controller: true}]},
  };
}

function home(o: Partial<CollectedCluster> = {}): CollectedCluster {
  return {id: HOME, context: 'onprem', made: [], locked: [], rayClusters: new Set(['rc-1']), groups: new Set(['ml/app']), ...o};
}
function cloud(made: KubeObject[], o: Partial<CollectedCluster> = {}): CollectedCluster {
  return {id: 'cloud-id', context: 'cloud', made, locked: [], rayClusters: new Set(), groups: new Set(), ...o};
}

const summary = (clusters: CollectedCluster[]) => leftovers(clusters).map((l) => `${l.action} ${l.object.kind}/${l.object.metadata?.name}@${l.cluster}`);

describe('leftovers: what was made for a RayCluster or group that is gone goes, and nothing else', () => {
  it.each<{name: string; clusters: CollectedCluster[]; want: string[]}>([
    {
      name: 'everything of a live RayCluster stays',
      clusters: [home(), cloud([remoteWorker('w1'), headCopy('rc-1'), configCopy()])],
      want: [],
    },
    {
      name: 'the Ray object deleted by someone else: remote workers first, then the copies',
      clusters: [home({rayClusters: new Set(), groups: new Set()}), cloud([headCopy('rc-1'), configCopy(), remoteWorker('w1')])],
      want: ['delete Pod/w1@cloud-id', 'delete Service/app-head-svc@cloud-id', 'delete ConfigMap/app-config@cloud-id'],
    },
    {
      name: "a RayCluster made again under the same name (or a RayJob's next attempt) does not keep the old one's workers and head copy",
      clusters: [home({rayClusters: new Set(['rc-2'])}), cloud([remoteWorker('w1', 'rc-1'), remoteWorker('w2', 'rc-2'), headCopy('rc-1'), configCopy()])],
      want: ['delete Pod/w1@cloud-id', 'delete Service/app-head-svc@cloud-id'],
    },
    {
      name: 'a home that did not answer proves nothing',
      clusters: [home({unobserved: 'timeout', rayClusters: new Set(), groups: new Set()}), cloud([remoteWorker('w1'), configCopy()])],
      want: [],
    },
    {
      name: 'a cluster that did not answer is not touched',
      clusters: [home({rayClusters: new Set(), groups: new Set()}), cloud([remoteWorker('w1')], {unobserved: 'connection refused'})],
      want: [],
    },
    {
      name: 'a home outside the fleet proves nothing',
      clusters: [home(), cloud([made('Pod', 'w9', 'remote-worker', {uid: 'rc-9', home: 'elsewhere'})])],
      want: [],
    },
    {
      name: 'what is already going is not deleted again',
      clusters: [home({rayClusters: new Set(), groups: new Set()}), cloud([remoteWorker('w1', 'rc-1', {deleting: true})])],
      want: [],
    },
    {
      name: 'only the group that is gone loses its objects',
      clusters: [home({groups: new Set(['ml/app']), rayClusters: new Set(['rc-1'])}), cloud([remoteWorker('w1'), remoteWorker('x1', 'rc-x', {group: 'other'}), configCopy('other')])],
      want: ['delete Pod/x1@cloud-id', 'delete ConfigMap/app-config@cloud-id'],
    },
    {
      name: 'groups of the same name in another namespace are other groups',
      clusters: [home({groups: new Set(['prod/app'])}), cloud([made('ConfigMap', 'cfg', 'dependency-copy', {namespace: 'ml'})])],
      want: ['delete ConfigMap/cfg@cloud-id'],
    },
    {
      name: 'a head-Service copy made before copies recorded a UID goes with its group',
      clusters: [home({rayClusters: new Set(['rc-2'])}), cloud([headCopy()])],
      want: [],
    },
    {
      name: 'a Pending worker left locked by a swap is let go of once its RayCluster is gone',
      clusters: [home({rayClusters: new Set(), groups: new Set(), locked: [locked('p1', 'rc-1')]}), cloud([remoteWorker('w1')])],
      want: ['release Pod/p1@home-id', 'delete Pod/w1@cloud-id'],
    },
    {
      name: 'a Pending worker locked by a swap of a live RayCluster is left to that swap',
      clusters: [home({locked: [locked('p1', 'rc-1')]})],
      want: [],
    },
    {
      name: "what place applied at home goes (when asked for) only with its group's Ray object",
      clusters: [home({made: [placed('app-config'), placed('other-config', 'other')]})],
      want: ['delete ConfigMap/other-config@home-id'],
    },
  ])('$name', ({clusters, want}) => {
    expect(summary(clusters)).toEqual(want);
  });

  it('says what each object was made for, and in which context', () => {
    const [l] = leftovers([home({rayClusters: new Set(), groups: new Set()}), cloud([remoteWorker('w1')])]);
    expect(l?.why).toBe('a remote worker for RayCluster app of group ml/app in context "onprem", which is gone');
  });
});
