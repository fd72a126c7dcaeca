import {describe, expect, it} from 'vitest';
import {collapseState, decideGrowth, decidePlace, shrinkOrder, type WorkerRef} from '../../../src/placement/decide.js';
import {explain} from '../../../src/placement/reasons.js';
import type {ClusterSnapshot, PodSnapshot} from '../../../src/placement/snapshot.js';
import {cluster, demand, group, node, pod} from '../../support/placement.js';

const key = {namespace: 'ml', rayCluster: 'svc-raycluster-x7k2p'};
const own = (name: string, nodeName: string | undefined, type: 'head' | 'worker', requests: Record<string, string>, extra: Record<string, string> = {}): PodSnapshot =>
  pod(name, nodeName, requests, {'ray.io/cluster': key.rayCluster, 'ray.io/group': type === 'head' ? 'headgroup' : 'workers', 'ray.io/node-type': type, ...extra}, 'ml');

describe('the seed use case 1: a RayService outgrows onprem', () => {
  const head = group('head', 'headgroup', 1, {cpu: '1', memory: '2Gi'});
  const workers = (n: number) => group('worker', 'workers', n, {cpu: '3', memory: '4Gi'});
  const emptyOnprem = cluster('onprem', 2, [node('onprem-0', {cpu: '8', memory: '32Gi'})]);
  const cloud = cluster('cloud', 1, [node('cloud-0', {cpu: '8', memory: '32Gi'}), node('cloud-1', {cpu: '8', memory: '32Gi'})]);

  it('places it on onprem, the preferred cluster, when it fits there', () => {
    const decision = decidePlace(demand(head, [workers(2)], 'RayService'), [emptyOnprem, cloud]);
    expect(decision).toMatchObject({action: 'place', home: 'onprem', assignments: [{cluster: 'onprem', head: true, workers: {workers: 2}}], unplaced: {}});
    expect(decision.reasons.map(explain)).toContain('onprem is preferred over cloud by fleet priority');
  });

  // Running: head and 2 workers bound on onprem; KubeRay made the third worker, which is Pending.
  const running = cluster('onprem', 2, emptyOnprem.nodes, [
    own('head', 'onprem-0', 'head', {cpu: '1', memory: '2Gi'}),
    own('w1', 'onprem-0', 'worker', {cpu: '3', memory: '4Gi'}),
    own('w2', 'onprem-0', 'worker', {cpu: '3', memory: '4Gi'}),
    own('w3', undefined, 'worker', {cpu: '3', memory: '4Gi'}),
  ]);

  it('spans one worker to cloud with --skip-capacity-relocate', () => {
    const decision = decideGrowth(demand(head, [workers(3)], 'RayService'), [running, cloud], 'onprem', key, {relocate: 'never'});
    expect(decision).toMatchObject({action: 'span', home: 'onprem', assignments: [{cluster: 'cloud', head: false, workers: {workers: 1}}], unplaced: {}});
    expect(decision.reasons.map(explain)).toContain('onprem: no room for 1 worker of group workers (onprem/onprem-0: needs cpu 3, free 1)');
  });

  it('relocates the whole group to cloud without it, because cloud fits all of it', () => {
    const decision = decideGrowth(demand(head, [workers(3)], 'RayService'), [running, cloud], 'onprem', key, {relocate: 'if-fits'});
    expect(decision).toMatchObject({action: 'relocate', home: 'cloud', assignments: [{cluster: 'cloud', head: true, workers: {workers: 3}}]});
    expect(decision.reasons.map(explain)).toContain('relocate policy if-fits: cloud fits the whole group, so it moves there');
  });

  it('spans anyway under if-fits when no other cluster fits the whole group', () => {
    const small = cluster('cloud', 1, [node('cloud-0', {cpu: '4', memory: '32Gi'})]);
    const decision = decideGrowth(demand(head, [workers(3)], 'RayService'), [running, small], 'onprem', key, {relocate: 'if-fits'});
    expect(decision).toMatchObject({action: 'span', assignments: [{cluster: 'cloud', workers: {workers: 1}}]});
  });

  it('says the growth fits at home when it does', () => {
    const roomy = cluster('onprem', 2, [node('onprem-0', {cpu: '16', memory: '32Gi'})], running.pods);
    const decision = decideGrowth(demand(head, [workers(3)], 'RayService'), [roomy, cloud], 'onprem', key, {relocate: 'if-fits'});
    expect(decision).toMatchObject({action: 'fits', home: 'onprem', assignments: [{cluster: 'onprem', workers: {workers: 1}}]});
  });
});

describe('the seed use case 2: autoscaled to 2 GPU workers, one GPU node per cluster', () => {
  const gpuWorkers = group('worker', 'workers', 2, {cpu: '1', 'nvidia.com/gpu': '1'});
  const head = group('head', 'headgroup', 1, {cpu: '1'});
  const onprem = cluster('onprem', 2, [node('onprem-cpu', {cpu: '8'}), node('onprem-gpu', {cpu: '8', 'nvidia.com/gpu': '1'})], [
    own('head', 'onprem-cpu', 'head', {cpu: '1'}),
    own('w1', undefined, 'worker', {cpu: '1', 'nvidia.com/gpu': '1'}),
    own('w2', undefined, 'worker', {cpu: '1', 'nvidia.com/gpu': '1'}),
  ]);
  const cloud = cluster('cloud', 1, [node('cloud-gpu', {cpu: '8', 'nvidia.com/gpu': '1'})]);

  it.each([{relocate: 'if-fits' as const}, {relocate: 'never' as const}])('keeps one at home and spans one (relocate $relocate)', (policy) => {
    const decision = decideGrowth({...demand(head, [gpuWorkers]), autoscaling: true}, [onprem, cloud], 'onprem', key, policy);
    expect(decision).toMatchObject({
      action: 'span',
      home: 'onprem',
      assignments: [
        {cluster: 'onprem', head: false, workers: {workers: 1}},
        {cluster: 'cloud', head: false, workers: {workers: 1}},
      ],
      unplaced: {},
    });
    expect(decision.reasons.map(explain)).toContain(
      'onprem: no room for 1 of 2 workers of group workers (onprem/onprem-cpu: needs nvidia.com/gpu 1, free 0; onprem/onprem-gpu: needs nvidia.com/gpu 1, free 0)',
    );
  });
});

describe('decidePlace: order and spreading', () => {
  const head = group('head', 'headgroup', 1, {cpu: '1'});
  const fits = (id: string, priority: number, cpu: string): ClusterSnapshot => cluster(id, priority, [node(`${id}-0`, {cpu})]);

  it.each([
    {name: 'fleet priority first', fleet: [fits('a', 1, '64'), fits('b', 2, '64')], home: 'b', by: 'b is preferred over a by fleet priority'},
    {name: 'then the least room left over', fleet: [fits('a', 1, '64'), fits('b', 1, '8')], home: 'b', by: 'b is preferred over a by least room left over'},
    {name: 'then the name', fleet: [fits('b', 1, '8'), fits('a', 1, '8')], home: 'a', by: 'a is preferred over b by name'},
  ])('$name', ({fleet, home, by}) => {
    const decision = decidePlace(demand(head, [group('worker', 'w', 2, {cpu: '2'})]), fleet);
    expect(decision.home).toBe(home);
    expect(decision.reasons.map(explain)).toContain(by);
  });

  it('takes a cluster whose own Pending pods leave no room out of the running', () => {
    const busy = cluster('a', 2, [node('a-0', {cpu: '8'})], [pod('queued', undefined, {cpu: '6'})]);
    const decision = decidePlace(demand(head, [group('worker', 'w', 2, {cpu: '2'})]), [busy, fits('b', 1, '8')]);
    expect(decision).toMatchObject({action: 'place', home: 'b'});
  });

  it('spreads a group that no cluster fits: home takes the head and the most workers', () => {
    const decision = decidePlace(demand(head, [group('worker', 'w', 5, {cpu: '3'})]), [fits('a', 3, '4'), fits('b', 2, '10'), fits('c', 1, '7')]);
    expect(decision).toMatchObject({
      action: 'place',
      home: 'b',
      assignments: [
        {cluster: 'b', head: true, workers: {w: 3}},
        {cluster: 'a', head: false, workers: {w: 1}},
        {cluster: 'c', head: false, workers: {w: 1}},
      ],
      unplaced: {},
    });
  });

  it('says what fits nowhere', () => {
    const decision = decidePlace(demand(head, [group('worker', 'w', 4, {cpu: '6'})]), [fits('a', 1, '8'), fits('b', 1, '7')]);
    expect(decision.unplaced).toEqual({w: 2});
  });
});

describe('shrinkOrder: remote first, then Pending, then local', () => {
  const w = (name: string, where: WorkerRef['where'], clusterPriority: number, created: string): WorkerRef => ({name, group: 'g', where, clusterPriority, created});
  const workers = [
    w('local-old', 'local', 3, '2026-01-01T00:00:00Z'),
    w('local-new', 'local', 3, '2026-01-02T00:00:00Z'),
    w('pending', 'pending', 3, '2026-01-03T00:00:00Z'),
    w('remote-cloud', 'remote', 2, '2026-01-01T00:00:00Z'),
    w('remote-edge', 'remote', 1, '2026-01-01T00:00:00Z'),
  ];
  it.each([
    {count: 1, names: ['remote-edge']},
    {count: 2, names: ['remote-edge', 'remote-cloud']},
    {count: 3, names: ['remote-edge', 'remote-cloud', 'pending']},
    {count: 4, names: ['remote-edge', 'remote-cloud', 'pending', 'local-new']},
    {count: 0, names: []},
  ])('removes $count: $names', ({count, names}) => {
    expect(shrinkOrder(workers, count).map((x) => x.name)).toEqual(names);
  });
});

describe('collapseState', () => {
  const home = (placeholder: boolean) =>
    cluster('onprem', 2, [node('n', {cpu: '8'})], placeholder ? [own('ph', 'n', 'worker', {cpu: '1m'}, {'superskyray.io/role': 'placeholder'})] : []);
  const remote = (withWorker: boolean) =>
    cluster('cloud', 1, [node('c', {cpu: '8'})], withWorker ? [own('w', 'c', 'worker', {cpu: '1'}, {'superskyray.io/role': 'remote-worker'})] : []);
  it.each([
    {name: 'remote workers left', fleet: [home(true), remote(true)], want: {collapsed: false, remoteIn: ['cloud']}},
    {name: 'a placeholder left', fleet: [home(true), remote(false)], want: {collapsed: false, remoteIn: []}},
    {name: 'back on one cluster', fleet: [home(false), remote(false)], want: {collapsed: true, remoteIn: []}},
  ])('$name', ({fleet, want}) => {
    expect(collapseState(fleet, 'onprem', key)).toEqual(want);
  });
});

describe("a RayJob's submitter runs at home, beside the head", () => {
  const job = {
    ...demand(group('head', 'headgroup', 1, {cpu: '1'}), [group('worker', 'w', 1, {cpu: '1'})], 'RayJob'),
    submitter: {count: 1, spec: {containers: [{name: 'submit', resources: {requests: {cpu: '2'}}}]}},
  };

  it('takes the submitter into account when choosing a single cluster', () => {
    // a fits the head and the worker (2 cpu), but not with the submitter as well (4 cpu); b fits all of it.
    const decision = decidePlace(job, [cluster('a', 2, [node('a-0', {cpu: '3'})]), cluster('b', 1, [node('b-0', {cpu: '8'})])]);
    expect(decision).toMatchObject({action: 'place', home: 'b'});
    expect(decision.reasons.map(explain)).toContain('a: no room for 1 worker of group w (a/a-0: needs cpu 1, free 0)');
  });

  it('puts the head and the submitter together when the group spans', () => {
    const decision = decidePlace(job, [cluster('a', 2, [node('a-0', {cpu: '2'})]), cluster('b', 1, [node('b-0', {cpu: '3'})])]);
    expect(decision).toMatchObject({
      action: 'place',
      home: 'b',
      assignments: [{cluster: 'b', head: true, workers: {}}, {cluster: 'a', head: false, workers: {w: 1}}],
    });
  });
});
