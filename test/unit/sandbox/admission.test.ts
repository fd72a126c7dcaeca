import {describe, expect, it} from 'vitest';
import {SandboxApiServer} from '../../../src/sandbox/apiserver.js';
import type {Json, JsonMap} from '../../../src/sandbox/json.js';
import {formatList} from '../../../src/sandbox/quantity.js';
import {podTotal} from '../../../src/sandbox/quota.js';
import {ApiError, Store, type StoredObject} from '../../../src/sandbox/store.js';

const NS = 'ml';
const STORE_NAME: Record<string, string> = {
  PriorityClass: 'priorityclasses.scheduling.k8s.io',
  RuntimeClass: 'runtimeclasses.node.k8s.io',
  ResourceQuota: 'resourcequotas',
  Pod: 'pods',
};

const pc = (name: string, value: number, extra: JsonMap = {}): JsonMap => ({apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name}, value, ...extra});
const rc = (name: string, extra: JsonMap = {}): JsonMap => ({apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: {name}, handler: 'runsc', ...extra});
const quota = (name: string, hard: JsonMap, spec: JsonMap = {}): JsonMap => ({apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name, namespace: NS}, spec: {hard, ...spec}});
/** A container asking for `requests` (and `limits`, when given). */
const asks = (requests: JsonMap, limits?: JsonMap, name = 'main'): JsonMap => ({name, image: 'pause', resources: {requests, ...(limits ? {limits} : {})}});
/** A pod; a name ending in '-' is a generateName. */
const pod = (name: string, spec: JsonMap = {}, containers: Json[] = [{name: 'main', image: 'pause'}], status?: JsonMap): JsonMap => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: name.endsWith('-') ? {generateName: name, namespace: NS} : {name, namespace: NS},
  spec: {containers, ...spec},
  ...(status ? {status} : {}),
});

/** An API server (not listening) with a namespace and the given objects, created through admission. */
function world(objects: JsonMap[] = []): {server: SandboxApiServer; store: Store; create: (o: JsonMap) => StoredObject} {
  const store = new Store();
  const server = new SandboxApiServer(store, {});
  server.createAs('test', 'namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}});
  const create = (o: JsonMap) => {
    const created = server.createAs('test', STORE_NAME[String(o.kind)]!, o);
    // A status in the fixture is what the pod came to since (Succeeded, say): admission starts it Pending.
    if (o.kind === 'Pod' && o.status) return store.update('pods', {...created, status: {...(created.status as JsonMap), ...(o.status as JsonMap)}});
    return created;
  };
  for (const o of objects) create(o);
  return {server, store, create};
}

/** The code and message of what `work` is refused with. */
function refusal(work: () => unknown): {code: number; message: string} {
  try {
    work();
  } catch (err) {
    if (err instanceof ApiError) return {code: err.code, message: err.message};
    throw err;
  }
  throw new Error('expected a refusal');
}

type Outcome = JsonMap | {code: number; message: string};
const refused = (code: number, message: string): Outcome => ({code, message});

/** What admission made of a pod's spec (the fields named by `expected`), or its refusal. */
function admitPod(objects: JsonMap[], p: JsonMap, expected: Outcome): Outcome {
  const {create} = world(objects);
  if ('code' in expected) return refusal(() => create(p));
  const spec = create(p).spec as JsonMap;
  return Object.fromEntries(Object.keys(expected).map((k) => [k, spec[k] ?? null]));
}

describe('the Priority plugin, on a new pod', () => {
  const high = pc('high', 1000, {preemptionPolicy: 'Never'});
  const cases: Array<[string, JsonMap[], JsonMap, Outcome]> = [
    ['no class and no global default: 0 and PreemptLowerPriority', [], pod('p'), {priority: 0, preemptionPolicy: 'PreemptLowerPriority', priorityClassName: null}],
    ["a class: its value and policy", [high], pod('p', {priorityClassName: 'high'}), {priority: 1000, preemptionPolicy: 'Never', priorityClassName: 'high'}],
    ['a class written without a policy has PreemptLowerPriority', [pc('mid', 50)], pod('p', {priorityClassName: 'mid'}), {priority: 50, preemptionPolicy: 'PreemptLowerPriority'}],
    ['no class: the global default, by name', [pc('batch', 7, {globalDefault: true, preemptionPolicy: 'Never'})], pod('p'), {priority: 7, preemptionPolicy: 'Never', priorityClassName: 'batch'}],
    ['a class over the global default', [pc('batch', 7, {globalDefault: true}), high], pod('p', {priorityClassName: 'high'}), {priority: 1000, priorityClassName: 'high'}],
    ['a system class, in any namespace', [], pod('p', {priorityClassName: 'system-node-critical'}), {priority: 2000001000, preemptionPolicy: 'PreemptLowerPriority'}],
    ['a priority stated that agrees with the class', [high], pod('p', {priorityClassName: 'high', priority: 1000, preemptionPolicy: 'Never'}), {priority: 1000}],
    ['no such class', [], pod('p', {priorityClassName: 'nope'}), refused(403, 'pods "p" is forbidden: no PriorityClass with name nope was found')],
    ['no such class, for a pod with only a generateName', [], pod('app-worker-', {priorityClassName: 'nope'}), refused(403, 'pods "app-worker-" is forbidden: no PriorityClass with name nope was found')],
    [
      'a priority that disagrees',
      [high],
      pod('p', {priorityClassName: 'high', priority: 5}),
      refused(403, 'pods "p" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name'),
    ],
    [
      'a priority without a class',
      [],
      pod('p', {priority: 3}),
      refused(403, 'pods "p" is forbidden: the integer value of priority (3) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name'),
    ],
    [
      'a preemption policy that disagrees',
      [high],
      pod('p', {priorityClassName: 'high', preemptionPolicy: 'PreemptLowerPriority'}),
      refused(403, 'pods "p" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name'),
    ],
  ];
  it.each(cases)('%s', (_, objects, p, expected) => {
    expect(admitPod(objects, p, expected)).toEqual(expected);
  });

  it('takes the lower of two global defaults, should a race have made two', () => {
    const {store, create} = world([pc('batch', 7, {globalDefault: true})]);
    // Written past admission, as two API servers racing could.
    store.create('priorityclasses.scheduling.k8s.io', pc('batch-low', 3, {globalDefault: true, preemptionPolicy: 'PreemptLowerPriority'}) as never);
    expect(create(pod('p')).spec).toMatchObject({priority: 3, priorityClassName: 'batch-low'});
  });
});

describe('PriorityClasses, as the API server validates them', () => {
  const cases: Array<[string, JsonMap[], JsonMap, Outcome]> = [
    ['a user class', [], pc('high', 1000), {value: 1000, preemptionPolicy: 'PreemptLowerPriority', globalDefault: null}],
    ['a global default', [], pc('batch', 7, {globalDefault: true, preemptionPolicy: 'Never'}), {value: 7, globalDefault: true, preemptionPolicy: 'Never'}],
    ['a value at the most a user may have', [], pc('top', 1_000_000_000), {value: 1_000_000_000}],
    [
      'a value above it',
      [],
      pc('top', 1_000_000_001),
      refused(422, 'PriorityClass.scheduling.k8s.io "top" is invalid: value: Forbidden: maximum allowed value of a user defined priority is 1000000000'),
    ],
    [
      'a system- name not of the system',
      [],
      pc('system-mine', 5),
      refused(422, "PriorityClass.scheduling.k8s.io \"system-mine\" is invalid: metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"),
    ],
    [
      'a preemption policy there is not, with another error',
      [],
      pc('system-mine', 5, {preemptionPolicy: 'Sometimes'}),
      refused(
        422,
        'PriorityClass.scheduling.k8s.io "system-mine" is invalid: [metadata.name: Forbidden: priority class names with \'system-\' prefix are reserved for system use only. error: system-mine is not a known system priority class, preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"]',
      ),
    ],
    [
      'a second global default',
      [pc('batch', 7, {globalDefault: true})],
      pc('other', 8, {globalDefault: true}),
      refused(403, 'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass batch is already marked as default. Only one default can exist'),
    ],
  ];
  it.each(cases)('%s', (_, objects, object, expected) => {
    const {create} = world(objects);
    if ('code' in expected) {
      expect(refusal(() => create(object))).toEqual(expected);
      return;
    }
    const created = create(object);
    expect(Object.fromEntries(Object.keys(expected).map((k) => [k, created[k] ?? null]))).toEqual(expected);
  });

  it('has the system classes from the start', () => {
    const {store} = world();
    expect(store.list('priorityclasses.scheduling.k8s.io').map((o) => [o.metadata.name, o.value, o.preemptionPolicy])).toEqual([
      ['system-cluster-critical', 2000000000, 'PreemptLowerPriority'],
      ['system-node-critical', 2000001000, 'PreemptLowerPriority'],
    ]);
  });
});

describe('the RuntimeClass plugin, on a new pod', () => {
  const gvisor = rc('gvisor', {overhead: {podFixed: {cpu: '250m', memory: '120Mi'}}});
  const pinned = rc('pinned', {scheduling: {nodeSelector: {sandbox: 'true'}, tolerations: [{key: 'sandbox', operator: 'Exists', effect: 'NoSchedule'}]}});
  const cases: Array<[string, JsonMap[], JsonMap, Outcome]> = [
    ['no class: nothing added', [gvisor], pod('p'), {overhead: null, runtimeClassName: null}],
    ["the class's overhead becomes the pod's", [gvisor], pod('p', {runtimeClassName: 'gvisor'}), {overhead: {cpu: '250m', memory: '120Mi'}}],
    ['the same overhead stated, written otherwise', [gvisor], pod('p', {runtimeClassName: 'gvisor', overhead: {cpu: '0.25', memory: '125829120'}}), {overhead: {cpu: '250m', memory: '120Mi'}}],
    ['a class without overhead leaves none', [rc('plain')], pod('p', {runtimeClassName: 'plain'}), {overhead: null, runtimeClassName: 'plain'}],
    [
      "the class's node selector and tolerations join the pod's",
      [pinned],
      pod('p', {runtimeClassName: 'pinned', nodeSelector: {zone: 'a'}, tolerations: [{key: 'x', operator: 'Exists'}]}),
      {nodeSelector: {zone: 'a', sandbox: 'true'}, tolerations: [{key: 'x', operator: 'Exists'}, {key: 'sandbox', operator: 'Exists', effect: 'NoSchedule'}]},
    ],
    ['no such class', [], pod('p', {runtimeClassName: 'kata'}), refused(403, 'pods "p" is forbidden: pod rejected: RuntimeClass "kata" not found')],
    ['no such class, for a pod with only a generateName', [], pod('w-', {runtimeClassName: 'kata'}), refused(403, 'pods "w-" is forbidden: pod rejected: RuntimeClass "kata" not found')],
    ['an overhead other than the class says', [gvisor], pod('p', {runtimeClassName: 'gvisor', overhead: {cpu: '1'}}), refused(403, 'pods "p" is forbidden: pod rejected: Pod\'s Overhead doesn\'t match RuntimeClass\'s defined Overhead')],
    ['an overhead without a class', [], pod('p', {overhead: {cpu: '1'}}), refused(403, 'pods "p" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead')],
    ['an overhead with a class that has none', [rc('plain')], pod('p', {runtimeClassName: 'plain', overhead: {cpu: '1'}}), refused(403, 'pods "p" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead')],
    [
      'a node selector that disagrees with the class',
      [pinned],
      pod('p', {runtimeClassName: 'pinned', nodeSelector: {sandbox: 'false'}}),
      refused(403, 'pods "p" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = true; pod.spec.nodeSelector[sandbox] = false'),
    ],
  ];
  it.each(cases)('%s', (_, objects, p, expected) => {
    expect(admitPod(objects, p, expected)).toEqual(expected);
  });

  it('validates RuntimeClasses: a handler that is a DNS label, and quantities in the overhead', () => {
    const {create} = world();
    expect(refusal(() => create(rc('bad', {handler: 'Run_SC'})))).toEqual(
      refused(
        422,
        "RuntimeClass.node.k8s.io \"bad\" is invalid: handler: Invalid value: \"Run_SC\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    );
    expect(refusal(() => create(rc('bad', {overhead: {podFixed: {cpu: 'lots'}}})))).toEqual(
      refused(400, "RuntimeClass in version \"v1\" cannot be handled as a RuntimeClass: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    );
  });
});

describe('the ResourceQuota plugin, on a new pod', () => {
  const quotaCases: Array<[string, JsonMap[], JsonMap, string | undefined]> = [
    ['within every limit', [quota('q', {pods: '2', 'requests.cpu': '1', 'limits.memory': '1Gi'})], pod('p', {}, [asks({cpu: '500m'}, {memory: '1Gi'})]), undefined],
    ['one pod too many', [quota('q', {pods: '1'}), pod('a')], pod('p'), 'pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'],
    [
      'past cpu and memory requests, in the formats the server prints',
      [quota('q', {'requests.cpu': '1', 'requests.memory': '1Gi'}), pod('a', {}, [asks({cpu: '600m', memory: '512Mi'})])],
      pod('p', {}, [asks({cpu: '0.5', memory: '768Mi'})]),
      'pods "p" is forbidden: exceeded quota: q, requested: requests.cpu=500m,requests.memory=768Mi, used: requests.cpu=600m,requests.memory=512Mi, limited: requests.cpu=1,requests.memory=1Gi',
    ],
    ['cpu counts requests', [quota('q', {cpu: '1'})], pod('p', {}, [asks({cpu: '2'})]), 'pods "p" is forbidden: exceeded quota: q, requested: cpu=2, used: cpu=0, limited: cpu=1'],
    [
      'limits count limits',
      [quota('q', {'limits.memory': '1Gi'})],
      pod('p', {}, [asks({memory: '512Mi'}, {memory: '2Gi'})]),
      'pods "p" is forbidden: exceeded quota: q, requested: limits.memory=2Gi, used: limits.memory=0, limited: limits.memory=1Gi',
    ],
    [
      'a sum keeps the first pod\'s format',
      [quota('q', {'requests.memory': '2Gi'}), pod('a', {}, [asks({memory: '1Gi'})]), pod('b', {}, [asks({memory: '512Mi'})])],
      pod('p', {}, [asks({memory: '1Gi'})]),
      'pods "p" is forbidden: exceeded quota: q, requested: requests.memory=1Gi, used: requests.memory=1536Mi, limited: requests.memory=2Gi',
    ],
    [
      'containers without the cpu and memory the quota limits',
      [quota('q', {'requests.cpu': '1', 'limits.memory': '1Gi', pods: '5'})],
      pod('p', {}, [{name: 'main', image: 'pause'}, asks({cpu: '100m'}, undefined, 'side')]),
      'pods "p" is forbidden: failed quota: q: must specify limits.memory for: main,side; requests.cpu for: main',
    ],
    ['a limit alone stands for the request too', [quota('q', {'requests.cpu': '1'})], pod('p', {}, [{name: 'main', image: 'pause', resources: {limits: {cpu: '500m'}}}]), undefined],
    ['a pod that finished counts for nothing', [quota('q', {pods: '1'}), pod('done', {}, undefined, {phase: 'Succeeded'})], pod('p'), undefined],
    ['a failed one neither', [quota('q', {pods: '1'}), pod('failed', {}, undefined, {phase: 'Failed'})], pod('p'), undefined],
    ['a generated name is the one refused', [quota('q', {pods: '0'})], pod('w-'), 'pods "w-bbbbb" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'],
    ['the quotas in name order, the first that does not fit', [quota('b', {pods: '0'}), quota('a', {pods: '0'})], pod('p'), 'pods "p" is forbidden: exceeded quota: a, requested: pods=1, used: pods=0, limited: pods=0'],
    ['a BestEffort quota leaves a pod with requests alone', [quota('q', {pods: '0'}, {scopes: ['BestEffort']})], pod('p', {}, [asks({cpu: '1'})]), undefined],
    ['and counts one without', [quota('q', {pods: '0'}, {scopes: ['BestEffort']})], pod('p'), 'pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0'],
    [
      'a PriorityClass scope counts the pods of that class',
      [pc('high', 1000), quota('q', {pods: '0'}, {scopeSelector: {matchExpressions: [{scopeName: 'PriorityClass', operator: 'In', values: ['high']}]}})],
      pod('p', {priorityClassName: 'high'}),
      'pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0',
    ],
    ['and no other', [pc('high', 1000), quota('q', {pods: '0'}, {scopeSelector: {matchExpressions: [{scopeName: 'PriorityClass', operator: 'In', values: ['high']}]}})], pod('p'), undefined],
    [
      "the RuntimeClass's overhead counts",
      [rc('gvisor', {overhead: {podFixed: {cpu: '250m'}}}), quota('q', {'requests.cpu': '1'})],
      pod('p', {runtimeClassName: 'gvisor'}, [asks({cpu: '800m'})]),
      'pods "p" is forbidden: exceeded quota: q, requested: requests.cpu=1050m, used: requests.cpu=0, limited: requests.cpu=1',
    ],
    ['a resource it does not count', [quota('q', {'requests.nvidia.com/gpu': '0', configmaps: '0'})], pod('p', {}, [asks({'nvidia.com/gpu': '1'})]), undefined],
  ];
  it.each(quotaCases)('%s', (_, objects, p, message) => {
    const {store, create} = world(objects);
    // The generated name is the first the store draws: bbbbb.
    store.random = () => 0;
    if (message === undefined) expect(() => create(p)).not.toThrow();
    else expect(refusal(() => create(p))).toEqual({code: 403, message});
  });

  it('keeps status.hard and status.used current as pods come, and counts a pod gone at once', () => {
    const {store, create} = world([quota('q', {pods: '2', 'requests.cpu': '2', 'requests.memory': '4Gi', configmaps: '10'})]);
    const status = () => store.get({resource: 'resourcequotas', namespace: NS, name: 'q'})!.status;
    expect(status()).toEqual({hard: {configmaps: '10', pods: '2', 'requests.cpu': '2', 'requests.memory': '4Gi'}, used: {pods: '0', 'requests.cpu': '0', 'requests.memory': '0'}});
    create(pod('a', {}, [asks({cpu: '500m', memory: '1Gi'})]));
    create(pod('b', {}, [asks({cpu: '250m', memory: '512Mi'})]));
    expect(status()).toMatchObject({used: {pods: '2', 'requests.cpu': '750m', 'requests.memory': '1536Mi'}});
    // Gone behind the API server's back (as the kubelet deletes): room before the controller's next pass.
    store.delete({resource: 'pods', namespace: NS, name: 'a'});
    create(pod('c', {}, [asks({cpu: '1', memory: '1Gi'})]));
    expect(status()).toMatchObject({used: {pods: '2', 'requests.cpu': '1250m', 'requests.memory': '1536Mi'}});
    expect(refusal(() => create(pod('d', {}, [asks({cpu: '1', memory: '1Gi'})])))).toEqual(
      refused(403, 'pods "d" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=1, used: pods=2,requests.cpu=1250m, limited: pods=2,requests.cpu=2'),
    );
  });
});

describe('what a pod asks of quota and of its node', () => {
  const c = (name: string, requests: JsonMap, extra: JsonMap = {}): JsonMap => ({name, image: 'pause', resources: {requests, limits: requests}, ...extra});
  const cases: Array<[string, JsonMap, JsonMap]> = [
    ['containers add up', {containers: [c('a', {cpu: '1', memory: '1Gi'}), c('b', {cpu: '500m', memory: '512Mi'})]}, {cpu: '1500m', memory: '1536Mi'}],
    ['the largest init container, when more than the containers', {containers: [c('a', {cpu: '1'})], initContainers: [c('i', {cpu: '2'}), c('j', {cpu: '1500m'})]}, {cpu: '2'}],
    ['a sidecar adds to the containers, and to the init containers after it', {containers: [c('a', {cpu: '1'})], initContainers: [c('s', {cpu: '500m'}, {restartPolicy: 'Always'}), c('i', {cpu: '2'})]}, {cpu: '2500m'}],
    ['the overhead on top', {containers: [c('a', {cpu: '1', memory: '1Gi'})], overhead: {cpu: '250m', memory: '120Mi'}}, {cpu: '1250m', memory: '1144Mi'}],
  ];
  it.each(cases)('%s', (_, spec, requests) => {
    expect(formatList(podTotal({spec}, 'requests'))).toEqual(requests);
  });

  it('puts the overhead on limits only where a container sets a limit', () => {
    const spec = {containers: [{name: 'a', image: 'pause', resources: {limits: {cpu: '1'}}}], overhead: {cpu: '250m', memory: '120Mi'}};
    expect(formatList(podTotal({spec}, 'limits'))).toEqual({cpu: '1250m'});
  });
});
