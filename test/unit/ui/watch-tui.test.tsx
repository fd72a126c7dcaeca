import {render} from 'ink-testing-library';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {cleanup} from 'ink-testing-library';
import {initialWatchState, showDetail, WatchStore} from '../../../src/ui/watch-store.js';
import {capacityBar, WatchApp, WatchView} from '../../../src/ui/watch-tui.js';
import {APP, at, fleet, runState, SERVE} from './watch-fixtures.js';

/** Lets ink mount its input handling and draw the next frame. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

const lines = (frame: string | undefined) => (frame ?? '').split('\n').map((l) => l.trimEnd());

afterEach(() => cleanup());

describe('WatchView', () => {
  it('draws one row per group, one per cluster with capacity bars, the log and the keys', () => {
    const {lastFrame} = render(<WatchView state={runState()} width={100} height={30} />);
    expect(lines(lastFrame())).toEqual([
      'superskyray watch  2 group(s), 2 cluster(s)  reconciling                            updated 12:00:05',
      '',
      'GROUPS  workers per cluster: local/placeholder/remote/Pending',
      '  GROUP                HOME    MODE     onprem   cloud    LAST ACTION',
      '> ml/raycluster/app    onprem  spanned  2/2/-/1  -/-/2/-  12:00:03 spanned app-gpu-worker-aaaaa to …',
      '  ml/rayservice/serve  cloud   single   -/-/0/-  2/0/-/0  12:00:04 error: the lease ml/serve could …',
      '',
      'CLUSTER  STATE  CPU                  MEMORY                  GPU               PENDING',
      'onprem   Ready  [######----] 5/8     [#########-] 30Gi/32Gi  [##########] 8/8  1',
      'cloud    Ready  [##--------] 2.5/16  [#---------] 6Gi/64Gi   -                 0',
      '',
      'LOG',
      '12:00:01 cluster onprem: Ready',
      '12:00:01 cluster cloud: Ready',
      `12:00:01 watching 2 group(s): ${APP}, ${SERVE}`,
      `12:00:03 ${APP}: cloud: create pod/app-gpu-worker-bcdfg (remote worker for app-gpu-worke…`,
      `12:00:03 ${APP}: onprem: delete pod/app-gpu-worker-aaaaa (replaced by placeholder app-gp…`,
      `12:00:03 ${APP}: spanned app-gpu-worker-aaaaa to cloud as app-gpu-worker-bcdfg (a pass o…`,
      `12:00:03 ${APP}: app-gpu-worker-toobg fits no cluster: needs nvidia.com/gpu 8; no cluste…`,
      `12:00:04 ${SERVE}: error: the lease ml/serve could not be read: connection reset`,
      'q quit  ·  p pause (observe only)  ·  ↑↓/jk select  ·  enter detail',
    ]);
  });

  it('shows the last log lines that fit, and never more rows than it is given', () => {
    const {lastFrame} = render(<WatchView state={runState()} width={100} height={16} />);
    const frame = lines(lastFrame());
    expect(frame).toHaveLength(16);
    expect(frame.slice(-5)).toEqual([
      'LOG',
      `12:00:03 ${APP}: spanned app-gpu-worker-aaaaa to cloud as app-gpu-worker-bcdfg (a pass o…`,
      `12:00:03 ${APP}: app-gpu-worker-toobg fits no cluster: needs nvidia.com/gpu 8; no cluste…`,
      `12:00:04 ${SERVE}: error: the lease ml/serve could not be read: connection reset`,
      'q quit  ·  p pause (observe only)  ·  ↑↓/jk select  ·  enter detail',
    ]);
  });

  it('shows the selected group\'s detail: its workers per cluster, placeholders and why Pending workers wait', () => {
    const {lastFrame} = render(<WatchView state={showDetail(runState(), true)} width={100} height={30} />);
    const frame = lines(lastFrame());
    const start = frame.findIndex((l) => l.startsWith(`DETAIL ${APP}`));
    expect(frame.slice(start, start + 12)).toEqual([
      `DETAIL ${APP}  spanned, home onprem, RayCluster app, mesh cilium, relocate if-fits, auto…`,
      '  head app-head-x7k2p: Running on onprem-0',
      '  CONTEXT        STATE  WORKER-GROUP  DESIRED  LOCAL  PLACEHOLDER  REMOTE  PENDING',
      '  onprem (home)  Ready  gpu           4        1      2            -       1',
      '  onprem (home)  Ready  cpu           1        1      0            -       0',
      '  cloud          Ready  gpu           -        -      -            2       -',
      '  cloud          Ready  cpu           -        -      -            0       -',
      '  placeholder app-gpu-worker-bcdfg (gpu, ready): twin in cloud Running',
      '  placeholder app-gpu-worker-hldhl (gpu, not ready): twin in cloud Pending',
      '  Pending app-gpu-worker-toobg (gpu): onprem/onprem-0: needs nvidia.com/gpu 8, free 0; fits no other',
      '      cluster either',
      '',
    ]);
    expect(frame).toHaveLength(30);
    expect(frame.at(-1)).toBe('q quit  ·  p pause (observe only)  ·  ↑↓/jk select  ·  esc hide detail');
  });

  it('draws clusters before anything is known, unknown rather than empty, and says when there are no groups yet', () => {
    const {lastFrame} = render(<WatchView state={initialWatchState(['onprem', 'cloud'])} width={80} height={20} />);
    const frame = lines(lastFrame());
    expect(frame).toContain('  no groups yet: watching for Ray apps the tool placed');
    expect(frame).toContain('onprem   Unknown  ?    ?       ?    ?');
    expect(frame).toContain('nothing yet');
  });

  it('says why a cluster is not ready', () => {
    const state = {
      ...runState(),
      clusters: [{context: 'onprem', look: {state: 'Unreachable' as const, problems: [{reason: 'ConnectionRefused', message: 'connection refused (127.0.0.1:7443)'}], at: at(9)}}],
    };
    const {lastFrame} = render(<WatchView state={state} width={100} height={30} />);
    const frame = lines(lastFrame());
    const row = frame.indexOf('onprem   Unreachable  ?    ?       ?    ?');
    expect(row).toBeGreaterThan(0);
    expect(frame[row + 1]).toBe('  connection refused (127.0.0.1:7443)');
  });
});

describe('capacityBar', () => {
  it.each([
    {name: 'half', resource: 'cpu', use: {requested: 4000, allocatable: 8000}, want: '[#####-----] 4/8'},
    {name: 'full', resource: 'nvidia.com/gpu', use: {requested: 8, allocatable: 8}, want: '[##########] 8/8'},
    {name: 'a little shows', resource: 'cpu', use: {requested: 10, allocatable: 64000}, want: '[#---------] 10m/64'},
    {name: 'none of it', resource: 'nvidia.com/gpu', use: {requested: 0, allocatable: 0}, want: '-'},
    {name: 'not known', resource: 'memory', use: undefined, want: '?'},
  ])('$name', ({resource, use, want}) => {
    expect(capacityBar(resource, use).text).toBe(want);
  });
});

describe('WatchApp', () => {
  const mount = () => {
    const store = new WatchStore(runState());
    const onQuit = vi.fn();
    const onTogglePause = vi.fn();
    const app = render(<WatchApp store={store} onQuit={onQuit} onTogglePause={onTogglePause} width={100} height={30} />);
    return {store, onQuit, onTogglePause, ...app};
  };

  it('q calls onQuit and shows that it is stopping', async () => {
    const {stdin, lastFrame, onQuit} = mount();
    await tick();
    stdin.write('q');
    await tick();
    expect(onQuit).toHaveBeenCalledTimes(1);
    expect(lines(lastFrame())[0]).toContain('stopping: the pass in flight finishes first');
  });

  it('Ctrl-C quits like q', async () => {
    const {stdin, onQuit} = mount();
    await tick();
    stdin.write('\u0003');
    await tick();
    expect(onQuit).toHaveBeenCalledTimes(1);
  });

  it('p pauses reconciling and p again resumes it, in the store, the help line and the header', async () => {
    const {stdin, lastFrame, store, onTogglePause} = mount();
    await tick();
    stdin.write('p');
    await tick();
    expect(store.isPaused()).toBe(true);
    expect(onTogglePause).toHaveBeenLastCalledWith(true);
    expect(lines(lastFrame()).at(-1)).toBe('q quit  ·  p resume reconciling  ·  ↑↓/jk select  ·  enter detail');
    expect(lines(lastFrame())[0]).toContain('PAUSED: observing only');
    stdin.write('p');
    await tick();
    expect(store.isPaused()).toBe(false);
    expect(onTogglePause).toHaveBeenLastCalledWith(false);
    expect(lines(lastFrame()).at(-1)).toBe('q quit  ·  p pause (observe only)  ·  ↑↓/jk select  ·  enter detail');
  });

  it('down and j select the next group, enter shows its detail, escape hides it, up goes back', async () => {
    const {stdin, lastFrame} = mount();
    await tick();
    stdin.write('j');
    await tick();
    expect(lines(lastFrame())).toContain(`> ${SERVE}  cloud   single   -/-/0/-  2/0/-/0  12:00:04 error: the lease ml/serve could …`);
    stdin.write('\r');
    await tick();
    expect(lines(lastFrame()).some((l) => l.startsWith(`DETAIL ${SERVE}  single, home cloud`))).toBe(true);
    stdin.write('\u001B');
    await tick();
    expect(lines(lastFrame()).some((l) => l.startsWith('DETAIL'))).toBe(false);
    stdin.write('\u001B[A');
    await tick();
    expect(lines(lastFrame())).toContain(`> ${APP}    onprem  spanned  2/2/-/1  -/-/2/-  12:00:03 spanned app-gpu-worker-aaaaa to …`);
    stdin.write('\u001B[B');
    await tick();
    expect(lines(lastFrame())).toContain(`> ${SERVE}  cloud   single   -/-/0/-  2/0/-/0  12:00:04 error: the lease ml/serve could …`);
  });

  it('draws what is reported after it is mounted', async () => {
    const {store, lastFrame} = mount();
    await tick();
    store.report({type: 'fleet', at: at(30), fleet: {clusters: [{...fleet.clusters[0]!, state: 'Degraded', problems: [{reason: 'Forbidden', message: 'cannot list nodes'}]}]}});
    await tick();
    expect(lines(lastFrame())[0]).toMatch(/updated 12:00:30$/);
    const frame = lines(lastFrame());
    const row = frame.findIndex((l) => l.startsWith('onprem '));
    expect(frame[row]).toMatch(/^onprem {3}Degraded {2}\[######----\] 5\/8/);
    expect(frame[row + 1]).toBe('  cannot list nodes');
  });
});
