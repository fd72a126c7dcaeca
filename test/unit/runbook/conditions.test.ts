import {describe, expect, it} from 'vitest';
import type {GroupCluster, GroupStatus} from '../../../src/reconcile/group-status.js';
import {conditionMisses} from '../../../src/runbook/conditions.js';
import type {GroupCondition} from '../../../src/runbook/format.js';

const onprem = (workers: GroupCluster['workers']): GroupCluster => ({context: 'onprem', home: true, state: 'Ready', problems: [], workers, objects: []});
const cloud = (workers: GroupCluster['workers'], copy = true): GroupCluster => ({
  context: 'cloud',
  home: false,
  state: 'Ready',
  problems: [],
  workers,
  objects: copy ? [{object: 'service/app-head-svc', role: 'head-Service copy', global: 'true', shared: 'false'}] : [],
});

/** A group spanned as the seed's 2 -> 3: two local cpu workers, one placeholder, its remote twin; and an empty gpu group. */
function spanned(o: {remoteRunning?: number; headPhase?: string; cloudState?: 'Unreachable'} = {}): GroupStatus {
  return {
    group: 'app',
    kind: 'RayCluster',
    namespace: 'ml',
    home: 'onprem',
    homeClusterId: 'id',
    rayCluster: 'app',
    mode: 'spanned',
    mesh: 'cilium',
    relocate: 'never',
    autoscaling: false,
    head: {name: 'app-head', phase: o.headPhase ?? 'Running'},
    workerGroups: [{name: 'cpu', replicas: 3}, {name: 'gpu', replicas: 0}],
    clusters: [
      onprem([
        {workerGroup: 'cpu', local: 2, pending: 0, placeholders: 1, running: 2},
        {workerGroup: 'gpu', local: 0, pending: 0, placeholders: 0, running: 0},
      ]),
      o.cloudState
        ? {context: 'cloud', home: false, state: o.cloudState, problems: []}
        : cloud([
            {workerGroup: 'cpu', remote: 1, running: o.remoteRunning ?? 1},
            {workerGroup: 'gpu', remote: 0, running: 0},
          ]),
    ],
    otherRayClusters: [],
    placeholders: [],
    pending: [],
    repairs: [],
    warnings: [],
  };
}

const condition = (c: Partial<GroupCondition>): GroupCondition => ({group: 'raycluster/app', namespace: 'ml', ...c});

describe('conditionMisses', () => {
  it.each<[string, Partial<GroupCondition>, ReturnType<typeof spanned>, string[]]>([
    ['holds when mode and counts agree', {mode: 'spanned', clusters: {onprem: {local: 2, placeholders: 1, pending: 0, running: 2}, cloud: {remote: 1, running: 1, headServiceCopy: true}}, running: true}, spanned(), []],
    ['names a mode that differs', {mode: 'single'}, spanned(), ['mode is spanned, want single']],
    ['names each count that differs', {clusters: {onprem: {local: 3, placeholders: 0}, cloud: {remote: 1}}}, spanned(), ['onprem has local=2, want 3', 'onprem has placeholders=1, want 0']],
    ['counts only the worker group named', {workerGroup: 'gpu', clusters: {onprem: {local: 0}, cloud: {remote: 0}}, running: true}, spanned(), []],
    ['names a worker group the group does not have', {workerGroup: 'tpu', mode: 'spanned'}, spanned(), ['app has no worker group "tpu" (it has cpu, gpu)']],
    ['wants a head-Service copy gone', {clusters: {cloud: {headServiceCopy: false}}}, spanned(), ['cloud has head-Service copy, want none']],
    ['wants a head-Service copy there', {clusters: {cloud: {headServiceCopy: true}}}, {...spanned(), clusters: [spanned().clusters[0]!, cloud([{workerGroup: 'cpu', remote: 0, running: 0}], false)]}, ['cloud has no head-Service copy, want one']],
    ['is not all running while a remote worker starts', {running: true}, spanned({remoteRunning: 0}), ['1 of 1 remote worker(s) in cloud not Running']],
    ['is not all running while the head starts', {running: true}, spanned({headPhase: 'Pending'}), ['the head is Pending']],
    ['never takes an unreachable cluster for an empty one', {clusters: {cloud: {remote: 0}}}, spanned({cloudState: 'Unreachable'}), ['cloud could not be observed (Unreachable)']],
    ['names a context outside the fleet', {clusters: {edge: {remote: 0}}}, spanned(), ['edge is not a cluster of the fleet']],
  ])('%s', (_what, c, status, misses) => {
    expect(conditionMisses(condition(c), status)).toEqual(misses);
  });

  it('counts Pending workers at home against running', () => {
    const status = spanned();
    status.clusters[0]!.workers![0] = {workerGroup: 'cpu', local: 2, pending: 1, placeholders: 1, running: 2};
    expect(conditionMisses(condition({running: true}), status)).toEqual(['1 worker(s) Pending in onprem']);
  });
});
