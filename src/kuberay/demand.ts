import {InputError} from '../errors.js';
import type {Container, KubeObject, PodSpec} from '../kube/types.js';
import {gcsPort, workerPodGenerateName} from './names.js';

/** The Ray objects the tool manages: the top object of a group. */
export type RayKind = 'RayCluster' | 'RayService' | 'RayJob';

export const RAY_KINDS: readonly RayKind[] = ['RayCluster', 'RayService', 'RayJob'];

/** The only API version of the Ray kinds that KubeRay v1.x reconciles. */
export const RAY_API_VERSION = 'ray.io/v1';

export function isRayKind(kind: unknown): kind is RayKind {
  return typeof kind === 'string' && (RAY_KINDS as readonly string[]).includes(kind);
}

/** Where each kind keeps the RayCluster spec it runs on (what `scale` patches). */
/** A Ray object's RayCluster spec: its own spec, or the one its RayService or RayJob makes RayClusters from. */
export function clusterSpecOf(kind: string | undefined, spec: unknown): Record<string, unknown> | undefined {
  const own = spec as Record<string, unknown> | undefined;
  const inner = kind === 'RayService' ? own?.rayClusterConfig : kind === 'RayJob' ? own?.rayClusterSpec : kind === 'RayCluster' ? own : undefined;
  return inner as Record<string, unknown> | undefined;
}

export const CLUSTER_SPEC_FIELD: Record<RayKind, string> = {
  RayCluster: 'spec',
  RayService: 'spec.rayClusterConfig',
  RayJob: 'spec.rayClusterSpec',
};

/**
 * One kind of pod a Ray app needs: the head, or the workers of one worker group. Resource
 * arithmetic is left to src/placement, which reads requests, node selectors, affinity and
 * tolerations from `spec` the way the scheduler does.
 */
export interface PodGroupDemand {
  role: 'head' | 'worker';
  /** The worker group's groupName; 'head' for the head. */
  group: string;
  /**
   * Pods wanted: 1 for the head; for workers replicas clamped to [minReplicas, maxReplicas] times
   * numOfHosts, 0 for a suspended group. Everything is 0 while the whole app is suspended.
   */
  count: number;
  /**
   * The pod spec from the group's template, as the pods will be created: with the containers
   * KubeRay adds that take resources (the autoscaler sidecar and a RayJob's submitter sidecar on
   * the head, the wait-gcs-ready init container on workers) and the restartPolicy it forces.
   * Env, commands, probes and volumes KubeRay adds are not reproduced.
   */
  spec: PodSpec;
}

/** A RayJob's submitter: the pod of the Kubernetes Job that runs `ray job submit` (K8sJobMode only). */
export interface SubmitterDemand {
  /** 1, or 0 while the RayJob is suspended. */
  count: number;
  spec: PodSpec;
}

/** What a Ray app asks of a cluster. */
export interface RayDemand {
  kind: RayKind;
  /** The top object's name and namespace. */
  name: string;
  namespace: string;
  /**
   * Whether the in-tree Ray autoscaler owns the worker counts (enableInTreeAutoscaling). The tool
   * then never writes replicas or workersToDelete.
   */
  autoscaling: boolean;
  /**
   * The RayCluster (or RayJob) is suspended: KubeRay keeps no pods at all, the head included, and
   * every count is 0. rayDemand always sets it; absent reads as false.
   */
  suspended?: boolean;
  head: PodGroupDemand;
  workers: PodGroupDemand[];
  /** Only for a RayJob in K8sJobMode (the default): runs beside the head, in the same cluster. */
  submitter?: SubmitterDemand;
}

/** A group as a user applies it: the Ray object plus the objects it needs. */
export interface GroupManifest {
  ray: KubeObject & {kind: RayKind};
  /** ConfigMaps, Secrets, Services and ServiceAccounts, in the order they came. */
  dependencies: KubeObject[];
  /**
   * The namespace the file names (all objects that name one agree on it); undefined when none
   * does. Objects without a namespace belong to the group's namespace.
   */
  namespace?: string;
}

/** How the KubeRay operator itself is configured, where that changes the pods it creates. */
export interface KubeRayOptions {
  /** ENABLE_INIT_CONTAINER_INJECTION (default true): add the wait-gcs-ready init container to workers. */
  initContainerInjection?: boolean;
  /** The operator's configured head sidecar containers (added after KubeRay's own). */
  headSidecarContainers?: Container[];
  /** The operator's configured worker sidecar containers. */
  workerSidecarContainers?: Container[];
}

const INT32_MAX = 2_147_483_647;

/**
 * The name limits KubeRay validates (utils.ValidateRayClusterMetadata and friends): a RayCluster
 * name leaves room for "-serve-svc" within 63 characters; a RayService or RayJob name leaves room
 * for the "-xxxxx" KubeRay appends to name its RayCluster.
 */
export const MAX_NAME_LENGTH: Record<RayKind, number> = {RayCluster: 53, RayService: 47, RayJob: 47};

/** The counting fields of one worker group, as KubeRay reads them. */
export interface WorkerCountSpec {
  replicas?: number;
  minReplicas?: number;
  maxReplicas?: number;
  numOfHosts?: number;
  suspend?: boolean;
}

/**
 * The pods KubeRay keeps for one worker group (utils.GetWorkerGroupDesiredReplicas, which
 * reconcilePods uses whether or not the autoscaler is on). Absent fields take the CRD defaults:
 * minReplicas 0, maxReplicas 2147483647, numOfHosts 1.
 */
export function desiredWorkerPods(group: WorkerCountSpec): number {
  // A suspended group has all its pods deleted, whatever replicas says.
  if (group.suspend === true) return 0;
  const min = group.minReplicas ?? 0;
  const max = group.maxReplicas ?? INT32_MAX;
  let replicas: number;
  // KubeRay resolves min > max in favour of max (it logs a warning and carries on).
  if (min > max) replicas = max;
  // An absent replicas counts as minReplicas (the CRD default 0 clamps to the same).
  else if (group.replicas === undefined || group.replicas < min) replicas = min;
  else if (group.replicas > max) replicas = max;
  else replicas = group.replicas;
  // Each replica is numOfHosts pods. An explicit numOfHosts of 0 survives the CRD default and
  // KubeRay multiplies by it before it would patch it to 1, so such a group gets no pods.
  return replicas * (group.numOfHosts ?? 1);
}

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value for a message: JSON, cut short. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Builds the InputErrors for one object: every message starts with the object. */
class Problems {
  constructor(private readonly object: string) {}

  fail(field: string, problem: string, fix: string): never {
    throw new InputError(`${this.object}: ${field} ${problem}`, fix);
  }

  /** A field that is absent (or null, which the API server prunes) reads as undefined. */
  optionalFields(value: unknown, field: string): Fields | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isFields(value)) this.fail(field, `is ${show(value)}, not a map`, `Make ${field} a map of fields, or remove it.`);
    return value;
  }

  requiredFields(value: unknown, field: string, what: string): Fields {
    const fields = this.optionalFields(value, field);
    if (fields === undefined) this.fail(field, 'is missing', `Add ${field}: ${what}.`);
    return fields;
  }

  optionalBool(value: unknown, field: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(field, `is ${show(value)}, not true or false`, `Set ${field} to true or false, without quotes.`);
    return value;
  }

  /** An int32 count as the CRD declares it; negative counts are refused as meaningless. */
  optionalCount(value: unknown, field: string, defaultValue: number): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > INT32_MAX) {
      this.fail(field, `is ${show(value)}, not a whole number from 0 to ${INT32_MAX}`, `Set ${field} to a whole number without quotes, or remove it to use the default (${defaultValue}).`);
    }
    return value;
  }

  podSpec(template: unknown, field: string): PodSpec {
    const spec = this.requiredFields(this.requiredFields(template, field, 'the pod template').spec, `${field}.spec`, 'the pod spec');
    const containers = spec.containers;
    // KubeRay refuses a group without containers (ValidateRayClusterSpec); container 0 is the Ray container.
    if (!Array.isArray(containers) || containers.length === 0) {
      this.fail(`${field}.spec.containers`, 'is empty', `Add the Ray container to ${field}.spec.containers.`);
    }
    containers.forEach((container, i) => {
      if (!isFields(container)) this.fail(`${field}.spec.containers[${i}]`, `is ${show(container)}, not a container`, 'Give each container at least a name and an image.');
    });
    return structuredClone(spec) as PodSpec;
  }
}

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The head container KubeRay's autoscaler runs in (common.BuildAutoscalerContainer, mergeAutoscalerOverrides). */
function autoscalerContainer(rayImage: string | undefined, options: Fields | undefined): Container {
  const container: Container = {
    name: 'autoscaler',
    image: typeof options?.image === 'string' ? options.image : rayImage,
    resources: {requests: {cpu: '500m', memory: '512Mi'}, limits: {cpu: '500m', memory: '512Mi'}},
  };
  // autoscalerOptions.resources replaces the defaults whole; it is not merged with them.
  if (isFields(options?.resources)) container.resources = structuredClone(options.resources);
  return container;
}

/** The submitter container of a RayJob (common.GetDefaultSubmitterContainer): the head's image. */
function submitterContainer(rayImage: string | undefined): Container {
  return {
    name: 'ray-job-submitter',
    image: rayImage,
    resources: {requests: {cpu: '500m', memory: '200Mi'}, limits: {cpu: '1', memory: '1Gi'}},
  };
}

/** The init container KubeRay puts before every worker's Ray container (common.DefaultWorkerPodTemplate). */
function waitGcsReadyContainer(rayImage: string | undefined): Container {
  return {
    name: 'wait-gcs-ready',
    image: rayImage,
    resources: {requests: {cpu: '200m', memory: '256Mi'}, limits: {cpu: '200m', memory: '256Mi'}},
  };
}

const SUBMISSION_MODES = ['K8sJobMode', 'HTTPMode', 'InteractiveMode', 'SidecarMode'] as const;
type SubmissionMode = (typeof SUBMISSION_MODES)[number];

/**
 * What a RayCluster, RayService (through spec.rayClusterConfig) or RayJob (through
 * spec.rayClusterSpec) asks of the cluster it runs in, computed the way KubeRay v1.5 creates pods.
 * Throws an InputError naming the object and the field for anything KubeRay would refuse or the
 * tool does not support (a RayJob on an existing cluster, a Ray object another controller runs).
 */
export function rayDemand(obj: KubeObject, defaultNamespace: string, options: KubeRayOptions = {}): RayDemand {
  if (!isFields(obj)) throw new InputError(`the Ray object is ${show(obj)}, not an object`, 'Pass a RayCluster, RayService or RayJob.');
  const kind = obj.kind;
  if (!isRayKind(kind)) {
    throw new InputError(`kind ${show(kind)} is not a Ray object (RayCluster, RayService or RayJob)`, 'Pass the RayCluster, RayService or RayJob of the app.');
  }
  const metadata = isFields(obj.metadata) ? obj.metadata : {};
  const name = metadata.name;
  if (typeof name !== 'string' || name === '') throw new InputError(`${kind}: metadata.name is missing`, `Give the ${kind} a metadata.name.`);
  const problems: Problems = new Problems(`${kind} "${name}"`);

  if (obj.apiVersion !== RAY_API_VERSION) {
    problems.fail('apiVersion', `is ${show(obj.apiVersion)}, not "${RAY_API_VERSION}"`, `Set apiVersion: ${RAY_API_VERSION}, the version KubeRay v1 reconciles.`);
  }
  // KubeRay refuses to reconcile longer or non-DNS-1035 names, since they would not fit the names it derives.
  if (name.length > MAX_NAME_LENGTH[kind]) {
    problems.fail('metadata.name', `has ${name.length} characters; KubeRay accepts at most ${MAX_NAME_LENGTH[kind]} for a ${kind}`, `Shorten the name to ${MAX_NAME_LENGTH[kind]} characters or fewer.`);
  }
  if (!DNS1035_LABEL.test(name)) {
    problems.fail('metadata.name', 'is not a DNS-1035 label, which KubeRay requires', 'Use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit.');
  }
  const ns = metadata.namespace;
  if (ns !== undefined && ns !== null && typeof ns !== 'string') problems.fail('metadata.namespace', `is ${show(ns)}, not a name`, 'Set metadata.namespace to a namespace name, or remove it.');
  const namespace = typeof ns === 'string' && ns !== '' ? ns : defaultNamespace;

  const spec = problems.requiredFields(obj.spec, 'spec', `the ${kind} spec`);
  const managers: Array<[unknown, string]> = [[spec.managedBy, 'spec.managedBy']];

  let jobSuspended = false;
  let submissionMode: SubmissionMode | undefined;
  if (kind === 'RayJob') {
    const selector = spec.clusterSelector;
    if (selector !== undefined && selector !== null && !(isFields(selector) && Object.keys(selector).length === 0)) {
      problems.fail(
        'spec.clusterSelector',
        'makes the RayJob run on an existing RayCluster, which the tool does not place',
        'Place that RayCluster itself, or replace spec.clusterSelector with a spec.rayClusterSpec so the RayJob brings its own cluster.',
      );
    }
    if (spec.rayClusterSpec === undefined || spec.rayClusterSpec === null) {
      problems.fail('spec.rayClusterSpec', 'is missing, so the RayJob has no cluster of its own to place', 'Add spec.rayClusterSpec with the head and worker groups the job runs on.');
    }
    // spec.suspend on a RayJob means KubeRay creates no RayCluster until it is cleared.
    jobSuspended = problems.optionalBool(spec.suspend, 'spec.suspend') ?? false;
    const mode = spec.submissionMode ?? 'K8sJobMode';
    if (!(SUBMISSION_MODES as readonly unknown[]).includes(mode)) {
      problems.fail('spec.submissionMode', `is ${show(mode)}, not one of ${SUBMISSION_MODES.join(', ')}`, 'Set spec.submissionMode to one of those, or remove it to use K8sJobMode.');
    }
    submissionMode = mode as SubmissionMode;
  }
  const clusterSpecField = CLUSTER_SPEC_FIELD[kind];
  const clusterSpecValue = clusterSpecOf(kind, spec);
  const cluster = problems.requiredFields(clusterSpecValue, clusterSpecField, 'the RayCluster spec with headGroupSpec and workerGroupSpecs');
  if (kind !== 'RayCluster') managers.push([cluster.managedBy, `${clusterSpecField}.managedBy`]);

  // KubeRay skips an object whose managedBy names another controller (utils.ManagedByExternalController).
  for (const [manager, field] of managers) {
    if (manager !== undefined && manager !== null && manager !== 'ray.io/kuberay-operator') {
      problems.fail(field, `is ${show(manager)}, so KubeRay leaves this ${kind} to another controller`, `Remove ${field} (or set it to ray.io/kuberay-operator) so that KubeRay runs the app.`);
    }
  }

  const suspended = (problems.optionalBool(cluster.suspend, `${clusterSpecField}.suspend`) ?? false) || jobSuspended;
  const autoscaling = problems.optionalBool(cluster.enableInTreeAutoscaling, `${clusterSpecField}.enableInTreeAutoscaling`) ?? false;
  const autoscalerOptions = problems.optionalFields(cluster.autoscalerOptions, `${clusterSpecField}.autoscalerOptions`);
  const version = autoscalerOptions?.version;
  if (version !== undefined && version !== null && version !== 'v1' && version !== 'v2') {
    problems.fail(`${clusterSpecField}.autoscalerOptions.version`, `is ${show(version)}, not v1 or v2`, 'Set autoscalerOptions.version to v1 or v2, or remove it.');
  }
  problems.optionalFields(autoscalerOptions?.resources, `${clusterSpecField}.autoscalerOptions.resources`);
  // Autoscaler v2 needs pods that are never restarted in place, so KubeRay forces restartPolicy Never
  // on the head and on workers (utils.IsAutoscalingV2Enabled, only read when autoscaling is on).
  const autoscalerV2 = autoscaling && version === 'v2';

  // Head group.
  const headField = `${clusterSpecField}.headGroupSpec`;
  const headGroup = problems.requiredFields(cluster.headGroupSpec, headField, 'the head group with its pod template');
  if (kind === 'RayService') {
    // ValidateRayServiceSpec: a RayService names its head Services itself.
    const headService = problems.optionalFields(headGroup.headService, `${headField}.headService`);
    const serviceMeta = isFields(headService?.metadata) ? headService.metadata : undefined;
    if (typeof serviceMeta?.name === 'string' && serviceMeta.name !== '') {
      problems.fail(`${headField}.headService.metadata.name`, 'is set, which KubeRay refuses for a RayService', 'Remove headService.metadata.name; KubeRay names the head Services of a RayService itself.');
    }
  }
  const headParams = problems.optionalFields(headGroup.rayStartParams, `${headField}.rayStartParams`);
  try {
    gcsPort(headParams);
  } catch (error) {
    if (error instanceof InputError) problems.fail(`${headField}.rayStartParams.port`, `is ${show(headParams?.port)}, not a port number`, error.fix ?? '');
    throw error;
  }
  const headSpec = problems.podSpec(headGroup.template, `${headField}.template`);
  const rayImage = (spec: PodSpec) => spec.containers[0]?.image;
  const headImage = rayImage(headSpec);
  if (submissionMode === 'SidecarMode') {
    // SidecarMode puts the submitter into the head pod and stops the head restarting (constructRayClusterForRayJob).
    headSpec.containers.push(submitterContainer(headImage));
    headSpec.restartPolicy = 'Never';
  }
  if (autoscaling) {
    headSpec.containers.push(autoscalerContainer(headImage, autoscalerOptions));
    if (autoscalerV2) headSpec.restartPolicy = 'Never';
  }
  headSpec.containers.push(...structuredClone(options.headSidecarContainers ?? []));

  // Worker groups.
  const groupsField = `${clusterSpecField}.workerGroupSpecs`;
  const groups = cluster.workerGroupSpecs ?? [];
  if (!Array.isArray(groups)) problems.fail(groupsField, `is ${show(groups)}, not a list`, `Make ${groupsField} a list of worker groups, or remove it.`);
  // For a RayService or RayJob the RayCluster gets a generated name: <owner>-<5 characters>.
  const clusterNameForPods = kind === 'RayCluster' ? name : `${name}-xxxxx`;
  const seen = new Map<string, number>();
  const workers = groups.map((value, i): PodGroupDemand => {
    const field = `${groupsField}[${i}]`;
    const group = problems.requiredFields(value, field, 'a worker group');
    const groupName = group.groupName;
    if (typeof groupName !== 'string' || groupName === '') problems.fail(`${field}.groupName`, 'is missing', 'Give every worker group a groupName.');
    // KubeRay counts a group's pods by the ray.io/group label alone, so two groups of one name would share their pods.
    const earlier = seen.get(groupName);
    if (earlier !== undefined) problems.fail(`${field}.groupName`, `"${groupName}" is also the name of ${groupsField}[${earlier}]`, 'Give every worker group its own groupName.');
    seen.set(groupName, i);
    if (groupName.length > 63 || !LABEL_VALUE.test(groupName)) {
      problems.fail(`${field}.groupName`, `${show(groupName)} is not a valid label value, which KubeRay needs for the ray.io/group label`, 'Use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit.');
    }
    const generateName = workerPodGenerateName(clusterNameForPods, groupName);
    if (!DNS1123_SUBDOMAIN.test(`${generateName}abcde`)) {
      problems.fail(`${field}.groupName`, `${show(groupName)} cannot be part of a pod name, and KubeRay names the group's pods "${generateName}..."`, 'Use only letters, digits and "-" in the group name.');
    }
    const counts: WorkerCountSpec = {
      replicas: problems.optionalCount(group.replicas, `${field}.replicas`, 0),
      minReplicas: problems.optionalCount(group.minReplicas, `${field}.minReplicas`, 0),
      maxReplicas: problems.optionalCount(group.maxReplicas, `${field}.maxReplicas`, INT32_MAX),
      numOfHosts: problems.optionalCount(group.numOfHosts, `${field}.numOfHosts`, 1),
      suspend: problems.optionalBool(group.suspend, `${field}.suspend`),
    };
    problems.optionalFields(group.rayStartParams, `${field}.rayStartParams`);
    const workerSpec = problems.podSpec(group.template, `${field}.template`);
    // The worker waits for the GCS in an init container KubeRay adds after the user's own.
    if (options.initContainerInjection !== false) {
      workerSpec.initContainers = [...(workerSpec.initContainers ?? []), waitGcsReadyContainer(rayImage(workerSpec))];
    }
    if (autoscalerV2) workerSpec.restartPolicy = 'Never';
    workerSpec.containers.push(...structuredClone(options.workerSidecarContainers ?? []));
    return {role: 'worker', group: groupName, count: suspended ? 0 : desiredWorkerPods(counts), spec: workerSpec};
  });

  const demand: RayDemand = {
    kind,
    name,
    namespace,
    autoscaling,
    suspended,
    head: {role: 'head', group: 'head', count: suspended ? 0 : 1, spec: headSpec},
    workers,
  };

  if (submissionMode === 'K8sJobMode') {
    // The submitter Job's pod: the RayJob's submitterPodTemplate, else KubeRay's default (common.GetSubmitterTemplate).
    const custom = spec.submitterPodTemplate;
    const submitterSpec: PodSpec =
      custom === undefined || custom === null
        ? {containers: [submitterContainer(headImage)], restartPolicy: 'Never'}
        : problems.podSpec(custom, 'spec.submitterPodTemplate');
    demand.submitter = {count: suspended ? 0 : 1, spec: submitterSpec};
  }
  return demand;
}
