import {describe, expect, it} from 'vitest';
import type {SpanResult} from '../../../src/reconcile/span.js';
import {renderSpanResult} from '../../../src/ui/span.js';

const base: SpanResult = {
  group: 'app',
  kind: 'RayCluster',
  namespace: 'ml',
  home: 'onprem',
  rayCluster: 'app',
  moves: [],
  stuck: [],
  repairs: [],
  steps: [],
  dryRun: false,
  warnings: [],
};

describe('renderSpanResult', () => {
  it('says when there is nothing to do', () => {
    expect(renderSpanResult(base)).toBe('raycluster/app: no worker is waiting for room on onprem; nothing to span\n');
  });

  it('shows the repairs of an interrupted run, then the moves', () => {
    const text = renderSpanResult({
      ...base,
      repairs: [{action: 'delete-remote', object: 'pod/app-cpu-worker-x', context: 'cloud', why: 'the placeholder of remote worker app-cpu-worker-x is gone'}],
      moves: [{pending: 'app-cpu-worker-y', workerGroup: 'cpu', name: 'app-cpu-worker-y', to: 'cloud'}],
    });
    expect(text.split('\n')).toEqual([
      'raycluster/app: repaired what an earlier run or a change left',
      'REPAIR          OBJECT                 CONTEXT   WHY',
      'delete-remote   pod/app-cpu-worker-x   cloud     the placeholder of remote worker app-cpu-worker-x is gone',
      'raycluster/app: 1 worker(s) spanned from onprem',
      'PENDING WORKER     GROUP   RUNS AS            IN',
      'app-cpu-worker-y   cpu     app-cpu-worker-y   cloud',
      '',
    ]);
  });
});
