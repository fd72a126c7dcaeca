import {describe, expect, it} from 'vitest';
import type {WatchReport} from '../../../src/reconcile/watch.js';
import {
  clock,
  clusterHealth,
  initialWatchState,
  LOG_LIMIT,
  moveSelection,
  reduceWatch,
  showDetail,
  togglePaused,
  WatchStore,
  workerCells,
  type WatchTuiState,
} from '../../../src/ui/watch-store.js';
import {APP, appStatus, at, fleet, pass, run, runState, SERVE} from './watch-fixtures.js';

/** Deeply frozen, so that a reducer that changes its input throws. */
function frozen<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) frozen(v);
  }
  return value;
}

const groupsReport = (second: number, keys: string[]): WatchReport => ({
  type: 'groups',
  at: at(second),
  groups: keys.map((key) => {
    const [namespace, kind, name] = key.split('/') as [string, string, string];
    return {key, kind: kind === 'rayservice' ? 'RayService' : 'RayCluster', name, namespace, contexts: [kind === 'rayservice' ? 'cloud' : 'onprem']};
  }),
});

interface Case {
  name: string;
  start?: WatchTuiState;
  reports: WatchReport[];
  check: (s: WatchTuiState) => void;
}

const cases: Case[] = [
  {
    name: 'a cluster report sets what the watches say and logs it with the time of day',
    reports: [{type: 'cluster', at: at(1), context: 'cloud', state: 'Degraded', reason: 'connection refused'}],
    check: (s) => {
      expect(s.clusters.map((c) => c.context)).toEqual(['onprem', 'cloud']);
      expect(s.clusters[1]!.watch).toEqual({state: 'Degraded', reason: 'connection refused', at: at(1)});
      expect(s.log).toEqual([{text: '12:00:01 cluster cloud: Degraded (connection refused)', level: 'warn'}]);
      expect(s.at).toBe(at(1));
    },
  },
  {
    name: 'a cluster not in the fleet order comes last',
    reports: [{type: 'cluster', at: at(1), context: 'edge', state: 'Ready'}],
    check: (s) => expect(s.clusters.map((c) => c.context)).toEqual(['onprem', 'cloud', 'edge']),
  },
  {
    name: 'groups come in watch order, with the home where their Ray object alone was seen',
    reports: [groupsReport(1, [APP, SERVE])],
    check: (s) => {
      expect(s.groups.map((g) => [g.key, g.home])).toEqual([
        [APP, 'onprem'],
        [SERVE, 'cloud'],
      ]);
      expect(s.log.map((l) => l.text)).toEqual([`12:00:01 watching 2 group(s): ${APP}, ${SERVE}`]);
    },
  },
  {
    name: 'a new groups report keeps what is known of a group, drops the gone ones and keeps the selection on its group',
    reports: [groupsReport(1, [APP, SERVE]), {type: 'status', at: at(2), group: SERVE, status: {...appStatus, group: 'serve', home: 'cloud'}}, groupsReport(3, ['ml/raycluster/other', SERVE])],
    start: {...initialWatchState(['onprem', 'cloud']), selected: 1},
    check: (s) => {
      expect(s.groups.map((g) => g.key)).toEqual(['ml/raycluster/other', SERVE]);
      expect(s.groups[1]!.status?.home).toBe('cloud');
      expect(s.selected).toBe(1);
    },
  },
  {
    name: 'a pass that spanned says so as the last action, and logs every step and move',
    reports: [pass(3, APP, {moves: [{pending: 'app-gpu-worker-aaaaa', workerGroup: 'gpu', name: 'app-gpu-worker-bcdfg', to: 'cloud'}], steps: [{context: 'cloud', action: 'create', object: 'pod/app-gpu-worker-bcdfg', why: 'remote worker'}]})],
    check: (s) => {
      expect(s.groups).toHaveLength(1);
      expect(s.groups[0]!.lastAction).toEqual({at: at(3), text: 'spanned app-gpu-worker-aaaaa to cloud', level: 'info'});
      expect(s.groups[0]!.home).toBe('onprem');
      expect(s.groups[0]!.lastPass).toEqual({at: at(3), ms: 120, trigger: 'pod app-gpu-worker-aaaaa changed in onprem'});
      expect(s.log.map((l) => l.text)).toEqual([
        `12:00:03 ${APP}: cloud: create pod/app-gpu-worker-bcdfg (remote worker)`,
        `12:00:03 ${APP}: spanned app-gpu-worker-aaaaa to cloud as app-gpu-worker-bcdfg (a pass of 120 ms, woken by: pod app-gpu-worker-aaaaa changed in onprem)`,
      ]);
    },
  },
  {
    name: 'several moves are counted, with every target',
    reports: [
      pass(3, APP, {
        moves: [
          {pending: 'a', workerGroup: 'gpu', name: 'x', to: 'cloud'},
          {pending: 'b', workerGroup: 'gpu', name: 'y', to: 'edge'},
        ],
      }),
    ],
    check: (s) => expect(s.groups[0]!.lastAction?.text).toBe('spanned 2 workers to cloud, edge'),
  },
  {
    name: 'a pass of repairs names its last step and how many more',
    reports: [
      pass(3, APP, {
        steps: [
          {context: 'cloud', action: 'delete', object: 'pod/app-gpu-worker-x', why: 'its placeholder is gone'},
          {context: 'cloud', action: 'delete', object: 'service/app-head-svc', why: 'no remote workers left'},
        ],
      }),
    ],
    check: (s) => expect(s.groups[0]!.lastAction).toEqual({at: at(3), text: 'delete service/app-head-svc in cloud (+1 more)', level: 'info'}),
  },
  {
    name: 'a pass that changed nothing keeps the last action and logs nothing',
    reports: [pass(3, APP, {steps: [{context: 'cloud', action: 'create', object: 'pod/x', why: 'w'}]}), pass(9, APP)],
    check: (s) => {
      expect(s.groups[0]!.lastAction?.text).toBe('create pod/x in cloud');
      expect(s.log).toHaveLength(1);
      expect(s.groups[0]!.lastPass?.at).toBe(at(9));
    },
  },
  {
    name: 'an error is the last action until a pass goes through',
    reports: [{type: 'error', at: at(3), group: APP, message: 'the lease could not be read'}],
    check: (s) => {
      expect(s.groups[0]!.lastAction).toEqual({at: at(3), text: 'error: the lease could not be read', level: 'error'});
      expect(s.log).toEqual([{text: `12:00:03 ${APP}: error: the lease could not be read`, level: 'error'}]);
      const after = reduceWatch(s, pass(5, APP));
      expect(after.groups[0]!.lastAction).toEqual({at: at(5), text: 'pass ok, nothing to change', level: 'info'});
    },
  },
  {
    name: 'an error of no group is only logged',
    reports: [{type: 'error', at: at(3), message: 'the pod watch of context "cloud" stopped: gone'}],
    check: (s) => {
      expect(s.groups).toEqual([]);
      expect(s.log).toEqual([{text: '12:00:03 error: the pod watch of context "cloud" stopped: gone', level: 'error'}]);
    },
  },
  {
    name: 'a wait is a warning',
    reports: [{type: 'wait', at: at(3), group: APP, message: 'waiting for watch@laptop, which is changing this group'}],
    check: (s) => {
      expect(s.groups[0]!.lastAction).toEqual({at: at(3), text: 'waiting for watch@laptop, which is changing this group', level: 'warn'});
      expect(s.log[0]!.level).toBe('info');
    },
  },
  {
    name: 'workers that newly fit no cluster are logged once, with the reason',
    reports: [
      pass(3, APP, {stuck: [{pending: 'w1', reason: 'needs 8 gpus'}]}),
      pass(4, APP, {stuck: [{pending: 'w1', reason: 'needs 8 gpus'}]}),
      pass(5, APP, {stuck: [{pending: 'w1', reason: 'needs 8 gpus'}, {pending: 'w2', reason: 'needs 9 gpus'}]}),
    ],
    check: (s) => {
      expect(s.log).toEqual([
        {text: `12:00:03 ${APP}: w1 fits no cluster: needs 8 gpus`, level: 'warn'},
        {text: `12:00:05 ${APP}: w2 fits no cluster: needs 9 gpus`, level: 'warn'},
      ]);
      expect(s.groups[0]!.lastAction).toEqual({at: at(5), text: '2 Pending workers fit no cluster', level: 'warn'});
      expect(s.groups[0]!.stuck).toEqual(['w1', 'w2']);
    },
  },
  {
    name: 'a status sets the home and mode, and a later one without a move drops the old target',
    reports: [
      {type: 'status', at: at(3), group: APP, status: {...appStatus, mode: 'relocating', relocatingTo: 'cloud'}},
      {type: 'status', at: at(4), group: APP, status: appStatus},
    ],
    check: (s) => {
      expect(s.groups[0]).toMatchObject({key: APP, home: 'onprem', mode: 'spanned'});
      expect(s.groups[0]!.relocatingTo).toBeUndefined();
      expect(s.log).toEqual([]);
    },
  },
  {
    name: 'the fleet report gives every cluster its state and capacity, and logs nothing',
    reports: [{type: 'fleet', at: at(2), fleet}],
    check: (s) => {
      expect(s.clusters[0]!.look?.capacity?.resources.cpu).toEqual({allocatable: 8000, requested: 5000});
      expect(s.clusters[1]!.look?.state).toBe('Ready');
      expect(s.log).toEqual([]);
    },
  },
  {
    name: 'the log keeps only the last LOG_LIMIT lines',
    reports: Array.from({length: LOG_LIMIT + 5}, (_, i): WatchReport => ({type: 'error', at: at(i % 60), message: `m${i}`})),
    check: (s) => {
      expect(s.log).toHaveLength(LOG_LIMIT);
      expect(s.log[0]!.text).toContain('m5');
      expect(s.log.at(-1)!.text).toContain(`m${LOG_LIMIT + 4}`);
    },
  },
];

describe('reduceWatch', () => {
  it.each(cases)('$name', ({reports, start, check}) => {
    const initial = frozen(start ?? initialWatchState(['onprem', 'cloud']));
    // Every intermediate state is frozen too: the reducer must never change one.
    const state = reports.reduce((s, r) => frozen(reduceWatch(s, r)), initial);
    check(state);
  });

  it('folds a whole run into rows, a log and statuses', () => {
    const s = runState();
    expect(s.groups.map((g) => [g.key, g.home, g.mode, g.lastAction?.text])).toEqual([
      [APP, 'onprem', 'spanned', 'spanned app-gpu-worker-aaaaa to cloud'],
      [SERVE, 'cloud', 'single', 'error: the lease ml/serve could not be read: connection reset'],
    ]);
    expect(s.log.map((l) => l.level)).toEqual(['info', 'info', 'info', 'info', 'info', 'info', 'warn', 'error']);
    expect(s.clusters.map((c) => clusterHealth(c).state)).toEqual(['Ready', 'Ready']);
    expect(run).toHaveLength(8);
  });
});

describe('clusterHealth', () => {
  const look = (state: 'Ready' | 'Degraded' | 'Unreachable', message?: string) => ({state, problems: message ? [{reason: 'X', message}] : [], at: at(1)});
  it.each([
    {name: 'nothing known', row: {context: 'a'}, want: {state: 'Unknown'}},
    {name: 'only the watches', row: {context: 'a', watch: {state: 'Degraded' as const, reason: 'watch failed', at: at(1)}}, want: {state: 'Degraded', reason: 'watch failed'}},
    {name: 'only the look', row: {context: 'a', look: look('Unreachable', 'connection refused')}, want: {state: 'Unreachable', reason: 'connection refused'}},
    {name: 'the look is worse', row: {context: 'a', watch: {state: 'Ready' as const, at: at(1)}, look: look('Degraded', 'cannot list nodes')}, want: {state: 'Degraded', reason: 'cannot list nodes'}},
    {name: 'the watches are worse', row: {context: 'a', watch: {state: 'Degraded' as const, reason: 'watch failed', at: at(1)}, look: look('Ready')}, want: {state: 'Degraded', reason: 'watch failed'}},
    {name: 'both ready', row: {context: 'a', watch: {state: 'Ready' as const, at: at(1)}, look: look('Ready')}, want: {state: 'Ready'}},
  ])('$name', ({row, want}) => {
    expect(clusterHealth(row)).toEqual(want);
  });
});

describe('workerCells', () => {
  it('sums worker groups per cluster: local, placeholders and Pending at home, remote elsewhere', () => {
    const cells = workerCells({key: APP, stuck: [], status: appStatus});
    expect(cells.get('onprem')).toEqual({known: true, local: 2, placeholders: 2, pending: 1});
    expect(cells.get('cloud')).toEqual({known: true, remote: 2});
  });

  it('says unknown, never zero, for a cluster that did not answer; nothing before the first status', () => {
    const cells = workerCells({
      key: APP,
      stuck: [],
      status: {...appStatus, clusters: [appStatus.clusters[0]!, {context: 'cloud', home: false, state: 'Unreachable', problems: []}]},
    });
    expect(cells.get('cloud')).toEqual({known: false});
    expect(workerCells({key: APP, stuck: []}).size).toBe(0);
  });

  it('shows zeros for a cluster that answered with no worker groups', () => {
    const cells = workerCells({
      key: APP,
      stuck: [],
      status: {...appStatus, clusters: [{...appStatus.clusters[0]!, workers: []}, {...appStatus.clusters[1]!, workers: []}]},
    });
    expect(cells.get('onprem')).toEqual({known: true, local: 0, placeholders: 0, pending: 0});
    expect(cells.get('cloud')).toEqual({known: true, remote: 0});
  });
});

describe('keys as state changes', () => {
  it.each([
    {name: 'down from the first', start: 0, delta: 1, want: 1},
    {name: 'down past the last stays', start: 1, delta: 1, want: 1},
    {name: 'up past the first stays', start: 0, delta: -1, want: 0},
  ])('moveSelection: $name', ({start, delta, want}) => {
    const s = {...runState(), selected: start};
    expect(moveSelection(s, delta).selected).toBe(want);
  });

  it('opens the detail only when there is a group to show', () => {
    expect(showDetail(initialWatchState(), true).detail).toBe(false);
    expect(showDetail(runState(), true).detail).toBe(true);
    expect(showDetail(showDetail(runState(), true), false).detail).toBe(false);
  });

  it('toggles paused and logs it', () => {
    const paused = togglePaused(initialWatchState(), at(7));
    expect(paused.paused).toBe(true);
    expect(paused.log).toEqual([{text: '12:00:07 paused: observing only, no changes are made until p is pressed again', level: 'warn'}]);
    const resumed = togglePaused(paused, at(8));
    expect(resumed.paused).toBe(false);
    expect(resumed.log.at(-1)).toEqual({text: '12:00:08 resumed: reconciling', level: 'info'});
  });

  it('cuts ISO timestamps to the time of day and leaves anything else alone', () => {
    expect(clock(at(9))).toBe('12:00:09');
    expect(clock('later')).toBe('later');
  });
});

describe('WatchStore', () => {
  it('tells subscribers of every new state, keeps the snapshot while nothing changes, and stops telling after unsubscribe', () => {
    const store = new WatchStore(initialWatchState(['onprem']));
    let told = 0;
    const unsubscribe = store.subscribe(() => told++);
    const first = store.getSnapshot();
    expect(store.getSnapshot()).toBe(first);
    store.report({type: 'cluster', at: at(1), context: 'onprem', state: 'Ready'});
    expect(told).toBe(1);
    expect(store.getSnapshot()).not.toBe(first);
    store.update((s) => s);
    expect(told).toBe(1);
    store.togglePaused(at(2));
    expect(store.isPaused()).toBe(true);
    expect(told).toBe(2);
    unsubscribe();
    store.togglePaused(at(3));
    expect(told).toBe(2);
    expect(store.isPaused()).toBe(false);
  });
});
