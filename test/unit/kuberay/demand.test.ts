import {describe, expect, it} from 'vitest';
import {thrown} from '../../support/errors.js';
import type {Container, KubeObject, PodSpec} from '../../../src/kube/types.js';
import {rayDemand, type KubeRayOptions} from '../../../src/kuberay/demand.js';


const IMAGE = 'rayproject/ray:2.9.0';
const rayContainer = (name: string, cpu: string): Container => ({name, image: IMAGE, resources: {requests: {cpu, memory: '1Gi'}}});
const template = (container: Container, extra: Partial<PodSpec> = {}) => ({spec: {containers: [container], ...extra}});
const headGroup = (extra: Record<string, unknown> = {}) => ({rayStartParams: {}, template: template(rayContainer('ray-head', '1')), ...extra});
const group = (groupName: string, counts: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  groupName,
  ...counts,
  rayStartParams: {},
  template: template(rayContainer('ray-worker', '2')),
  ...extra,
});
const clusterSpec = (workers: unknown[], extra: Record<string, unknown> = {}) => ({headGroupSpec: headGroup(), workerGroupSpecs: workers, ...extra});

const rayCluster = (spec: unknown, name = 'small', metadata: Record<string, unknown> = {}): KubeObject => ({apiVersion: 'ray.io/v1', kind: 'RayCluster', metadata: {name, ...metadata}, spec});
const rayService = (rayClusterConfig: unknown, name = 'serve'): KubeObject => ({
  apiVersion: 'ray.io/v1',
  kind: 'RayService',
  metadata: {name},
  spec: {serveConfigV2: 'applications: []', rayClusterConfig},
});
const rayJob = (spec: Record<string, unknown>, name = 'train'): KubeObject => ({apiVersion: 'ray.io/v1', kind: 'RayJob', metadata: {name}, spec: {entrypoint: 'python train.py', ...spec}});

const WAIT_GCS: Container = {name: 'wait-gcs-ready', image: IMAGE, resources: {requests: {cpu: '200m', memory: '256Mi'}, limits: {cpu: '200m', memory: '256Mi'}}};
const AUTOSCALER: Container = {name: 'autoscaler', image: IMAGE, resources: {requests: {cpu: '500m', memory: '512Mi'}, limits: {cpu: '500m', memory: '512Mi'}}};
const SUBMITTER: Container = {name: 'ray-job-submitter', image: IMAGE, resources: {requests: {cpu: '500m', memory: '200Mi'}, limits: {cpu: '1', memory: '1Gi'}}};

describe('rayDemand: worker counts as KubeRay computes them', () => {
  it.each<{name: string; counts: Record<string, unknown>; want: number}>([
    {name: 'replicas within the bounds', counts: {replicas: 3, minReplicas: 1, maxReplicas: 5}, want: 3},
    {name: 'replicas below minReplicas is raised', counts: {replicas: 1, minReplicas: 2, maxReplicas: 5}, want: 2},
    {name: 'replicas above maxReplicas is lowered', counts: {replicas: 9, minReplicas: 0, maxReplicas: 5}, want: 5},
    {name: 'no replicas means minReplicas', counts: {minReplicas: 2, maxReplicas: 5}, want: 2},
    {name: 'nothing set means 0', counts: {}, want: 0},
    {name: 'no maxReplicas means no upper bound', counts: {replicas: 1000}, want: 1000},
    {name: 'null fields are pruned to their defaults', counts: {replicas: null, minReplicas: null, maxReplicas: null}, want: 0},
    {name: 'minReplicas above maxReplicas gives maxReplicas', counts: {replicas: 1, minReplicas: 4, maxReplicas: 3}, want: 3},
    {name: 'minReplicas above maxReplicas wins over replicas', counts: {replicas: 10, minReplicas: 4, maxReplicas: 3}, want: 3},
    {name: 'numOfHosts multiplies replicas', counts: {replicas: 3, minReplicas: 0, maxReplicas: 5, numOfHosts: 4}, want: 12},
    {name: 'numOfHosts multiplies the clamped count', counts: {replicas: 9, maxReplicas: 2, numOfHosts: 4}, want: 8},
    {name: 'an explicit numOfHosts 0 gives no pods', counts: {replicas: 3, numOfHosts: 0}, want: 0},
    {name: 'a suspended group has no pods', counts: {replicas: 3, minReplicas: 2, suspend: true}, want: 0},
    {name: 'suspend false changes nothing', counts: {replicas: 3, suspend: false}, want: 3},
  ])('$name', ({counts, want}) => {
    const demand = rayDemand(rayCluster(clusterSpec([group('cpu', counts)])), 'default');
    expect(demand.workers.map((w) => [w.group, w.count])).toEqual([['cpu', want]]);
    expect(demand.head.count).toBe(1);
  });
});

describe('rayDemand: the three kinds', () => {
  it('a RayCluster: its namespace, one head and every group in order', () => {
    const demand = rayDemand(rayCluster(clusterSpec([group('cpu', {replicas: 2}), group('gpu', {replicas: 1, numOfHosts: 2})]), 'small', {namespace: 'ml'}), 'default');
    expect(demand).toEqual({
      kind: 'RayCluster',
      name: 'small',
      namespace: 'ml',
      autoscaling: false,
      suspended: false,
      head: {role: 'head', group: 'head', count: 1, spec: {containers: [rayContainer('ray-head', '1')]}},
      workers: [
        {role: 'worker', group: 'cpu', count: 2, spec: {containers: [rayContainer('ray-worker', '2')], initContainers: [WAIT_GCS]}},
        {role: 'worker', group: 'gpu', count: 2, spec: {containers: [rayContainer('ray-worker', '2')], initContainers: [WAIT_GCS]}},
      ],
    });
  });

  it('a RayService: through spec.rayClusterConfig, in the default namespace', () => {
    const demand = rayDemand(rayService(clusterSpec([group('serve', {replicas: 4, minReplicas: 1, maxReplicas: 3})])), 'apps');
    expect(demand.kind).toBe('RayService');
    expect(demand.name).toBe('serve');
    expect(demand.namespace).toBe('apps');
    expect(demand.head.spec.containers).toEqual([rayContainer('ray-head', '1')]);
    expect(demand.workers.map((w) => [w.group, w.count])).toEqual([['serve', 3]]);
    expect(demand.submitter).toBeUndefined();
  });

  it('a RayJob: through spec.rayClusterSpec, with the submitter Job pod KubeRay adds in K8sJobMode', () => {
    const demand = rayDemand(rayJob({rayClusterSpec: clusterSpec([group('cpu', {replicas: 2})])}), 'default');
    expect(demand.kind).toBe('RayJob');
    expect(demand.workers.map((w) => [w.group, w.count])).toEqual([['cpu', 2]]);
    expect(demand.head.spec.containers).toEqual([rayContainer('ray-head', '1')]);
    expect(demand.submitter).toEqual({count: 1, spec: {containers: [SUBMITTER], restartPolicy: 'Never'}});
  });

  it('a RayJob with its own submitterPodTemplate', () => {
    const submitter = template({name: 'submit', image: 'submitter:1', resources: {requests: {cpu: '100m'}}}, {restartPolicy: 'Never'});
    const demand = rayDemand(rayJob({submissionMode: 'K8sJobMode', submitterPodTemplate: submitter, rayClusterSpec: clusterSpec([])}), 'default');
    expect(demand.submitter).toEqual({count: 1, spec: submitter.spec});
  });

  it.each<{mode: string; headContainers: Container[]; restartPolicy?: string; submitter: boolean}>([
    {mode: 'SidecarMode', headContainers: [rayContainer('ray-head', '1'), SUBMITTER], restartPolicy: 'Never', submitter: false},
    {mode: 'HTTPMode', headContainers: [rayContainer('ray-head', '1')], submitter: false},
    {mode: 'InteractiveMode', headContainers: [rayContainer('ray-head', '1')], submitter: false},
  ])('a RayJob in $mode', ({mode, headContainers, restartPolicy, submitter}) => {
    const demand = rayDemand(rayJob({submissionMode: mode, rayClusterSpec: clusterSpec([group('cpu', {replicas: 1})])}), 'default');
    expect(demand.head.spec.containers).toEqual(headContainers);
    expect(demand.head.spec.restartPolicy).toBe(restartPolicy);
    expect(demand.submitter !== undefined).toBe(submitter);
  });
});

describe('rayDemand: suspension', () => {
  it.each<{name: string; obj: KubeObject}>([
    {name: 'a suspended RayCluster', obj: rayCluster({...clusterSpec([group('cpu', {replicas: 2})]), suspend: true})},
    {name: 'a suspended RayJob', obj: rayJob({suspend: true, shutdownAfterJobFinishes: true, rayClusterSpec: clusterSpec([group('cpu', {replicas: 2})])})},
    {name: 'a RayJob whose cluster spec is suspended', obj: rayJob({rayClusterSpec: {...clusterSpec([group('cpu', {replicas: 2})]), suspend: true}})},
  ])('$name keeps no pods at all', ({obj}) => {
    const demand = rayDemand(obj, 'default');
    expect(demand.suspended).toBe(true);
    expect([demand.head, ...demand.workers].map((g) => g.count)).toEqual([0, 0]);
    expect(demand.submitter?.count ?? 0).toBe(0);
  });

  it('suspending one group leaves the head and the other groups', () => {
    const demand = rayDemand(rayCluster(clusterSpec([group('a', {replicas: 2}), group('b', {replicas: 2, suspend: true})])), 'default');
    expect(demand.suspended).toBe(false);
    expect([demand.head, ...demand.workers].map((g) => [g.group, g.count])).toEqual([['head', 1], ['a', 2], ['b', 0]]);
  });
});

describe('rayDemand: autoscaling', () => {
  it.each<{name: string; extra: Record<string, unknown>; autoscaling: boolean; head: Container[]; restartPolicy?: string}>([
    {name: 'off when absent', extra: {}, autoscaling: false, head: [rayContainer('ray-head', '1')]},
    {name: 'off when false', extra: {enableInTreeAutoscaling: false}, autoscaling: false, head: [rayContainer('ray-head', '1')]},
    {name: 'on: the autoscaler sidecar joins the head', extra: {enableInTreeAutoscaling: true}, autoscaling: true, head: [rayContainer('ray-head', '1'), AUTOSCALER]},
    {
      name: 'on, with autoscalerOptions.resources replacing the defaults whole',
      extra: {enableInTreeAutoscaling: true, autoscalerOptions: {image: 'autoscaler:2', resources: {requests: {cpu: '100m'}}}},
      autoscaling: true,
      head: [rayContainer('ray-head', '1'), {name: 'autoscaler', image: 'autoscaler:2', resources: {requests: {cpu: '100m'}}}],
    },
    {
      name: 'v2: pods are never restarted in place',
      extra: {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}},
      autoscaling: true,
      head: [rayContainer('ray-head', '1'), AUTOSCALER],
      restartPolicy: 'Never',
    },
    {name: 'v2 options without autoscaling change nothing', extra: {autoscalerOptions: {version: 'v2'}}, autoscaling: false, head: [rayContainer('ray-head', '1')]},
  ])('$name', ({extra, autoscaling, head, restartPolicy}) => {
    const demand = rayDemand(rayService(clusterSpec([group('cpu', {replicas: 1})], extra)), 'default');
    expect(demand.autoscaling).toBe(autoscaling);
    expect(demand.head.spec.containers).toEqual(head);
    expect(demand.head.spec.restartPolicy).toBe(restartPolicy);
    expect(demand.workers[0]?.spec.restartPolicy).toBe(restartPolicy);
  });

  it('counts the same with the autoscaler on: KubeRay still creates pods to replicas', () => {
    const demand = rayDemand(rayCluster(clusterSpec([group('cpu', {replicas: 7, minReplicas: 1, maxReplicas: 4})], {enableInTreeAutoscaling: true})), 'default');
    expect(demand.workers[0]?.count).toBe(4);
  });
});

describe('rayDemand: worker pod specs and operator options', () => {
  const userInit: Container = {name: 'fetch-model', image: 'busybox', resources: {requests: {cpu: '1'}}};
  it.each<{name: string; options: KubeRayOptions; init: Container[] | undefined; containers: string[]; headContainers: string[]}>([
    {name: 'wait-gcs-ready goes after the user\'s init containers', options: {}, init: [userInit, WAIT_GCS], containers: ['ray-worker'], headContainers: ['ray-head']},
    {name: 'without init container injection', options: {initContainerInjection: false}, init: [userInit], containers: ['ray-worker'], headContainers: ['ray-head']},
    {
      name: 'the operator\'s sidecars come last',
      options: {headSidecarContainers: [{name: 'head-log'}], workerSidecarContainers: [{name: 'worker-log'}]},
      init: [userInit, WAIT_GCS],
      containers: ['ray-worker', 'worker-log'],
      headContainers: ['ray-head', 'head-log'],
    },
  ])('$name', ({options, init, containers, headContainers}) => {
    const worker = group('cpu', {replicas: 1}, {template: template(rayContainer('ray-worker', '2'), {initContainers: [userInit]})});
    const demand = rayDemand(rayCluster(clusterSpec([worker])), 'default', options);
    expect(demand.workers[0]?.spec.initContainers).toEqual(init);
    expect(demand.workers[0]?.spec.containers.map((c) => c.name)).toEqual(containers);
    expect(demand.head.spec.containers.map((c) => c.name)).toEqual(headContainers);
  });

  it('keeps scheduling fields and leaves the object it was given untouched', () => {
    const worker = group('gpu', {replicas: 1}, {
      template: template(rayContainer('ray-worker', '2'), {nodeSelector: {pool: 'gpu'}, tolerations: [{key: 'nvidia.com/gpu', operator: 'Exists'}]}),
    });
    const obj = rayCluster(clusterSpec([worker], {enableInTreeAutoscaling: true}));
    const before = structuredClone(obj);
    const demand = rayDemand(obj, 'default');
    expect(demand.workers[0]?.spec.nodeSelector).toEqual({pool: 'gpu'});
    expect(demand.workers[0]?.spec.tolerations).toEqual([{key: 'nvidia.com/gpu', operator: 'Exists'}]);
    expect(obj).toEqual(before);
    demand.workers[0]!.spec.containers[0]!.image = 'changed';
    expect(obj).toEqual(before);
  });
});

describe('rayDemand: what it refuses', () => {
  const fine = clusterSpec([group('cpu', {replicas: 1})]);
  it.each<{name: string; obj: unknown; message: string; fix: string}>([
    {
      name: 'a RayJob on an existing cluster',
      obj: rayJob({clusterSelector: {'ray.io/cluster': 'shared'}}),
      message: 'RayJob "train": spec.clusterSelector makes the RayJob run on an existing RayCluster, which the tool does not place',
      fix: 'Place that RayCluster itself, or replace spec.clusterSelector with a spec.rayClusterSpec so the RayJob brings its own cluster.',
    },
    {
      name: 'a RayJob without a cluster spec',
      obj: rayJob({}),
      message: 'RayJob "train": spec.rayClusterSpec is missing, so the RayJob has no cluster of its own to place',
      fix: 'Add spec.rayClusterSpec with the head and worker groups the job runs on.',
    },
    {
      name: 'an unknown submission mode',
      obj: rayJob({submissionMode: 'Batch', rayClusterSpec: fine}),
      message: 'RayJob "train": spec.submissionMode is "Batch", not one of K8sJobMode, HTTPMode, InteractiveMode, SidecarMode',
      fix: 'Set spec.submissionMode to one of those, or remove it to use K8sJobMode.',
    },
    {
      name: 'a RayService without rayClusterConfig',
      obj: rayService(undefined),
      message: 'RayService "serve": spec.rayClusterConfig is missing',
      fix: 'Add spec.rayClusterConfig: the RayCluster spec with headGroupSpec and workerGroupSpecs.',
    },
    {
      name: 'a RayService naming its head Service',
      obj: rayService({...fine, headGroupSpec: headGroup({headService: {metadata: {name: 'mine'}}})}),
      message: 'RayService "serve": spec.rayClusterConfig.headGroupSpec.headService.metadata.name is set, which KubeRay refuses for a RayService',
      fix: 'Remove headService.metadata.name; KubeRay names the head Services of a RayService itself.',
    },
    {
      name: 'an old API version',
      obj: {...rayCluster(fine), apiVersion: 'ray.io/v1alpha1'},
      message: 'RayCluster "small": apiVersion is "ray.io/v1alpha1", not "ray.io/v1"',
      fix: 'Set apiVersion: ray.io/v1, the version KubeRay v1 reconciles.',
    },
    {
      name: 'not a Ray kind',
      obj: {apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'web'}},
      message: 'kind "Deployment" is not a Ray object (RayCluster, RayService or RayJob)',
      fix: 'Pass the RayCluster, RayService or RayJob of the app.',
    },
    {name: 'no name', obj: {apiVersion: 'ray.io/v1', kind: 'RayCluster', spec: fine}, message: 'RayCluster: metadata.name is missing', fix: 'Give the RayCluster a metadata.name.'},
    {
      name: 'a RayService name too long for its RayCluster\'s',
      obj: rayService(fine, 's'.repeat(48)),
      message: `RayService "${'s'.repeat(48)}": metadata.name has 48 characters; KubeRay accepts at most 47 for a RayService`,
      fix: 'Shorten the name to 47 characters or fewer.',
    },
    {
      name: 'a RayCluster name too long',
      obj: rayCluster(fine, 'c'.repeat(54)),
      message: `RayCluster "${'c'.repeat(54)}": metadata.name has 54 characters; KubeRay accepts at most 53 for a RayCluster`,
      fix: 'Shorten the name to 53 characters or fewer.',
    },
    {
      name: 'a name that is not a DNS-1035 label',
      obj: rayCluster(fine, '1st-cluster'),
      message: 'RayCluster "1st-cluster": metadata.name is not a DNS-1035 label, which KubeRay requires',
      fix: 'Use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit.',
    },
    {
      name: 'a cluster another controller runs',
      obj: rayCluster({...fine, managedBy: 'kueue.x-k8s.io/multikueue'}),
      message: 'RayCluster "small": spec.managedBy is "kueue.x-k8s.io/multikueue", so KubeRay leaves this RayCluster to another controller',
      fix: 'Remove spec.managedBy (or set it to ray.io/kuberay-operator) so that KubeRay runs the app.',
    },
    {
      name: 'replicas in quotes',
      obj: rayCluster(clusterSpec([group('cpu', {replicas: '2'})])),
      message: 'RayCluster "small": spec.workerGroupSpecs[0].replicas is "2", not a whole number from 0 to 2147483647',
      fix: 'Set spec.workerGroupSpecs[0].replicas to a whole number without quotes, or remove it to use the default (0).',
    },
    {
      name: 'a negative maxReplicas',
      obj: rayJob({rayClusterSpec: clusterSpec([group('cpu'), group('gpu', {maxReplicas: -1})])}),
      message: 'RayJob "train": spec.rayClusterSpec.workerGroupSpecs[1].maxReplicas is -1, not a whole number from 0 to 2147483647',
      fix: 'Set spec.rayClusterSpec.workerGroupSpecs[1].maxReplicas to a whole number without quotes, or remove it to use the default (2147483647).',
    },
    {
      name: 'a fractional numOfHosts',
      obj: rayCluster(clusterSpec([group('tpu', {numOfHosts: 1.5})])),
      message: 'RayCluster "small": spec.workerGroupSpecs[0].numOfHosts is 1.5, not a whole number from 0 to 2147483647',
      fix: 'Set spec.workerGroupSpecs[0].numOfHosts to a whole number without quotes, or remove it to use the default (1).',
    },
    {
      name: 'enableInTreeAutoscaling in quotes',
      obj: rayService({...fine, enableInTreeAutoscaling: 'true'}),
      message: 'RayService "serve": spec.rayClusterConfig.enableInTreeAutoscaling is "true", not true or false',
      fix: 'Set spec.rayClusterConfig.enableInTreeAutoscaling to true or false, without quotes.',
    },
    {
      name: 'two groups of one name',
      obj: rayCluster(clusterSpec([group('cpu'), group('gpu'), group('cpu')])),
      message: 'RayCluster "small": spec.workerGroupSpecs[2].groupName "cpu" is also the name of spec.workerGroupSpecs[0]',
      fix: 'Give every worker group its own groupName.',
    },
    {
      name: 'a group without a name',
      obj: rayCluster(clusterSpec([{replicas: 1, template: template(rayContainer('w', '1'))}])),
      message: 'RayCluster "small": spec.workerGroupSpecs[0].groupName is missing',
      fix: 'Give every worker group a groupName.',
    },
    {
      name: 'a group name that cannot be part of a pod name',
      obj: rayCluster(clusterSpec([group('gpu_a100')])),
      message: 'RayCluster "small": spec.workerGroupSpecs[0].groupName "gpu_a100" cannot be part of a pod name, and KubeRay names the group\'s pods "small-gpu_a100-worker-..."',
      fix: 'Use only letters, digits and "-" in the group name.',
    },
    {
      name: 'a group name that cannot be a label value',
      obj: rayCluster(clusterSpec([group('gpu pool')])),
      message: 'RayCluster "small": spec.workerGroupSpecs[0].groupName "gpu pool" is not a valid label value, which KubeRay needs for the ray.io/group label',
      fix: 'Use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit.',
    },
    {
      name: 'a head without containers',
      obj: rayCluster({...fine, headGroupSpec: {template: {spec: {containers: []}}}}),
      message: 'RayCluster "small": spec.headGroupSpec.template.spec.containers is empty',
      fix: 'Add the Ray container to spec.headGroupSpec.template.spec.containers.',
    },
    {
      name: 'a worker group without a template',
      obj: rayCluster(clusterSpec([{groupName: 'cpu', replicas: 1}])),
      message: 'RayCluster "small": spec.workerGroupSpecs[0].template is missing',
      fix: 'Add spec.workerGroupSpecs[0].template: the pod template.',
    },
    {
      name: 'workerGroupSpecs that is not a list',
      obj: rayCluster({...fine, workerGroupSpecs: {cpu: {}}}),
      message: 'RayCluster "small": spec.workerGroupSpecs is {"cpu":{}}, not a list',
      fix: 'Make spec.workerGroupSpecs a list of worker groups, or remove it.',
    },
    {
      name: 'a head port that is not a port',
      obj: rayCluster({...fine, headGroupSpec: headGroup({rayStartParams: {port: 'gcs'}})}),
      message: 'RayCluster "small": spec.headGroupSpec.rayStartParams.port is "gcs", not a port number',
      fix: 'Set rayStartParams.port to a number from 1 to 65535 in quotes, such as "6379", or remove it to use 6379.',
    },
  ])('$name', ({obj, message, fix}) => {
    const error = thrown(() => rayDemand(obj as KubeObject, 'default'));
    expect(error.message).toBe(message);
    expect(error.fix).toBe(fix);
  });

  it('an empty clusterSelector is no selector', () => {
    expect(rayDemand(rayJob({clusterSelector: {}, rayClusterSpec: fine}), 'default').workers[0]?.count).toBe(1);
  });
});
