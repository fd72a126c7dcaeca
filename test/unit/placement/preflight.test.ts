import {describe, expect, it} from 'vitest';
import type {PodSpec} from '../../../src/kube/types.js';
import {claimsOf, QuotaRoom, targetRefusals, type Quota, type TargetFacts} from '../../../src/placement/preflight.js';

const worker = (extra: Partial<PodSpec> = {}): PodSpec => ({
  containers: [{name: 'ray-worker', resources: {requests: {cpu: '2', memory: '4Gi'}, limits: {cpu: '2', memory: '4Gi'}}}],
  initContainers: [{name: 'wait-gcs-ready', resources: {requests: {cpu: '200m', memory: '256Mi'}, limits: {cpu: '200m', memory: '256Mi'}}}],
  ...extra,
});

const facts = (extra: Partial<TargetFacts> = {}): TargetFacts => ({
  context: 'cloud',
  namespace: 'ml',
  namespaceExists: true,
  priorityClasses: {},
  runtimeClasses: {},
  quotas: [],
  claims: {},
  inTheWay: [],
  missing: [],
  ...extra,
});

const quota = (hard: Record<string, string>, used: Record<string, string> = {}, scoped = false): Quota => ({name: 'team', hard, used, scoped});

describe('targetRefusals', () => {
  it('has nothing against a cluster that has what the workers name', () => {
    expect(targetRefusals([worker({priorityClassName: 'batch'})], facts({priorityClasses: {batch: true}}))).toEqual([]);
  });

  it.each([
    ['a PriorityClass it lacks', worker({priorityClassName: 'batch'}), facts({priorityClasses: {batch: false}}), 'PriorityClass batch is not there in cloud, and its admission refuses a pod that names it'],
    ['a RuntimeClass it lacks', worker({runtimeClassName: 'nvidia'}), facts({runtimeClasses: {nvidia: false}}), 'RuntimeClass nvidia is not there in cloud, and its admission refuses a pod that names it'],
    [
      'a PersistentVolumeClaim, whatever the cluster',
      worker({volumes: [{name: 'data', persistentVolumeClaim: {claimName: 'datasets'}}]}),
      facts(),
      'the workers mount PersistentVolumeClaim(s) datasets, whose data is in the home cluster; a claim of that name in cloud would be other data (name one there with the same data: --claim HOME=REMOTE)',
    ],
    [
      'a claim --claim names that is not there',
      worker({volumes: [{name: 'data', persistentVolumeClaim: {claimName: 'datasets-replica'}}]}),
      facts({claims: {'datasets-replica': false}}),
      'PersistentVolumeClaim datasets-replica, which --claim names for the workers, is not there in cloud',
    ],
    ['a quota with no room for one worker', worker(), facts({quotas: [quota({'requests.cpu': '4'}, {'requests.cpu': '3'})]}), 'ResourceQuota team has no room for another worker: requests.cpu would be 5000m of 4 (3000m used) in cloud'],
    ['what the server refused on a dry run', worker(), facts({dryRunRefusal: 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'}), 'a dry-run create of a remote worker is refused in cloud: pods "x" is forbidden: violates PodSecurity "restricted:latest"'],
    ['an object in the way', worker(), facts({inTheWay: ['Service app-head-svc in cloud is not ours']}), 'Service app-head-svc in cloud is not ours'],
    ['a Secret it lacks', worker(), facts({missing: ['Secret(s) pull that the workers need are not there in cloud']}), 'Secret(s) pull that the workers need are not there in cloud'],
  ])('refuses %s', (_, spec, target, reason) => {
    expect(targetRefusals([spec], target)).toEqual([reason]);
  });

  it('lets a worker mount a claim --claim names, where it is there', () => {
    expect(targetRefusals([worker({volumes: [{name: 'data', persistentVolumeClaim: {claimName: 'datasets-replica'}}]})], facts({claims: {'datasets-replica': true}}))).toEqual([]);
  });

  it('names each claim once, over the worker groups', () => {
    const a = worker({volumes: [{name: 'd', persistentVolumeClaim: {claimName: 'x'}}, {name: 'e', emptyDir: {}}]});
    expect(claimsOf(a)).toEqual(['x']);
    expect(targetRefusals([a, a], facts())).toHaveLength(1);
  });
});

describe('QuotaRoom', () => {
  it.each([
    ['bare cpu, as requests', {cpu: '10'}, {cpu: '7'}, 1, undefined],
    ['bare cpu, as requests, with no room', {cpu: '10'}, {cpu: '9'}, 1, 'ResourceQuota team has no room for another worker: cpu would be 11000m of 10 (9000m used)'],
    ['memory limits', {'limits.memory': '8Gi'}, {'limits.memory': '5Gi'}, 1, 'ResourceQuota team has no room for another worker: limits.memory would be 9Gi of 8Gi (5Gi used)'],
    ['pods', {pods: '3'}, {pods: '2'}, 2, 'ResourceQuota team has no room for 2 more workers: pods would be 4 of 3 (2 used)'],
    ['an extended resource it does not ask for', {'requests.nvidia.com/gpu': '0'}, {}, 1, undefined],
    ['count/ of another kind', {'count/services': '0'}, {}, 1, undefined],
  ])('counts %s', (_, hard, used, count, want) => {
    expect(new QuotaRoom([quota(hard, used)]).check(worker(), count)).toBe(want);
  });

  it('takes room worker by worker, and refuses the one that does not fit, taking nothing for it', () => {
    const room = new QuotaRoom([quota({'requests.cpu': '5'}, {'requests.cpu': '0'})]);
    expect(room.take(worker())).toBeUndefined();
    expect(room.take(worker())).toBeUndefined();
    expect(room.take(worker())).toMatch(/requests.cpu would be 6000m of 5 \(4000m used\)/);
    expect(room.check(worker({containers: [{name: 'small', resources: {requests: {cpu: '500m'}}}], initContainers: []}))).toBeUndefined();
  });

  it('leaves scoped quotas to the dry-run create, which knows which pods they hold', () => {
    expect(new QuotaRoom([quota({pods: '0'}, {}, true)]).check(worker())).toBeUndefined();
  });
});
