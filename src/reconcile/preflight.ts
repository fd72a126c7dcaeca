import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import {RESOURCES, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Pod, PodSpec} from '../kube/types.js';
import {HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {headEndpointSliceName, podReferences, RAY_NODE_LABEL, remoteWorkerPod, type SwapContext, type WorkerGroupTemplate} from '../kuberay/swap.js';
import {claimsOf, QuotaRoom, workerRefusals, type Quota, type TargetFacts} from '../placement/preflight.js';
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

/** A target's refusals for the worker groups given, one line each, the group named when there are several. */
export function refusalsFor(check: TargetCheck | undefined, groups: string[]): string[] {
  const lines = groups.flatMap((g) => (check?.refusals.get(g) ?? []).map((r) => (groups.length > 1 ? `worker group ${g}: ${r}` : r)));
  return [...new Set(lines)];
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

/** What the preflight found of one target: why it may take no remote worker of each worker group, and its quota room. */
export interface TargetCheck {
  refusals: ReadonlyMap<string, string[]>;
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

/**
 * Checks every target of the fleet for the remote workers given (one per worker group that may
 * move, by group, as they would be made), before anything is written for them: the reads of
 * placement/preflight.ts, and the dry-run create. A read that fails (forbidden, a timeout) refuses
 * the target, saying so: nothing is taken to be absent.
 */
export async function preflightTargets(
  subject: PreflightSubject,
  workers: ReadonlyMap<string, Pod>,
  targets: Array<ObservedCluster | PreflightTarget>,
  options: PreflightOptions,
): Promise<Map<string, TargetCheck>> {
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

/** A read's failure, as a line: what could not be read there, and why. */
function unreadable(what: string, context: string, err: unknown): string {
  const reason = err instanceof KubeError ? (err.code === 403 ? 'forbidden: bind the roles of deploy/rbac there' : err.detail) : String(err);
  return `cannot read ${what} in ${context} (${reason}), so whether the workers may run there is unknown`;
}

async function checkTarget(subject: PreflightSubject, workers: ReadonlyMap<string, Pod>, target: PreflightTarget, options: PreflightOptions): Promise<TargetCheck> {
  const {client} = target;
  const {namespace} = subject;
  const {signal} = options;
  const specs = [...workers.values()].map((w) => w.spec as PodSpec);
  const failed: string[] = [];
  // Each read is one line of its own when it fails; 404 is an answer (absent), anything else is not.
  const read = async <T>(what: string, fetch: () => Promise<T>, otherwise: T): Promise<T> => {
    try {
      return await fetch();
    } catch (err) {
      signal?.throwIfAborted();
      failed.push(unreadable(what, client.context, err));
      return otherwise;
    }
  };
  const exists = async (type: ResourceType, names: string[], ns?: string) =>
    Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await read(`${type.kind} ${n}`, async () => (await client.find(type, n, ns, signal)) !== undefined, true)] as const)),
    ) as Record<string, boolean>;
  const named = (field: 'priorityClassName' | 'runtimeClassName') => [...new Set(specs.flatMap((s) => (typeof s[field] === 'string' ? [s[field] as string] : [])))];
  const namespaceExists = await read(`namespace ${namespace}`, async () => (await client.find(RESOURCES.namespaces, namespace, undefined, signal)) !== undefined, false);
  const inNamespace = async (type: ResourceType, names: string[]) => (namespaceExists ? exists(type, names, namespace) : Object.fromEntries(names.map((n) => [n, false])));
  const mapped = [...new Set(specs.flatMap(claimsOf))].filter((c) => Object.values(subject.claims ?? {}).includes(c));
  const [priorityClasses, runtimeClasses, quotas, inTheWay, secrets, claims] = await Promise.all([
    exists(RESOURCES.priorityclasses, named('priorityClassName')),
    exists(RESOURCES.runtimeclasses, named('runtimeClassName')),
    namespaceExists ? read(`the ResourceQuotas of namespace ${namespace}`, () => readQuotas(namespace, target, signal), []) : [],
    namespaceExists ? read('the objects of the head-Service copy\'s names', () => objectsInTheWay(subject, target, signal).then((seen) => seen.lines.map((line) => `${line} (${IN_THE_WAY_FIX})`)), []) : [],
    options.copySecrets ? {} : inNamespace(RESOURCES.secrets, [...new Set(specs.flatMap((s) => podReferences(s).secrets))].sort()),
    inNamespace(RESOURCES.persistentvolumeclaims, mapped),
  ]);
  const facts: TargetFacts = {context: client.context, namespace, namespaceExists, priorityClasses, runtimeClasses, claims, secrets, copySecrets: options.copySecrets, quotas, inTheWay, unreadable: failed};
  const refusals = new Map<string, string[]>();
  for (const [group, worker] of workers) {
    let reasons = workerRefusals(worker.spec as PodSpec, facts);
    // Asked only where the reads find nothing: the server's answer adds what they cannot see.
    if (reasons.length === 0 && options.dryRunCreate && namespaceExists) {
      const refused = await read('the answer to a dry-run create of a remote worker', () => dryRunRefusal(target, worker, namespace, signal), undefined);
      reasons = workerRefusals(worker.spec as PodSpec, facts, refused);
    }
    refusals.set(group, reasons);
  }
  return {refusals, quota: new QuotaRoom(facts.quotas)};
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
      if (isNotFound(err)) return undefined;
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
    // A quota full now is room to wait for, as a full node is: the QuotaRoom counts it worker by worker.
    if (err instanceof KubeError && err.code === 403 && /exceeded quota/.test(err.detail)) return undefined;
    if (err instanceof KubeError && [400, 403, 422].includes(err.code ?? 0)) return err.detail;
    throw err;
  }
}
