import {describe, expect, it} from 'vitest';
import type {PodSpec} from '../../../src/kube/types.js';
import {claimsOf, QuotaRoom, workerRefusals, type Quota, type TargetFacts} from '../../../src/placement/preflight.js';

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
  claims: {},
  secrets: {},
  copySecrets: false,
  quotas: [],
  inTheWay: [],
  unreadable: [],
  ...extra,
});

const quota = (hard: Record<string, string>, used: Record<string, string> = {}, scoped = false): Quota => ({name: 'team', hard, used, scoped});

describe('workerRefusals', () => {
  it('has nothing against a cluster that has what the worker names', () => {
    expect(workerRefusals(worker({priorityClassName: 'batch'}), facts({priorityClasses: {batch: true}}))).toEqual([]);
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
    ['a Secret it lacks', worker({imagePullSecrets: [{name: 'pull'}]}), facts({secrets: {pull: false}}), 'Secret(s) pull that the workers need are not there in cloud; create them there, or pass --copy-secrets'],
    ['a quota that could never hold one worker', worker(), facts({quotas: [quota({'requests.cpu': '1'}, {'requests.cpu': '0'})]}), 'ResourceQuota team could never hold one worker: it asks requests.cpu 2000m, and the quota holds 1 in cloud'],
    ['what the server refused on a dry run', worker(), facts(), 'a dry-run create of a remote worker is refused in cloud: pods "x" is forbidden: violates PodSecurity "restricted:latest"', 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'],
    ['an object in the way', worker(), facts({inTheWay: ['Service app-head-svc in cloud is not ours']}), 'Service app-head-svc in cloud is not ours'],
    ['what could not be read', worker(), facts({unreadable: ['cannot read the ResourceQuotas of namespace ml in cloud (forbidden)']}), 'cannot read the ResourceQuotas of namespace ml in cloud (forbidden)'],
  ])('refuses %s', (_, spec, target, reason, dryRun?: string) => {
    expect(workerRefusals(spec, target, dryRun)).toEqual([reason]);
  });

  it('leaves a quota full now to the room counted worker by worker, and a Secret that is not there to --copy-secrets', () => {
    expect(workerRefusals(worker(), facts({quotas: [quota({'requests.cpu': '4'}, {'requests.cpu': '4'})]}))).toEqual([]);
    expect(workerRefusals(worker({imagePullSecrets: [{name: 'pull'}]}), facts({secrets: {pull: false}, copySecrets: true}))).toEqual([]);
  });

  it('lets a worker mount a claim --claim names, where it is there', () => {
    expect(workerRefusals(worker({volumes: [{name: 'data', persistentVolumeClaim: {claimName: 'datasets-replica'}}]}), facts({claims: {'datasets-replica': true}}))).toEqual([]);
  });

  it('names each claim once', () => {
    const a = worker({volumes: [{name: 'd', persistentVolumeClaim: {claimName: 'x'}}, {name: 'e', emptyDir: {}}, {name: 'f', persistentVolumeClaim: {claimName: 'x'}}]});
    expect(claimsOf(a)).toEqual(['x', 'x']);
    expect(workerRefusals(a, facts())).toHaveLength(1);
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
    expect(new QuotaRoom([quota({pods: '0'}, {}, true)]).never(worker())).toBeUndefined();
  });
});
