import {describe, expect, it} from 'vitest';
import type {KubeObject} from '../../../src/kube/types.js';
import {homelessGroups, listedGroup, type MadeElsewhere} from '../../../src/reconcile/fleet-groups.js';
import type {GroupCluster, GroupStatus} from '../../../src/reconcile/group-status.js';
import {appStatus} from '../ui/watch-fixtures.js';

const ready = (context: string, home: boolean, workers: GroupCluster['workers']): GroupCluster => ({context, clusterId: `${context}-id`, home, state: 'Ready', problems: [], workers, objects: []});
const away = (context: string): GroupCluster => ({context, home: false, state: 'Unreachable', problems: [{reason: 'ConnectionRefused', message: 'connection refused'}]});

function status(clusters: GroupCluster[], extra: Partial<GroupStatus> = {}): GroupStatus {
  return {...appStatus, autoscaling: false, clusters, placeholders: [], pending: [], repairs: [], warnings: [], ...extra};
}

const home = ready('onprem', true, [
  {workerGroup: 'cpu', local: 2, pending: 1, placeholders: 1, running: 2},
  {workerGroup: 'gpu', local: 0, pending: 0, placeholders: 1, running: 0},
]);

describe('listedGroup: one row of status -A from what status GROUP sees', () => {
  it.each([
    {
      name: 'a spanned group sums its worker groups per cluster',
      given: status([home, ready('cloud', false, [{workerGroup: 'cpu', remote: 1, running: 1}, {workerGroup: 'gpu', remote: 1, running: 0}])], {
        placeholders: [{name: 'p1', workerGroup: 'cpu', ready: true, twinIn: 'cloud', twin: 'Running'}],
      }),
      mode: 'spanned',
      workers: [
        {context: 'onprem', home: true, observed: true, local: 2, placeholders: 2, pending: 1},
        {context: 'cloud', home: false, observed: true, remote: 2},
      ],
      reasons: [],
    },
    {
      name: 'a cluster holding a placeholder\'s twin that did not answer makes it degraded',
      given: status([home, away('cloud')], {placeholders: [{name: 'p1', workerGroup: 'cpu', ready: true, twinIn: 'cloud', twin: 'unknown'}]}),
      mode: 'degraded',
      workers: [
        {context: 'onprem', home: true, observed: true, local: 2, placeholders: 2, pending: 1},
        {context: 'cloud', home: false, observed: false},
      ],
      reasons: ['cloud is unreachable: connection refused', 'the remote workers of its placeholders in cloud could not be read'],
    },
    {
      name: 'a cluster down that holds nothing of a single group leaves it single, its count unknown',
      given: status([ready('onprem', true, [{workerGroup: 'cpu', local: 3, pending: 0, placeholders: 0, running: 3}]), away('cloud')], {mode: 'single', warnings: ['the head Service app-head-svc is missing in onprem: no worker can reach the head']}),
      mode: 'single',
      workers: [
        {context: 'onprem', home: true, observed: true, local: 3, placeholders: 0, pending: 0},
        {context: 'cloud', home: false, observed: false},
      ],
      reasons: ['the head Service app-head-svc is missing in onprem: no worker can reach the head'],
    },
    {
      name: 'a home whose head Service could not be read is degraded',
      given: status([{...home, state: 'Degraded', problems: [{reason: 'HeadServiceUnread', message: 'the head Service app-head-svc could not be read: forbidden'}]}]),
      mode: 'degraded',
      workers: [{context: 'onprem', home: true, observed: true, local: 2, placeholders: 2, pending: 1}],
      reasons: ['onprem is degraded: the head Service app-head-svc could not be read: forbidden'],
    },
  ])('$name', ({given, mode, workers, reasons}) => {
    const row = listedGroup(given, '2026-12-06T10:00:00Z');
    expect(row).toMatchObject({namespace: 'ml', kind: 'RayCluster', name: 'app', home: 'onprem', homeClusterId: 'onprem-id', mode, createdAt: '2026-12-06T10:00:00Z'});
    expect(row.workers).toEqual(workers);
    expect(row.reasons).toEqual(reasons);
  });
});

const made = (kind: string, name: string, group: string, homeId: string, role = 'remote-worker', extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  kind,
  metadata: {name, namespace: 'ml', labels: {'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': group, 'superskyray.io/role': role, 'superskyray.io/home-cluster': homeId}, ...extra},
});

describe('homelessGroups: the groups whose home did not answer, from what the others hold', () => {
  it.each([
    {
      name: 'one silent cluster: it is named as the home, and the remote workers are counted where they run',
      clusters: [
        {context: 'onprem', observed: false, made: []},
        {context: 'cloud', id: 'cloud-id', observed: true, made: [made('Pod', 'app-w1', 'app', 'onprem-id'), made('Pod', 'app-w2', 'app', 'onprem-id', 'remote-worker', {deletionTimestamp: '2026-12-06T10:00:00Z'}), made('Service', 'app-head-svc', 'app', 'onprem-id', 'head-service-copy')]},
        {context: 'edge', id: 'edge-id', observed: true, made: [made('Pod', 'app-w3', 'app', 'onprem-id')]},
      ] as MadeElsewhere[],
      want: [
        {
          name: 'app',
          home: 'onprem',
          homeClusterId: 'onprem-id',
          mode: 'degraded',
          workers: [
            {context: 'onprem', home: true, observed: false},
            {context: 'cloud', home: false, observed: true, remote: 1},
            {context: 'edge', home: false, observed: true, remote: 1},
          ],
          reasons: ['its home cluster onprem-id did not answer (the only fleet context that did not is "onprem"); shown from what cloud, edge hold(s) for it'],
        },
      ],
    },
    {
      name: 'what was made for a home that answered is not a homeless group (its group is listed, or it is garbage)',
      clusters: [
        {context: 'onprem', id: 'onprem-id', observed: true, made: []},
        {context: 'cloud', id: 'cloud-id', observed: true, made: [made('Pod', 'app-w1', 'app', 'onprem-id')]},
      ] as MadeElsewhere[],
      want: [],
    },
    {
      name: 'a home that is no cluster of the fleet is said to be so',
      clusters: [{context: 'cloud', id: 'cloud-id', observed: true, made: [made('Pod', 'app-w1', 'app', 'far-id')]}] as MadeElsewhere[],
      want: [
        {
          name: 'app',
          home: 'cluster far-id',
          mode: 'degraded',
          workers: [{context: 'cloud', home: false, observed: true, remote: 1}],
          reasons: ['its home cluster far-id is not in the fleet; shown from what cloud hold(s) for it'],
        },
      ],
    },
    {
      name: 'two silent clusters: the home is told by its id only',
      clusters: [
        {context: 'onprem', observed: false, made: []},
        {context: 'edge', observed: false, made: []},
        {context: 'cloud', id: 'cloud-id', observed: true, made: [made('Pod', 'app-w1', 'app', 'onprem-id')]},
      ] as MadeElsewhere[],
      want: [{name: 'app', home: 'cluster onprem-id', reasons: ['its home cluster onprem-id did not answer; shown from what cloud hold(s) for it']}],
    },
  ])('$name', ({clusters, want}) => {
    const rows = homelessGroups(clusters);
    expect(rows).toHaveLength(want.length);
    for (const [i, w] of want.entries()) expect(rows[i]).toMatchObject({namespace: 'ml', repairs: [], ...w});
    for (const row of rows) expect(row.kind).toBeUndefined();
  });
});
