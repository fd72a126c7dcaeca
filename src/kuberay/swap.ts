/**
 * The objects of the swap (docs/design.md §4): a placeholder pod that KubeRay counts at home, the remote
 * worker that runs in its stead in another cluster, and the copies it needs there. Pure builders:
 * the reconciler decides when to make them.
 */
import type {Container, KubeObject, ObjectMeta, Pod, PodSpec} from '../kube/types.js';
import {
  GROUP_LABEL,
  HOME_CLUSTER_LABEL,
  KUBERAY_APP_LABELS,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  RAY_CLUSTER_LABEL,
  RAY_GROUP_LABEL,
  RAY_NODE_TYPE_LABEL,
  ROLE_LABEL,
  type Role,
} from './labels.js';

export const RAYCLUSTER_UID_LABEL = 'superskyray.io/raycluster-uid';
/** On a placeholder: the Pending pod it replaces, and the cluster id its remote worker runs in. */
export const REPLACES_ANNOTATION = 'superskyray.io/replaces';
export const REMOTE_CLUSTER_ANNOTATION = 'superskyray.io/remote-cluster';
/** On a placeholder: the digest of the worker group's template its remote worker was built from (joins.ts). */
export const TEMPLATE_ANNOTATION = 'superskyray.io/template';
/** The label KubeRay puts on every Ray pod; the placeholder carries it too, as KubeRay's own would. */
export const RAY_NODE_LABEL = 'ray.io/is-ray-node';

export const DEFAULT_PLACEHOLDER_IMAGE = 'registry.k8s.io/pause:3.10';

/**
 * What cluster-autoscaler and Karpenter honour on a pod they would otherwise move to empty a node: a
 * placeholder they evict takes its remote worker's stand-in with it, for the sake of 1m of CPU.
 */
export const DO_NOT_DISRUPT_ANNOTATIONS: Readonly<Record<string, string>> = {
  'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
  'karpenter.sh/do-not-disrupt': 'true',
};

/** The alphabet and length Kubernetes uses for generateName suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const SUFFIX_LENGTH = 5;

/**
 * A new name under the worker group's generateName, chosen by us rather than by the server so that
 * creating it can be retried safely: a second create of the same name answers AlreadyExists.
 */
export function placeholderName(generateName: string, random: () => number): string {
  let suffix = '';
  for (let i = 0; i < SUFFIX_LENGTH; i++) suffix += SUFFIX_ALPHABET[Math.floor(random() * SUFFIX_ALPHABET.length)];
  return `${generateName}${suffix}`;
}

export interface SwapContext {
  /** The group (the top Ray object's name). */
  group: string;
  homeClusterId: string;
  remoteClusterId: string;
  /** The live RayCluster KubeRay counts the pods for. */
  rayCluster: {name: string; uid: string};
  /** --claim: the claim a remote worker mounts in place of each home claim named (claimsFor). */
  claims?: Readonly<Record<string, string>>;
}

function toolLabels(ctx: SwapContext, role: Role): Record<string, string> {
  return {[MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: ctx.group, [ROLE_LABEL]: role};
}

/** The labels KubeRay counts a worker by, taken from the Pending worker it replaces. */
function countedLabels(pending: Pod): Record<string, string> {
  const labels = pending.metadata?.labels ?? {};
  const out: Record<string, string> = {};
  for (const key of [RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, RAY_NODE_LABEL]) {
    if (labels[key] !== undefined) out[key] = labels[key];
  }
  return out;
}

/**
 * On a Pending worker being swapped (docs/span-mechanism.md): `<name>@<cluster id>`, the placeholder
 * and remote worker it becomes. With SWAP_FINALIZER it is the whole record of a swap in progress.
 */
export const SWAP_TO_ANNOTATION = 'superskyray.io/swap-to';
/**
 * Keeps a swapped Pending worker, Failed and deleted by KubeRay, from going: while it exists,
 * KubeRay's delete expectation leaves its worker group alone, so the count can be traded safely.
 */
export const SWAP_FINALIZER = 'superskyray.io/swap';
/** The placeholder's readiness gate: True while its remote worker is Ready, written by the tool. */
export const REMOTE_READY_GATE = 'superskyray.io/remote-worker-ready';

export interface SwapTarget {
  /** The placeholder's and the remote worker's name. */
  name: string;
  /** The cluster id the remote worker runs in. */
  cluster: string;
}

/** Where a Pending worker under swap goes, or undefined when it is not being swapped. */
export function swapTargetOf(pod: Pod): SwapTarget | undefined {
  const value = pod.metadata?.annotations?.[SWAP_TO_ANNOTATION];
  const at = value?.lastIndexOf('@') ?? -1;
  if (!value || at <= 0 || at === value.length - 1) return undefined;
  return {name: value.slice(0, at), cluster: value.slice(at + 1)};
}

/** A pod under swap: our finalizer or our target on it (either is enough to resume or back out). */
export function isInSwap(pod: Pod): boolean {
  return (pod.metadata?.finalizers?.includes(SWAP_FINALIZER) ?? false) || pod.metadata?.annotations?.[SWAP_TO_ANNOTATION] !== undefined;
}

/**
 * Step 1 of the swap: the finalizer and where the worker goes, only if the pod is still as observed
 * (a strategic merge: other finalizers stay).
 */
export function lockPatch(target: SwapTarget, resourceVersion?: string): {metadata: Pick<ObjectMeta, 'finalizers' | 'annotations' | 'resourceVersion'>} {
  return {
    metadata: {
      ...(resourceVersion ? {resourceVersion} : {}),
      finalizers: [SWAP_FINALIZER],
      annotations: {[SWAP_TO_ANNOTATION]: `${target.name}@${target.cluster}`},
    },
  };
}

/**
 * Step 1, second write (pods/status): the Pending worker leaves the scheduler's queue and KubeRay
 * deletes it as unhealthy, which locks its worker group until the pod is gone.
 */
export function lockStatusPatch(target: SwapTarget, resourceVersion?: string): Record<string, unknown> {
  return {
    ...(resourceVersion ? {metadata: {resourceVersion}} : {}),
    status: {phase: 'Failed', reason: 'Spanned', message: `runs in another cluster as ${target.name}`},
  };
}

/** Whether the second write of the lock is on the pod: it holds the lock, and KubeRay deletes it. */
export function isMarkedFailed(pod: Pod, target: SwapTarget): boolean {
  const status = lockStatusPatch(target).status as {phase: string; reason: string; message: string};
  return (
    (pod.metadata?.finalizers?.includes(SWAP_FINALIZER) ?? false) &&
    pod.status?.phase === status.phase &&
    pod.status?.reason === status.reason &&
    pod.status?.message === status.message
  );
}

/** The last step, or a back-out: the pod may go, and no swap is recorded on it any more. */
export function unlockPatch(): Record<string, unknown> {
  return {metadata: {'$deleteFromPrimitiveList/finalizers': [SWAP_FINALIZER], annotations: {[SWAP_TO_ANNOTATION]: null}}};
}

/** The readiness gate's condition, as a strategic-merge patch of pods/status (conditions merge by type). */
export function remoteReadyPatch(ready: boolean, why: string, at: string): Record<string, unknown> {
  return {
    status: {conditions: [{type: REMOTE_READY_GATE, status: ready ? 'True' : 'False', reason: ready ? 'RemoteWorkerReady' : 'RemoteWorkerNotReady', message: why, lastTransitionTime: at}]},
  };
}

/** The gate's condition on a placeholder: true, false, or undefined before the tool first wrote it. */
export function remoteReadyOf(pod: Pod): boolean | undefined {
  const condition = pod.status?.conditions?.find((c) => c.type === REMOTE_READY_GATE);
  return condition ? condition.status === 'True' : undefined;
}

/**
 * The placeholder: a pod at home that KubeRay counts as the worker that now runs remotely. It has
 * the counted labels and KubeRay as controller owner, as the Pending worker it replaces had; it is
 * bound at once to a home node with room (never in the scheduler's queue), is Ready only while its
 * remote worker is, and asks the autoscalers of the home cluster not to move it.
 */
export function placeholderPod(pending: Pod, name: string, ctx: SwapContext, nodeName: string, image = DEFAULT_PLACEHOLDER_IMAGE, template?: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: pending.metadata?.namespace,
      labels: {...countedLabels(pending), ...toolLabels(ctx, 'placeholder'), [HOME_CLUSTER_LABEL]: ctx.homeClusterId},
      annotations: {
        ...DO_NOT_DISRUPT_ANNOTATIONS,
        [REPLACES_ANNOTATION]: pending.metadata?.name ?? '',
        [REMOTE_CLUSTER_ANNOTATION]: ctx.remoteClusterId,
        ...(template ? {[TEMPLATE_ANNOTATION]: template} : {}),
      },
      // No blockOwnerDeletion: under OwnerReferencesPermissionEnforcement (OpenShift) it needs
      // rayclusters/finalizers, and nothing of the tool deletes a RayCluster in the foreground.
      ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: ctx.rayCluster.name, uid: ctx.rayCluster.uid, controller: true}],
    },
    spec: {
      nodeName,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      readinessGates: [{conditionType: REMOTE_READY_GATE}],
      // Non-root without a fixed UID: the pause image runs as 65535, and a platform that assigns
      // UIDs from a range (OpenShift's SCC) gives it one of its own.
      securityContext: {runAsNonRoot: true, seccompProfile: {type: 'RuntimeDefault'}},
      containers: [
        {
          name: 'placeholder',
          image,
          resources: PLACEHOLDER_RESOURCES,
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ['ALL']}},
        },
      ],
    },
  };
}

/** The PodDisruptionBudget that keeps a RayCluster's placeholders from being evicted. */
export function placeholderBudgetName(rayCluster: string): string {
  return `${rayCluster}-placeholders`;
}

/**
 * For a group with the Ray autoscaler, no eviction may take a placeholder: `kubectl drain`,
 * cluster-autoscaler, Karpenter and the scheduler's preemption all ask the Eviction API, which this
 * refuses. A placeholder that went would leave its remote worker to a replacement that autoscaler v2
 * never matches to the running Ray node (docs/span-mechanism.md, "With the Ray autoscaler, nothing
 * may evict P"). Owned by the RayCluster, so it goes with it.
 */
export function placeholderBudget(ctx: Omit<SwapContext, 'remoteClusterId'>, namespace: string): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: placeholderBudgetName(ctx.rayCluster.name),
      namespace,
      labels: {[MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: ctx.group, [ROLE_LABEL]: 'placeholder-budget', [HOME_CLUSTER_LABEL]: ctx.homeClusterId},
      ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: ctx.rayCluster.name, uid: ctx.rayCluster.uid}],
    },
    spec: {maxUnavailable: 0, selector: {matchLabels: {[RAY_CLUSTER_LABEL]: ctx.rayCluster.name, [ROLE_LABEL]: 'placeholder'}}},
  };
}

/** What one placeholder takes from its home node. */
export const PLACEHOLDER_RESOURCES = {requests: {cpu: '1m', memory: '4Mi'}, limits: {cpu: '10m', memory: '16Mi'}};

/** The projected volume the ServiceAccount admission adds: its token is only good in the home cluster. */
function isServiceAccountTokenVolume(volume: Record<string, unknown>): boolean {
  const projected = volume.projected as {sources?: Array<Record<string, unknown>>} | undefined;
  return projected?.sources?.some((source) => 'serviceAccountToken' in source) ?? false;
}

/** The worker group of a RayCluster's spec, as far as the remote worker is built from it. */
export interface WorkerGroupTemplate {
  groupName?: string;
  /** KubeRay (1.5+) merges these into the pods' labels beside the template's own. */
  labels?: Record<string, string>;
  template?: {metadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}; spec?: PodSpec};
}

/**
 * A PersistentVolumeClaim volume as the remote worker mounts it: the claim --claim names for the home
 * one, said in a line; an unnamed one stays, and the preflight refuses it (its data is at home).
 */
function withClaim<V extends {name: string; persistentVolumeClaim?: {claimName?: string}}>(volume: V, claims: Readonly<Record<string, string>>, leftOut: string[]): V {
  const claim = volume.persistentVolumeClaim;
  const there = claim?.claimName ? claims[claim.claimName] : undefined;
  if (!claim || !there) return volume;
  leftOut.push(`claim ${claim.claimName} of volume ${volume.name}: it mounts ${there} there instead (--claim)`);
  return {...volume, persistentVolumeClaim: {...claim, claimName: there}};
}

/** The worker group of that name in a RayCluster's spec, when it has the pod template KubeRay requires. */
export function workerGroupTemplate(rayClusterSpec: unknown, groupName: string): WorkerGroupTemplate | undefined {
  const group = (rayClusterSpec as {workerGroupSpecs?: WorkerGroupTemplate[]} | undefined)?.workerGroupSpecs?.find((g) => g.groupName === groupName);
  return group?.template?.spec?.containers?.length ? group : undefined;
}

/** The init container KubeRay adds to every worker, which waits for the head's GCS. */
export const WAIT_GCS_READY = 'wait-gcs-ready';

/**
 * Pod fields that admission at home sets or changes, and that the remote worker takes from the
 * template instead, so that the remote cluster's own admission decides them there: a default
 * PriorityClass, a RuntimeClass's overhead, OpenShift's SCC UID and SELinux labels, a project's
 * node selector, the ServiceAccount's pull secrets, the default tolerations.
 */
const FROM_TEMPLATE = [
  'securityContext',
  'priorityClassName',
  'runtimeClassName',
  'schedulerName',
  'imagePullSecrets',
  'serviceAccountName',
  'automountServiceAccountToken',
  'tolerations',
  'affinity',
  'nodeSelector',
  'topologySpreadConstraints',
  'readinessGates',
  'dnsConfig',
  'hostAliases',
] as const;
/** Set at home from other objects (the node, the PriorityClass, the RuntimeClass): admission sets them again there. */
const HOME_ONLY = ['nodeName', 'priority', 'preemptionPolicy', 'overhead', 'serviceAccount'] as const;
/** Container fields that admission changes (SCC UIDs, Istio's probe rewrite), from the template when it has them. */
const CONTAINER_FROM_TEMPLATE = ['securityContext', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const;

/** The remote worker's content before it has a name, and what of the admitted pod it leaves out, said in a line each. */
export interface RemoteWorker {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
  leftOut: string[];
}

const NOTED: ReadonlyArray<(typeof FROM_TEMPLATE)[number]> = ['securityContext', 'priorityClassName', 'runtimeClassName', 'schedulerName', 'nodeSelector', 'affinity'];

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'object' && Object.keys(value as object).length === 0);
}

/** What the API server defaults a field to, which a template that leaves it out gets back anyway. */
const DEFAULTS: Record<string, unknown> = {schedulerName: 'default-scheduler'};

function same(field: string, admitted: unknown, template: unknown): boolean {
  const a = admitted === DEFAULTS[field] ? undefined : admitted;
  const t = template === DEFAULTS[field] ? undefined : template;
  return (isEmpty(a) && isEmpty(t)) || JSON.stringify(a) === JSON.stringify(t);
}

function quoted(names: string[]): string {
  return names.join(', ');
}

/**
 * The remote worker built from its worker group's template, as KubeRay renders it, not from the pod
 * as admitted at home: the admitted pod gives what KubeRay generated (the `ray start` command, env
 * with its fieldRefs, probes, the GCS wait, the shared-memory volume, resources), and the template
 * says which of the rest is the user's. Containers, volumes, labels and annotations that home's
 * admission added (Istio's or Vault's sidecars, Multus' networks, the ServiceAccount token) are left
 * out, and the pod fields that admission decides come from the template, so that the remote
 * cluster's own admission decides them there.
 */
export function remoteWorker(pending: Pod, group: WorkerGroupTemplate, claims: Readonly<Record<string, string>> = {}): RemoteWorker {
  const template = group.template?.spec ?? {containers: []};
  const admitted = pending.spec as PodSpec;
  const leftOut: string[] = [];
  const spec: PodSpec = {...admitted};
  for (const field of HOME_ONLY) delete spec[field];
  for (const field of FROM_TEMPLATE) {
    if (NOTED.includes(field) && !same(field, admitted[field], template[field])) {
      leftOut.push(`${field} ${JSON.stringify(admitted[field] ?? null)}, set at home: ${isEmpty(template[field]) ? 'the template sets none, so the remote cluster decides' : "it takes the template's"}`);
    }
    if (template[field] === undefined) delete spec[field];
    else (spec as Record<string, unknown>)[field] = template[field];
  }
  const templateVolumes = new Map(((template.volumes as Array<{name: string}> | undefined) ?? []).map((v) => [v.name, v]));
  const volumes = (admitted.volumes as Array<Record<string, unknown> & {name: string}> | undefined) ?? [];
  // KubeRay's own volumes are emptyDirs (shared memory, logs); any other volume not in the template
  // is admission's, and its source (a token, a CA ConfigMap) is the home cluster's.
  const kept = volumes.filter((v) => templateVolumes.has(v.name) || 'emptyDir' in v);
  const dropped = volumes.filter((v) => !kept.includes(v));
  const foreign = dropped.filter((v) => !isServiceAccountTokenVolume(v)).map((v) => v.name);
  if (foreign.length > 0) leftOut.push(`volume(s) ${quoted(foreign)}: not in the worker group's template (added at home by admission)`);
  if (admitted.volumes !== undefined) spec.volumes = kept.map((v) => withClaim((templateVolumes.get(v.name) ?? v) as typeof v, claims, leftOut));
  const keptNames = new Set(kept.map((v) => v.name));
  const rayContainer = template.containers[0];
  const fromTemplate = (c: Container, like: Container | undefined): Container => {
    const out: Container = {...c};
    for (const field of CONTAINER_FROM_TEMPLATE) {
      if (like?.[field] !== undefined) out[field] = like[field];
      else if (field === 'securityContext') delete out[field];
    }
    const mounts = out.volumeMounts as Array<{name: string}> | undefined;
    if (mounts) out.volumeMounts = mounts.filter((m) => keptNames.has(m.name));
    return out;
  };
  const byName = (list: Container[] | undefined) => new Map((list ?? []).map((c) => [c.name, c]));
  const containers = byName(template.containers);
  const inits = byName(template.initContainers);
  const extra = admitted.containers.filter((c) => !containers.has(c.name)).map((c) => c.name);
  if (extra.length > 0) leftOut.push(`container(s) ${quoted(extra)}: not in the worker group's template (injected at home by admission)`);
  spec.containers = admitted.containers.filter((c) => containers.has(c.name)).map((c) => fromTemplate(c, containers.get(c.name)));
  if (admitted.initContainers) {
    const isKubeRays = (c: Container) => c.name === WAIT_GCS_READY && !inits.has(c.name);
    const extraInit = admitted.initContainers.filter((c) => !inits.has(c.name) && !isKubeRays(c)).map((c) => c.name);
    if (extraInit.length > 0) leftOut.push(`init container(s) ${quoted(extraInit)}: not in the worker group's template (injected at home by admission)`);
    // KubeRay gives its GCS wait the Ray container's securityContext.
    spec.initContainers = admitted.initContainers
      .filter((c) => inits.has(c.name) || isKubeRays(c))
      .map((c) => fromTemplate(c, isKubeRays(c) ? {name: c.name, ...(rayContainer?.securityContext ? {securityContext: rayContainer.securityContext} : {})} : inits.get(c.name)));
  }
  const labelsFrom = {...group.template?.metadata?.labels, ...group.labels};
  const labels: Record<string, string> = {};
  const droppedLabels: string[] = [];
  for (const [key, value] of Object.entries(pending.metadata?.labels ?? {})) {
    if (key in labelsFrom || key.startsWith('ray.io/') || key in KUBERAY_APP_LABELS) labels[key] = value;
    else droppedLabels.push(key);
  }
  const annotationsFrom = group.template?.metadata?.annotations ?? {};
  const annotations: Record<string, string> = {};
  const droppedAnnotations: string[] = [];
  for (const [key, value] of Object.entries(pending.metadata?.annotations ?? {})) {
    if (key === SWAP_TO_ANNOTATION) continue;
    if (key in annotationsFrom || key.startsWith('ray.io/')) annotations[key] = value;
    else droppedAnnotations.push(key);
  }
  if (droppedLabels.length > 0) leftOut.push(`label(s) ${quoted(droppedLabels)}: not in the template (set at home by admission or a batch scheduler)`);
  if (droppedAnnotations.length > 0) leftOut.push(`annotation(s) ${quoted(droppedAnnotations)}: not in the template (set at home by admission or a batch scheduler)`);
  return {labels, annotations, spec, leftOut};
}

/**
 * The remote worker: built by remoteWorker, under the placeholder's name (autoscaler v2 maps Ray
 * nodes to pods by name), with the tool's labels. The ray.io labels stay, since the worker's env
 * reads them.
 */
export function remoteWorkerPod(pending: Pod, group: WorkerGroupTemplate, name: string, ctx: SwapContext): Pod {
  const worker = remoteWorker(pending, group, ctx.claims);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: pending.metadata?.namespace,
      labels: {...worker.labels, ...toolLabels(ctx, 'remote-worker'), [HOME_CLUSTER_LABEL]: ctx.homeClusterId, [RAYCLUSTER_UID_LABEL]: ctx.rayCluster.uid},
      ...(Object.keys(worker.annotations).length > 0 ? {annotations: worker.annotations} : {}),
    },
    spec: worker.spec,
  };
}

interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  ports?: Array<Record<string, unknown>>;
  selector?: Record<string, string>;
  publishNotReadyAddresses?: boolean;
  [field: string]: unknown;
}

export const CILIUM_GLOBAL = 'service.cilium.io/global';
export const CILIUM_SHARED = 'service.cilium.io/shared';

/**
 * Set beside CILIUM_GLOBAL when the tool made the home head Service global, so that it is made local
 * again when no remote worker is left; a Service its owner made global is never touched.
 */
export const MADE_GLOBAL_ANNOTATION = 'superskyray.io/made-global';

/** The annotations that make the home head Service global, as a patch. */
export function globalHeadServicePatch(): {metadata: {annotations: Record<string, string>}} {
  return {metadata: {annotations: {[CILIUM_GLOBAL]: 'true', [MADE_GLOBAL_ANNOTATION]: 'true'}}};
}

/** Undoes globalHeadServicePatch, after a collapse. */
export function localHeadServicePatch(): {metadata: {annotations: Record<string, null>}} {
  return {metadata: {annotations: {[CILIUM_GLOBAL]: null, [MADE_GLOBAL_ANNOTATION]: null}}};
}

/** The fields of a Service port that say where traffic goes; never a nodePort, which would open every node. */
function copiedPorts(ports: ServiceSpec['ports']): ServiceSpec['ports'] {
  return ports?.map((p) => Object.fromEntries(Object.entries(p).filter(([key]) => ['name', 'port', 'targetPort', 'protocol', 'appProtocol'].includes(key))));
}

/**
 * Why a head-Service copy exposes more than a ClusterIP Service, or undefined when it does not: one
 * made by a version of the tool that copied the home Service's type and node ports.
 */
export function exposedCopy(copy: KubeObject & {spec?: ServiceSpec}): string | undefined {
  const type = copy.spec?.type ?? 'ClusterIP';
  if (type !== 'ClusterIP') return `it is a ${type} Service`;
  return copy.spec?.ports?.some((p) => p.nodePort !== undefined) ? 'it has node ports' : undefined;
}

/** The merge patch that makes an exposed head-Service copy a ClusterIP Service again, only if it is still as observed. */
export function closeCopyPatch(copy: KubeObject & {spec?: ServiceSpec}): Record<string, unknown> {
  return {
    metadata: {resourceVersion: copy.metadata?.resourceVersion},
    spec: {type: 'ClusterIP', ports: copiedPorts(copy.spec?.ports), externalTrafficPolicy: null, allocateLoadBalancerNodePorts: null, loadBalancerClass: null, loadBalancerSourceRanges: null, healthCheckNodePort: null},
  };
}

/**
 * The head-Service copy for Cilium Cluster Mesh: the same name, namespace, ports and headlessness
 * in the remote cluster, global and not sharing its own (absent) endpoints, so that the head's
 * address resolves there to the home cluster's head. It is only ever a ClusterIP (or headless)
 * Service, whatever the home one is: a LoadBalancer or NodePort head Service copied as such would
 * open the dashboard's job submission, GCS and client ports to the remote cluster's network, and
 * none of the home Service's annotations (an internal-only load balancer's among them) come along.
 */
export function ciliumHeadServiceCopy(head: KubeObject & {spec?: ServiceSpec}, ctx: SwapContext): KubeObject {
  const spec = head.spec ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: head.metadata?.name,
      namespace: head.metadata?.namespace,
      labels: {...toolLabels(ctx, 'head-service-copy'), [HOME_CLUSTER_LABEL]: ctx.homeClusterId, [RAYCLUSTER_UID_LABEL]: ctx.rayCluster.uid},
      annotations: {[CILIUM_GLOBAL]: 'true', [CILIUM_SHARED]: 'false'},
    },
    spec: {
      type: 'ClusterIP',
      ...(spec.clusterIP === 'None' ? {clusterIP: 'None'} : {}),
      ports: copiedPorts(spec.ports),
      selector: spec.selector,
      ...(spec.publishNotReadyAddresses !== undefined ? {publishNotReadyAddresses: spec.publishNotReadyAddresses} : {}),
    },
  };
}

/** What a pod needs to exist in a cluster before it can start there. */
export interface PodReferences {
  configMaps: string[];
  secrets: string[];
  serviceAccount: string;
}

/** The ConfigMaps, Secrets and ServiceAccount a pod refers to: volumes, env and envFrom, image pull secrets. */
export function podReferences(spec: PodSpec): PodReferences {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const volumes = (spec.volumes as Array<Record<string, any>> | undefined) ?? [];
  for (const volume of volumes) {
    if (volume.configMap?.name) configMaps.add(volume.configMap.name);
    if (volume.secret?.secretName) secrets.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap?.name) configMaps.add(source.configMap.name);
      if (source.secret?.name) secrets.add(source.secret.name);
    }
  }
  for (const container of [...(spec.initContainers ?? []), ...spec.containers] as Array<Record<string, any>>) {
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef?.name) configMaps.add(from.configMapRef.name);
      if (from.secretRef?.name) secrets.add(from.secretRef.name);
    }
    for (const env of container.env ?? []) {
      if (env.valueFrom?.configMapKeyRef?.name) configMaps.add(env.valueFrom.configMapKeyRef.name);
      if (env.valueFrom?.secretKeyRef?.name) secrets.add(env.valueFrom.secretKeyRef.name);
    }
  }
  for (const pull of (spec.imagePullSecrets as Array<{name?: string}> | undefined) ?? []) if (pull.name) secrets.add(pull.name);
  // The root CA ConfigMap is published by every cluster's controller-manager; it is never copied.
  configMaps.delete('kube-root-ca.crt');
  return {
    configMaps: [...configMaps].sort(),
    secrets: [...secrets].sort(),
    serviceAccount: (spec.serviceAccountName as string | undefined) ?? 'default',
  };
}

/** On a dependency copy: the resourceVersion of the object at home it was made from. */
export const SOURCE_VERSION_ANNOTATION = 'superskyray.io/source-resource-version';

function withoutKeys(record: Record<string, string> | undefined, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).filter(([key]) => !keys.includes(key)));
}

/**
 * A dependency copy (ConfigMap, Secret, ServiceAccount) of an object at home: its content and
 * labels, the tool's labels, and the version it was made from, so that it follows the source.
 */
export function dependencyCopy(source: KubeObject, ctx: SwapContext): KubeObject {
  const {metadata, ...rest} = source;
  const copy: KubeObject = {
    ...rest,
    metadata: {
      name: metadata?.name,
      namespace: metadata?.namespace,
      labels: {...metadata?.labels, ...toolLabels(ctx, 'dependency-copy'), [HOME_CLUSTER_LABEL]: ctx.homeClusterId},
      // A ServiceAccount's annotations bind it to a cloud identity (IRSA, Workload Identity); the
      // last kubectl apply's record is the home object's, and would mislead an apply there.
      annotations: {...withoutKeys(metadata?.annotations, ['kubectl.kubernetes.io/last-applied-configuration']), [SOURCE_VERSION_ANNOTATION]: metadata?.resourceVersion ?? ''},
    },
  };
  delete copy.status;
  // A ServiceAccount's token Secrets belong to the home cluster.
  delete (copy as {secrets?: unknown}).secrets;
  return copy;
}

/**
 * The merge patch that makes a copy what `desired` (a newer dependencyCopy) is, only if the copy is
 * still the version observed: every field of its content set, and keys the source lost removed.
 */
export function copyUpdatePatch(copy: KubeObject, desired: KubeObject): Record<string, unknown> {
  const skip = new Set(['apiVersion', 'kind', 'metadata', 'status']);
  const patch: Record<string, unknown> = {
    metadata: {resourceVersion: copy.metadata?.resourceVersion, labels: desired.metadata?.labels, annotations: desired.metadata?.annotations},
  };
  const was = copy as Record<string, unknown>;
  const now = desired as Record<string, unknown>;
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  for (const field of new Set([...Object.keys(was), ...Object.keys(now)])) {
    if (skip.has(field)) continue;
    const before = was[field];
    const after = now[field];
    if (isMap(before) && isMap(after)) {
      patch[field] = Object.fromEntries([...Object.keys(before).filter((k) => !(k in after)).map((k) => [k, null]), ...Object.entries(after)]);
    } else {
      patch[field] = after ?? null;
    }
  }
  return patch;
}

/** The EndpointSlice label that ties a slice to its Service, and the one that says who keeps it. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';

/**
 * The head-Service copy for a flat pod network (mesh mode `endpoints`): the same name, ports and
 * headlessness, but no selector, so that the remote cluster's controllers leave its endpoints to
 * us. Its EndpointSlice holds the head pod's IP.
 */
export function endpointsHeadServiceCopy(head: KubeObject & {spec?: ServiceSpec}, ctx: SwapContext): KubeObject {
  const copy = ciliumHeadServiceCopy(head, ctx);
  const spec = {...(copy.spec as ServiceSpec)};
  delete spec.selector;
  return {...copy, metadata: {...copy.metadata, annotations: {}}, spec};
}

/** The name of the EndpointSlice beside a head-Service copy. */
export function headEndpointSliceName(serviceName: string): string {
  return `${serviceName}-superskyray`.slice(0, 253);
}

/** The EndpointSlice of a selectorless head-Service copy: the home head pod's IP, on the ports its containers listen on. */
export function headEndpointSlice(head: KubeObject & {spec?: ServiceSpec}, headPodIP: string, ctx: SwapContext): KubeObject {
  const name = head.metadata?.name ?? '';
  const ports = (head.spec?.ports ?? []).map((p) => ({
    ...(p.name ? {name: p.name} : {}),
    port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
    protocol: p.protocol ?? 'TCP',
  }));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: headEndpointSliceName(name),
      namespace: head.metadata?.namespace,
      labels: {
        ...toolLabels(ctx, 'head-service-copy'),
        [HOME_CLUSTER_LABEL]: ctx.homeClusterId,
        [RAYCLUSTER_UID_LABEL]: ctx.rayCluster.uid,
        [SERVICE_NAME_LABEL]: name,
        [SLICE_MANAGED_BY_LABEL]: MANAGED_BY,
      },
    },
    addressType: headPodIP.includes(':') ? 'IPv6' : 'IPv4',
    endpoints: [{addresses: [headPodIP], conditions: {ready: true}}],
    ports,
  };
}

/** The head pod IP an EndpointSlice copy holds, if any. */
export function endpointSliceAddress(slice: KubeObject): string | undefined {
  return (slice as {endpoints?: Array<{addresses?: string[]}>}).endpoints?.[0]?.addresses?.[0];
}
