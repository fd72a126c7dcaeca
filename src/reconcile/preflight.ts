import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import {RESOURCES} from '../kube/resources.js';
import type {KubeObject, Pod, PodSpec} from '../kube/types.js';
import {HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {headEndpointSliceName, podReferences, RAY_NODE_LABEL, remoteWorkerPod, type SwapContext, type WorkerGroupTemplate} from '../kuberay/swap.js';
import {claimsOf, QuotaRoom, targetRefusals, type Quota, type TargetFacts} from '../placement/preflight.js';
import type {GroupState} from './group.js';
import type {ObservedCluster} from './observe.js';

/** What of a group the preflight needs: a GroupState, or what `place` knows before the group exists. */
export interface PreflightSubject {
  namespace: string;
  /** The RayCluster whose workers move, and its head Service; none before KubeRay has named them (a RayService's, a RayJob's). */
  rayCluster: string;
  headService?: string;
  mesh: GroupState['mesh'];
  homeClusterId: string;
  /** The id of a cluster the group is relocating to, where its own RayCluster is no foreign one. */
  relocatingTo?: string;
  /** --claim: the claims remote workers mount in place of home ones. */
  claims?: Readonly<Record<string, string>>;
}

export function subjectOf(state: GroupState): PreflightSubject {
  return {
    namespace: state.namespace,
    rayCluster: state.rayCluster.metadata.name,
    headService: headServiceName('RayCluster', state.rayCluster.metadata.name, state.rayCluster.spec),
    mesh: state.mesh,
    homeClusterId: state.home.snapshot!.id,
    ...(state.relocation ? {relocatingTo: state.relocation.target.snapshot?.id ?? ''} : {}),
    ...(state.claims ? {claims: state.claims} : {}),
  };
}

/** What the preflight found of one target: why it may take no remote worker, and its quota room. */
export interface TargetCheck {
  refusals: string[];
  quota: QuotaRoom;
}

/** Target cluster id -> its check. A target not in the map was not checked, and takes workers as before. */
export type TargetChecks = ReadonlyMap<string, TargetCheck>;

export interface PreflightOptions {
  copySecrets: boolean;
  signal?: AbortSignal;
  /**
   * Also ask each target's API server to admit a remote worker, with a dry-run create: its
   * admission plugins and webhooks (Pod Security, quotas, policies) are the only full account of
   * what it refuses. Not for reads that must not create, such as status.
   */
  dryRunCreate: boolean;
}

/**
 * A remote worker of a worker group as it would be made before KubeRay has made its pod (scale,
 * before it writes replicas): the template, with the labels KubeRay gives every worker.
 */
export function templateWorker(subject: PreflightSubject, group: WorkerGroupTemplate, ctx: SwapContext): Pod {
  const name = `${subject.rayCluster}-${group.groupName}-worker`;
  const pending: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: subject.namespace,
      labels: {...group.template?.metadata?.labels, ...group.labels, [RAY_CLUSTER_LABEL]: subject.rayCluster, [RAY_GROUP_LABEL]: group.groupName ?? '', [RAY_NODE_TYPE_LABEL]: 'worker', [RAY_NODE_LABEL]: 'yes'},
      ...(group.template?.metadata?.annotations ? {annotations: group.template.metadata.annotations} : {}),
    },
    spec: group.template!.spec!,
  };
  return remoteWorkerPod(pending, group, name, ctx);
}

/** Whether the tool made `object` in the role given for a group of home `homeClusterId`. */
export function madeFor(object: KubeObject, role: string, homeClusterId: string): boolean {
  const labels = object.metadata?.labels ?? {};
  return labels[MANAGED_BY_LABEL] === MANAGED_BY && labels[ROLE_LABEL] === role && labels[HOME_CLUSTER_LABEL] === homeClusterId;
}

const isNotFound = (err: unknown) => err instanceof KubeError && err.code === 404;
const isForbidden = (err: unknown) => err instanceof KubeError && err.code === 403;

/**
 * A read the tool's role may not be granted in every cluster (PriorityClasses are cluster-wide):
 * forbidden, it says nothing, and the dry-run create is what checks it.
 */
async function unlessForbidden<T>(read: Promise<T>, otherwise: T): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (isForbidden(err)) return otherwise;
    throw err;
  }
}

/**
 * Checks every target of the fleet for the remote workers given (one per worker group that may
 * move, as they would be made), before anything is written for them: the reads of
 * placement/preflight.ts, and the dry-run create. A target that did not answer is left out, as the
 * fit leaves it out.
 */
export async function preflightTargets(subject: PreflightSubject, workers: Pod[], targets: Array<ObservedCluster | PreflightTarget>, options: PreflightOptions): Promise<Map<string, TargetCheck>> {
  const checks = await Promise.all(
    targets.map(async (t) => {
      const target = 'id' in t ? t : {client: t.client, id: t.snapshot!.id};
      return [target.id, await checkTarget(subject, workers, target, options)] as const;
    }),
  );
  return new Map(checks);
}

/** A cluster to check: its client and its id (the kube-system Namespace's UID). */
export interface PreflightTarget {
  client: ClusterClient;
  id: string;
}

async function checkTarget(subject: PreflightSubject, workers: Pod[], target: PreflightTarget, options: PreflightOptions): Promise<TargetCheck> {
  const {client} = target;
  const {namespace} = subject;
  const {signal} = options;
  const specs = workers.map((w) => w.spec as PodSpec);
  const named = (field: 'priorityClassName' | 'runtimeClassName') => [...new Set(specs.flatMap((s) => (typeof s[field] === 'string' ? [s[field] as string] : [])))];
  const exists = async (names: string[], type: typeof RESOURCES.priorityclasses | typeof RESOURCES.runtimeclasses) =>
    Object.fromEntries(await Promise.all(names.map(async (n) => [n, await unlessForbidden(client.find(type, n, undefined, signal).then((o) => o !== undefined), true)] as const)));
  const namespaceExists = (await client.find(RESOURCES.namespaces, namespace, undefined, signal)) !== undefined;
  const refs = specs.map(podReferences);
  const mapped = [...new Set(specs.flatMap(claimsOf))].filter((c) => Object.values(subject.claims ?? {}).includes(c));
  const [priorityClasses, runtimeClasses, quotas, inTheWay, missing, claims] = await Promise.all([
    exists(named('priorityClassName'), RESOURCES.priorityclasses),
    exists(named('runtimeClassName'), RESOURCES.runtimeclasses),
    namespaceExists ? unlessForbidden(readQuotas(namespace, target, signal), []) : [],
    namespaceExists ? objectsInTheWay(subject, target, signal).then((seen) => seen.lines.map((line) => `${line} (${IN_THE_WAY_FIX})`)) : [],
    namespaceExists && !options.copySecrets ? missingSecrets(target, namespace, refs.flatMap((r) => r.secrets), signal) : [],
    Promise.all(mapped.map(async (c) => [c, namespaceExists && (await client.find(RESOURCES.persistentvolumeclaims, c, namespace, signal)) !== undefined] as const)).then(Object.fromEntries),
  ]);
  const facts: TargetFacts = {context: client.context, namespace, namespaceExists, priorityClasses, runtimeClasses, quotas, inTheWay, missing, claims};
  if (!namespaceExists && !options.copySecrets) {
    const secrets = [...new Set(refs.flatMap((r) => r.secrets))];
    if (secrets.length > 0) facts.missing.push(`the workers need Secret(s) ${secrets.join(', ')}, and namespace ${namespace} is not there yet in ${client.context}; create them there, or pass --copy-secrets`);
  }
  // Asked only of a target nothing else refuses: the server's answer adds what the reads cannot see.
  if (options.dryRunCreate && namespaceExists && targetRefusals(specs, facts).length === 0) {
    for (const worker of workers) {
      const refusal = await dryRunRefusal(target, worker, namespace, signal);
      if (refusal) {
        facts.dryRunRefusal = refusal;
        break;
      }
    }
  }
  return {refusals: targetRefusals(specs, facts), quota: new QuotaRoom(facts.quotas)};
}

async function readQuotas(namespace: string, target: PreflightTarget, signal?: AbortSignal): Promise<Quota[]> {
  const list = await target.client.list<KubeObject & {spec?: {scopes?: string[]; scopeSelector?: unknown}; status?: {hard?: Record<string, string>; used?: Record<string, string>}}>(RESOURCES.resourcequotas, {namespace, signal});
  return list.items.map((q) => ({
    name: q.metadata?.name ?? '',
    hard: q.status?.hard ?? (q.spec as {hard?: Record<string, string>} | undefined)?.hard ?? {},
    used: q.status?.used ?? {},
    scoped: (q.spec?.scopes?.length ?? 0) > 0 || q.spec?.scopeSelector !== undefined,
  }));
}

export const IN_THE_WAY_FIX = 'delete or rename it there, or keep the workers out of that cluster (span --to another one)';

/**
 * Objects of the names the group's copies need that the tool did not make for this home: a
 * Service the head address would resolve to, or a RayCluster that would count the remote workers
 * as its own (they carry its `ray.io/cluster` label). Neither is ever taken over.
 */
export async function objectsInTheWay(
  subject: PreflightSubject,
  target: PreflightTarget,
  signal?: AbortSignal,
): Promise<{lines: string[]; service?: KubeObject; slice?: KubeObject}> {
  const {client} = target;
  const {namespace, rayCluster, headService: headName, homeClusterId: homeId} = subject;
  if (!headName) return {lines: []};
  const [service, slice, sameName] = await Promise.all([
    client.find<KubeObject>(RESOURCES.services, headName, namespace, signal),
    subject.mesh === 'endpoints' ? client.find<KubeObject>(RESOURCES.endpointslices, headEndpointSliceName(headName), namespace, signal) : undefined,
    client.find<KubeObject>(RESOURCES.rayclusters, rayCluster, namespace, signal).catch((err: unknown) => {
      // A cluster without KubeRay's CRDs has no RayCluster in the way.
      if (isNotFound(err) || isForbidden(err)) return undefined;
      throw err;
    }),
  ]);
  const out: string[] = [];
  if (service && !madeFor(service, 'head-service-copy', homeId)) {
    out.push(`Service ${headName} in ${client.context} is not kubectl-superskyray's head-Service copy, and the head address there would resolve to it`);
  }
  if (slice && !madeFor(slice, 'head-service-copy', homeId)) {
    out.push(`EndpointSlice ${headEndpointSliceName(headName)} in ${client.context} is not kubectl-superskyray's, and the head-Service copy's endpoint needs its name`);
  }
  const relocating = subject.relocatingTo === target.id;
  if (sameName && !relocating) {
    out.push(`RayCluster ${rayCluster} in ${client.context} would count the remote workers as its own, since they carry its ray.io/cluster label`);
  }
  return {lines: out, ...(service ? {service} : {}), ...(slice ? {slice} : {})};
}

async function missingSecrets(target: PreflightTarget, namespace: string, names: string[], signal?: AbortSignal): Promise<string[]> {
  const absent = [];
  for (const name of [...new Set(names)].sort()) {
    if (!(await target.client.find(RESOURCES.secrets, name, namespace, signal))) absent.push(name);
  }
  return absent.length > 0 ? [`Secret(s) ${absent.join(', ')} that the workers need are not there in ${target.client.context}; create them there, or pass --copy-secrets`] : [];
}

/**
 * The server's refusal of a dry-run create of the remote worker, or undefined when it admits it.
 * Its ServiceAccount may be one the tool is yet to copy there: the dry run then names `default`,
 * which ServiceAccount admission always finds, so that it refuses only for what a real create would.
 */
async function dryRunRefusal(target: PreflightTarget, worker: Pod, namespace: string, signal?: AbortSignal): Promise<string | undefined> {
  const account = (worker.spec?.serviceAccountName as string | undefined) ?? 'default';
  const accountThere = account === 'default' || (await target.client.find(RESOURCES.serviceaccounts, account, namespace, signal)) !== undefined;
  const {name: _name, ...metadata} = worker.metadata ?? {};
  const probe: Pod = {
    ...worker,
    metadata: {...metadata, generateName: `${worker.metadata?.name ?? 'worker'}-preflight-`, namespace},
    spec: {...(worker.spec as PodSpec), ...(accountThere ? {} : {serviceAccountName: 'default'})},
  };
  try {
    await target.client.create(RESOURCES.pods, probe, {namespace, dryRun: true, signal});
    return undefined;
  } catch (err) {
    if (err instanceof KubeError && [400, 403, 422].includes(err.code ?? 0)) return err.detail;
    throw err;
  }
}
