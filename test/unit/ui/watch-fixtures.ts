/** Reports of one watch run and the state they make, shared by the store's and the TUI's tests. */
import type {FleetStatus} from '../../../src/reconcile/fleet-status.js';
import type {GroupStatus} from '../../../src/reconcile/group-status.js';
import type {SpanResult} from '../../../src/reconcile/span.js';
import type {WatchReport} from '../../../src/reconcile/watch.js';
import {initialWatchState, reduceWatch, type WatchTuiState} from '../../../src/ui/watch-store.js';

export const APP = 'ml/raycluster/app';
export const SERVE = 'ml/rayservice/serve';

export const at = (second: number) => `2025-05-01T12:00:${String(second).padStart(2, '0')}.000Z`;

export function result(over: Partial<SpanResult> = {}): SpanResult {
  return {group: 'app', kind: 'RayCluster', namespace: 'ml', home: 'onprem', rayCluster: 'app', moves: [], stuck: [], repairs: [], steps: [], dryRun: false, warnings: [], ...over};
}

export function pass(second: number, group: string, over: Partial<SpanResult> = {}): WatchReport {
  return {type: 'pass', at: at(second), group, trigger: 'pod app-gpu-worker-aaaaa changed in onprem', result: result(over), ms: 120};
}

/** app: spanned from onprem to cloud, one Pending worker that fits nowhere. */
export const appStatus: GroupStatus = {
  group: 'app',
  kind: 'RayCluster',
  namespace: 'ml',
  home: 'onprem',
  homeClusterId: 'onprem-id',
  rayCluster: 'app',
  mode: 'spanned',
  mesh: 'cilium',
  relocate: 'if-fits',
  autoscaling: true,
  head: {name: 'app-head-x7k2p', phase: 'Running', node: 'onprem-0'},
  workerGroups: [
    {name: 'gpu', replicas: 4},
    {name: 'cpu', replicas: 1},
  ],
  clusters: [
    {
      context: 'onprem',
      clusterId: 'onprem-id',
      home: true,
      state: 'Ready',
      problems: [],
      workers: [
        {workerGroup: 'gpu', local: 1, pending: 1, placeholders: 2, running: 1},
        {workerGroup: 'cpu', local: 1, pending: 0, placeholders: 0, running: 1},
      ],
    },
    {context: 'cloud', clusterId: 'cloud-id', home: false, state: 'Ready', problems: [], workers: [{workerGroup: 'gpu', remote: 2, running: 2}, {workerGroup: 'cpu', remote: 0, running: 0}]},
  ],
  otherRayClusters: [],
  placeholders: [
    {name: 'app-gpu-worker-bcdfg', workerGroup: 'gpu', ready: true, twinIn: 'cloud', twin: 'Running'},
    {name: 'app-gpu-worker-hldhl', workerGroup: 'gpu', ready: false, twinIn: 'cloud', twin: 'Pending'},
  ],
  pending: [{name: 'app-gpu-worker-toobg', workerGroup: 'gpu', reason: 'onprem/onprem-0: needs nvidia.com/gpu 8, free 0; fits no other cluster either'}],
  repairs: [],
  warnings: [],
};

export const serveStatus: GroupStatus = {
  ...appStatus,
  group: 'serve',
  kind: 'RayService',
  home: 'cloud',
  homeClusterId: 'cloud-id',
  rayCluster: 'serve-raycluster-abcde',
  mode: 'single',
  autoscaling: false,
  head: {name: 'serve-head-1', phase: 'Running', node: 'cloud-1'},
  workerGroups: [{name: 'cpu', replicas: 2}],
  clusters: [
    {context: 'cloud', clusterId: 'cloud-id', home: true, state: 'Ready', problems: [], workers: [{workerGroup: 'cpu', local: 2, pending: 0, placeholders: 0, running: 2}]},
    {context: 'onprem', clusterId: 'onprem-id', home: false, state: 'Ready', problems: [], workers: [{workerGroup: 'cpu', remote: 0, running: 0}]},
  ],
  placeholders: [],
  pending: [],
};

const GI = 2 ** 30;

export const fleet: FleetStatus = {
  clusters: [
    {
      context: 'onprem',
      server: 'https://127.0.0.1:7443',
      state: 'Ready',
      problems: [],
      clusterId: 'onprem-id',
      capacity: {
        nodes: {total: 2, ready: 2, schedulable: 2},
        pods: {bound: 9, pending: 1},
        resources: {cpu: {allocatable: 8000, requested: 5000}, memory: {allocatable: 32 * GI, requested: 30 * GI}, 'nvidia.com/gpu': {allocatable: 8, requested: 8}},
      },
    },
    {
      context: 'cloud',
      server: 'https://127.0.0.1:7444',
      state: 'Ready',
      problems: [],
      clusterId: 'cloud-id',
      capacity: {
        nodes: {total: 4, ready: 4, schedulable: 4},
        pods: {bound: 5, pending: 0},
        resources: {cpu: {allocatable: 16000, requested: 2500}, memory: {allocatable: 64 * GI, requested: 6 * GI}, 'nvidia.com/gpu': {allocatable: 0, requested: 0}},
      },
    },
  ],
};

/** A run: both clusters ready, two groups, app spanned one worker and has one stuck, serve errored once. */
export const run: WatchReport[] = [
  {type: 'cluster', at: at(1), context: 'onprem', state: 'Ready'},
  {type: 'cluster', at: at(1), context: 'cloud', state: 'Ready'},
  {
    type: 'groups',
    at: at(1),
    groups: [
      {key: APP, kind: 'RayCluster', name: 'app', namespace: 'ml', contexts: ['onprem'], rayCluster: 'app'},
      {key: SERVE, kind: 'RayService', name: 'serve', namespace: 'ml', contexts: ['cloud']},
    ],
  },
  {type: 'fleet', at: at(2), fleet},
  pass(3, APP, {
    moves: [{pending: 'app-gpu-worker-aaaaa', workerGroup: 'gpu', name: 'app-gpu-worker-bcdfg', to: 'cloud'}],
    steps: [
      {context: 'cloud', action: 'create', object: 'pod/app-gpu-worker-bcdfg', why: 'remote worker for app-gpu-worker-aaaaa'},
      {context: 'onprem', action: 'delete', object: 'pod/app-gpu-worker-aaaaa', why: 'replaced by placeholder app-gpu-worker-bcdfg'},
    ],
    stuck: [{pending: 'app-gpu-worker-toobg', reason: 'needs nvidia.com/gpu 8; no cluster has 8 free'}],
  }),
  {type: 'status', at: at(3), group: APP, status: appStatus},
  {type: 'error', at: at(4), group: SERVE, message: 'the lease ml/serve could not be read: connection reset'},
  {type: 'status', at: at(5), group: SERVE, status: serveStatus},
];

export function runState(): WatchTuiState {
  return run.reduce(reduceWatch, initialWatchState(['onprem', 'cloud']));
}
