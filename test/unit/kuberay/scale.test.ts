import {describe, expect, it} from 'vitest';
import {desiredReplicas, scaleChange, workerGroupPatch, type ScaleChange, type WorkerGroupBounds} from '../../../src/kuberay/scale.js';

const INT32_MAX = 2_147_483_647;

describe('desiredReplicas clamps like KubeRay', () => {
  const cases: Array<{name: string; group: WorkerGroupBounds; want: number}> = [
    {name: 'replicas within bounds', group: {replicas: 3, minReplicas: 1, maxReplicas: 5}, want: 3},
    {name: 'replicas below min gives min', group: {replicas: 0, minReplicas: 2, maxReplicas: 5}, want: 2},
    {name: 'replicas above max gives max', group: {replicas: 9, minReplicas: 1, maxReplicas: 5}, want: 5},
    {name: 'min above max gives max, whatever replicas says', group: {replicas: 4, minReplicas: 6, maxReplicas: 3}, want: 3},
    {name: 'min above max gives max even with replicas below both', group: {replicas: 0, minReplicas: 6, maxReplicas: 3}, want: 3},
    {name: 'no replicas gives min', group: {minReplicas: 2, maxReplicas: 5}, want: 2},
    {name: 'nothing set gives 0', group: {}, want: 0},
    {name: 'no max leaves replicas unbounded above', group: {replicas: 100}, want: 100},
    {name: 'no min lets replicas be 0', group: {replicas: 0, maxReplicas: 4}, want: 0},
    {name: 'replicas at min and max', group: {replicas: 2, minReplicas: 2, maxReplicas: 2}, want: 2},
  ];
  it.each(cases)('$name', ({group, want}) => {
    expect(desiredReplicas(group)).toBe(want);
  });
});

describe('scaleChange', () => {
  const cases: Array<{name: string; group: WorkerGroupBounds; n: number; autoscaling: boolean; want: ScaleChange}> = [
    // Without the autoscaler: replicas, widening the bounds when needed.
    {name: 'manual growth within bounds writes replicas only', group: {replicas: 2, minReplicas: 0, maxReplicas: 10}, n: 5, autoscaling: false, want: {replicas: 5}},
    {name: 'manual shrink within bounds writes replicas only', group: {replicas: 5, minReplicas: 1, maxReplicas: 10}, n: 2, autoscaling: false, want: {replicas: 2}},
    {name: 'manual growth above max raises max', group: {replicas: 2, minReplicas: 1, maxReplicas: 3}, n: 6, autoscaling: false, want: {replicas: 6, maxReplicas: 6}},
    {name: 'manual shrink below min lowers min', group: {replicas: 4, minReplicas: 3, maxReplicas: 10}, n: 1, autoscaling: false, want: {replicas: 1, minReplicas: 1}},
    {name: 'manual with no bounds set writes replicas only', group: {replicas: 1}, n: 40, autoscaling: false, want: {replicas: 40}},
    {name: 'manual, replicas unset: writes it even when n equals the implied count', group: {minReplicas: 2, maxReplicas: 4}, n: 2, autoscaling: false, want: {replicas: 2}},
    {name: 'manual, already there: no change', group: {replicas: 3, minReplicas: 1, maxReplicas: 5}, n: 3, autoscaling: false, want: {}},
    // With the autoscaler: n becomes a bound, replicas is never written.
    {name: 'autoscaled growth raises min', group: {replicas: 2, minReplicas: 1, maxReplicas: 10}, n: 4, autoscaling: true, want: {minReplicas: 4}},
    {name: 'autoscaled growth above max raises min and max', group: {replicas: 2, minReplicas: 1, maxReplicas: 3}, n: 5, autoscaling: true, want: {minReplicas: 5, maxReplicas: 5}},
    {name: 'autoscaled shrink lowers max', group: {replicas: 6, minReplicas: 1, maxReplicas: 10}, n: 3, autoscaling: true, want: {maxReplicas: 3}},
    {name: 'autoscaled shrink below min lowers min and max', group: {replicas: 6, minReplicas: 4, maxReplicas: 10}, n: 2, autoscaling: true, want: {maxReplicas: 2, minReplicas: 2}},
    {name: 'autoscaled shrink with no max set writes max', group: {replicas: 6, minReplicas: 0}, n: 2, autoscaling: true, want: {maxReplicas: 2}},
    {name: 'autoscaled growth measured against the clamped count, not raw replicas', group: {replicas: 0, minReplicas: 3, maxReplicas: 10}, n: 3, autoscaling: true, want: {}},
    {name: 'autoscaled at n already the min: no change', group: {replicas: 4, minReplicas: 4, maxReplicas: 8}, n: 4, autoscaling: true, want: {}},
    {name: 'autoscaled, n equal to the clamped count is not a shrink: n becomes the min', group: {replicas: 9, minReplicas: 1, maxReplicas: 5}, n: 5, autoscaling: true, want: {minReplicas: 5}},
  ];
  it.each(cases)('$name', ({group, n, autoscaling, want}) => {
    const change = scaleChange(group, n, autoscaling);
    expect(change).toEqual(want);
    if (autoscaling) expect(change).not.toHaveProperty('replicas');
  });

  it('never narrows the bounds away from n: KubeRay then wants exactly n', () => {
    for (const group of [{replicas: 2, minReplicas: 1, maxReplicas: 3}, {replicas: 8, minReplicas: 5, maxReplicas: 9}, {minReplicas: 2}, {}] as WorkerGroupBounds[]) {
      for (const n of [0, 1, 4, 12]) {
        const change = scaleChange(group, n, false);
        expect(desiredReplicas({...group, ...change})).toBe(n);
      }
    }
  });

  it('with the autoscaler, the new bounds admit n', () => {
    const group: WorkerGroupBounds = {replicas: 4, minReplicas: 2, maxReplicas: 6};
    for (const n of [0, 1, 3, 4, 7, 20]) {
      const bounds = {minReplicas: 2, maxReplicas: 6, ...scaleChange(group, n, true)};
      expect(bounds.minReplicas).toBeLessThanOrEqual(n);
      expect(bounds.maxReplicas).toBeGreaterThanOrEqual(n);
    }
  });

  it('treats a missing max as the int32 maximum', () => {
    expect(scaleChange({replicas: 1}, INT32_MAX, false)).toEqual({replicas: INT32_MAX});
  });
});

describe('workerGroupPatch', () => {
  const base = '/spec/workerGroupSpecs/1';
  const test = {op: 'test', path: `${base}/groupName`, value: 'gpu'};
  const cases: Array<{name: string; change: ScaleChange; want: unknown[]}> = [
    {name: 'no change gives no patch', change: {}, want: []},
    {name: 'replicas only', change: {replicas: 4}, want: [test, {op: 'add', path: `${base}/replicas`, value: 4}]},
    {name: 'replicas 0 is still a change', change: {replicas: 0}, want: [test, {op: 'add', path: `${base}/replicas`, value: 0}]},
    {
      name: 'all bounds, in a fixed order',
      change: {maxReplicas: 8, minReplicas: 1, replicas: 3},
      want: [test, {op: 'add', path: `${base}/replicas`, value: 3}, {op: 'add', path: `${base}/minReplicas`, value: 1}, {op: 'add', path: `${base}/maxReplicas`, value: 8}],
    },
    {
      name: 'workersToDelete goes in the scaleStrategy',
      change: {replicas: 2, workersToDelete: ['app-gpu-worker-abcde']},
      want: [test, {op: 'add', path: `${base}/replicas`, value: 2}, {op: 'add', path: `${base}/scaleStrategy`, value: {workersToDelete: ['app-gpu-worker-abcde']}}],
    },
    {
      name: 'an empty workersToDelete clears it',
      change: {workersToDelete: []},
      want: [test, {op: 'add', path: `${base}/scaleStrategy`, value: {workersToDelete: []}}],
    },
  ];
  it.each(cases)('$name', ({change, want}) => {
    expect(workerGroupPatch(base, 'gpu', change)).toEqual(want);
  });

  it('starts with a test of the group name at that index', () => {
    const [first] = workerGroupPatch('/spec/rayClusterConfig/workerGroupSpecs/0', 'cpu', {minReplicas: 2});
    expect(first).toEqual({op: 'test', path: '/spec/rayClusterConfig/workerGroupSpecs/0/groupName', value: 'cpu'});
  });
});
