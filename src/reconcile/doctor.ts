import type {ClusterClient} from '../kube/client.js';
import {KubeError, normaliseError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES, type ResourceType} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import {KUBE_SYSTEM} from './fleet-status.js';
import type {GroupPolicy} from '../kuberay/group.js';
import {hasKubeRay} from './place.js';
import {autoscalerVersion, V1_SPAN_FIX} from '../kuberay/autoscaler.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  check: string;
  status: CheckStatus;
  detail: string;
  /** One sentence: what to do about it. */
  fix?: string;
}

export interface ClusterChecks {
  context: string;
  clusterId?: string;
  checks: Check[];
}

export interface DoctorReport {
  namespace: string;
  clusters: ClusterChecks[];
}

/** What the tool does, as the RBAC verbs it needs: the shipped Role grants exactly these. */
export const PERMISSIONS: Array<{type: ResourceType; subresource?: string; verbs: string[]; secretsOnly?: boolean}> = [
  {type: RESOURCES.pods, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.pods, subresource: 'status', verbs: ['patch']},
  {type: RESOURCES.services, verbs: ['get', 'list', 'create', 'patch', 'delete']},
  {type: RESOURCES.endpointslices, verbs: ['get', 'list', 'create', 'patch', 'delete']},
  {type: RESOURCES.configmaps, verbs: ['get', 'list', 'create', 'patch', 'delete']},
  {type: RESOURCES.serviceaccounts, verbs: ['get', 'list', 'create', 'patch', 'delete']},
  {type: RESOURCES.secrets, verbs: ['get', 'list', 'create', 'patch', 'delete'], secretsOnly: true},
  {type: RESOURCES.namespaces, verbs: ['get', 'create']},
  {type: RESOURCES.nodes, verbs: ['list']},
  {type: RESOURCES.leases, verbs: ['get', 'create', 'patch', 'delete']},
  {type: RESOURCES.poddisruptionbudgets, verbs: ['get', 'create', 'delete']},
  {type: RESOURCES.events, verbs: ['create']},
  {type: RESOURCES.rayclusters, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.rayservices, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.rayjobs, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
];

interface CiliumFacts {
  context: string;
  config?: Record<string, string>;
  /** kube-system/cilium-config could not be read: nothing can be said of the mesh. */
  forbidden?: boolean;
}

const DOCTOR_ROLE_FIX = 'bind the Role kubectl-superskyray-doctor in kube-system (deploy/rbac/) to this user';

/**
 * Cilium Cluster Mesh, as mesh mode `cilium` needs it, from each cluster's cilium-config: a cluster
 * name, a cluster id unique in the fleet, and EndpointSlice sync (the head Service is headless).
 */
export function ciliumChecks(facts: CiliumFacts[]): Map<string, Check> {
  const out = new Map<string, Check>();
  const ids = new Map<string, string[]>();
  for (const f of facts) {
    const id = f.config?.['cluster-id'];
    if (id && id !== '0') ids.set(id, [...(ids.get(id) ?? []), f.context]);
  }
  for (const f of facts) {
    const c = f.config;
    if (f.forbidden) {
      out.set(f.context, {check: 'cilium cluster mesh', status: 'fail', detail: 'cannot read kube-system/cilium-config (forbidden), so the cluster name, id and EndpointSlice sync are unknown', fix: DOCTOR_ROLE_FIX});
      continue;
    }
    if (!c) {
      out.set(f.context, {check: 'cilium cluster mesh', status: 'warn', detail: 'no kube-system/cilium-config: Cilium is not installed here', fix: 'install Cilium with Cluster Mesh, or place groups with --mesh endpoints on a flat pod network'});
      continue;
    }
    const name = c['cluster-name'];
    const id = c['cluster-id'];
    const twins = (id && ids.get(id)?.filter((x) => x !== f.context)) || [];
    if (!name || name === 'default' || !id || id === '0') {
      out.set(f.context, {check: 'cilium cluster mesh', status: 'fail', detail: `cluster-name "${name ?? ''}", cluster-id "${id ?? ''}": Cluster Mesh needs both`, fix: 'give each cluster its own cluster.name and cluster.id in the Cilium install'});
    } else if (twins.length > 0) {
      out.set(f.context, {check: 'cilium cluster mesh', status: 'fail', detail: `cluster-id ${id} is also the id of ${twins.join(', ')}`, fix: 'give each cluster of the mesh a unique cluster.id'});
    } else if (c['clustermesh-enable-endpoint-sync'] !== 'true') {
      out.set(f.context, {check: 'cilium cluster mesh', status: 'warn', detail: `cluster ${name} (id ${id}); EndpointSlice sync is off, and KubeRay's head Service is headless`, fix: 'set clustermesh.enableEndpointSliceSynchronization=true in the Cilium install'});
    } else {
      out.set(f.context, {check: 'cilium cluster mesh', status: 'ok', detail: `cluster ${name} (id ${id}), EndpointSlice sync on`});
    }
  }
  return out;
}

/**
 * The Ray autoscaler each in-tree autoscaled RayCluster of the namespace gets, as the tool decides it
 * from the spec (src/kuberay/autoscaler.ts); a group on v1 is never spanned. Undefined when none
 * autoscales.
 */
export function autoscalerCheck(rayClusters: KubeObject[]): Check | undefined {
  const groups = rayClusters.flatMap((rc) => {
    const choice = autoscalerVersion(rc.spec);
    return choice ? [{name: rc.metadata?.name ?? '', ...choice}] : [];
  });
  if (groups.length === 0) return undefined;
  const detail = groups.map((g) => `raycluster/${g.name}: ${g.version} (${g.because})`).join('; ');
  const v1 = groups.filter((g) => g.version === 'v1');
  if (v1.length === 0) return {check: 'ray autoscaler', status: 'ok', detail};
  return {
    check: 'ray autoscaler',
    status: 'warn',
    detail: `${detail}; ${v1.map((g) => `raycluster/${g.name}`).join(', ')} ${v1.length === 1 ? 'is' : 'are'} never spanned: v1 matches Ray nodes to pods by IP, and would never scale in a remote worker`,
    fix: V1_SPAN_FIX,
  };
}

/** The cluster domain CoreDNS serves, from its Corefile ("kubernetes cluster.local in-addr.arpa ..."). */
export function clusterDomainOf(corefile: string | undefined): string | undefined {
  return corefile ? /^\s*kubernetes\s+(\S+)/m.exec(corefile)?.[1] : undefined;
}

async function accessDenied(client: ClusterClient, namespace: string, copySecrets: boolean, signal?: AbortSignal): Promise<string[]> {
  const asks = PERMISSIONS.filter((p) => copySecrets || !p.secretsOnly).flatMap((p) => p.verbs.map((verb) => ({p, verb})));
  const answers = await Promise.all(
    asks.map(async ({p, verb}) => {
      const review = await client.create<KubeObject & {status?: {allowed?: boolean}}>(
        RESOURCES.selfsubjectaccessreviews,
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {resourceAttributes: {verb, group: p.type.group, resource: p.type.resource, ...(p.subresource ? {subresource: p.subresource} : {}), ...(p.type.namespaced ? {namespace} : {})}},
        },
        {signal},
      );
      return review.status?.allowed ? undefined : `${verb} ${p.type.resource}${p.subresource ? `/${p.subresource}` : ''}`;
    }),
  );
  return answers.filter((a): a is string => a !== undefined);
}

interface ClusterLook {
  result: ClusterChecks;
  kubeRay?: boolean;
  cilium?: Record<string, string>;
  ciliumForbidden?: boolean;
  domain?: string;
  domainForbidden?: boolean;
  hasNamespace?: boolean;
}

async function checkCluster(client: ClusterClient, namespace: string, copySecrets: boolean, signal?: AbortSignal): Promise<ClusterLook> {
  const checks: Check[] = [];
  const result: ClusterChecks = {context: client.context, checks};
  try {
    const version = await client.version(signal);
    checks.push({check: 'reachable', status: 'ok', detail: `${client.server}, Kubernetes ${version.gitVersion}`});
  } catch (thrown) {
    const err = normaliseError(thrown, {context: client.context});
    // Any HTTP answer means the server is there: what it says of the credentials is the next check's.
    if (err.code === undefined) {
      checks.push({check: 'reachable', status: 'fail', detail: err.detail, fix: err.fix ?? 'check the server address and the network path to it'});
      return {result};
    }
    checks.push({check: 'reachable', status: 'ok', detail: `${client.server} answered (${err.code} ${err.reason} for /version)`});
  }
  try {
    const kubeSystem = await client.get<KubeObject>(RESOURCES.namespaces, KUBE_SYSTEM, undefined, signal);
    result.clusterId = kubeSystem.metadata?.uid;
    checks.push({check: 'credentials', status: 'ok', detail: `accepted; cluster id ${result.clusterId}`});
  } catch (thrown) {
    const err = normaliseError(thrown, {context: client.context});
    if (err.code === 401) {
      checks.push({check: 'credentials', status: 'fail', detail: err.detail, fix: 'renew the credentials of this context'});
      return {result};
    }
    // Without the cluster id the tool cannot tell this cluster from the others, so it never acts on it.
    const detail = err.code === 403 ? 'accepted, but cannot read the kube-system Namespace (forbidden): its UID is the cluster id, and without it the tool leaves this cluster out of every decision' : err.detail;
    checks.push({check: 'credentials', status: 'fail', detail, fix: 'bind the ClusterRole kubectl-superskyray-fleet (deploy/rbac/) to this user'});
  }
  const denied = await accessDenied(client, namespace, copySecrets, signal);
  checks.push(
    denied.length === 0
      ? {check: 'permissions', status: 'ok', detail: `every verb the tool uses, in namespace ${namespace}${copySecrets ? ', Secrets included' : ''}`}
      : {check: 'permissions', status: 'fail', detail: `denied: ${denied.join(', ')} (namespace ${namespace})`, fix: 'bind the Role and ClusterRole in deploy/rbac/ to this user'},
  );
  const kubeRay = await hasKubeRay(client, signal);
  checks.push(
    kubeRay
      ? {check: 'kuberay crds', status: 'ok', detail: 'ray.io/v1 is served: it can be a home'}
      : {check: 'kuberay crds', status: 'warn', detail: 'ray.io/v1 is not served: it can take remote workers, never be a home', fix: 'install the KubeRay operator here if groups should live here'},
  );
  const read = async (name: string): Promise<{object?: KubeObject & {data?: Record<string, string>}; forbidden?: boolean}> => {
    try {
      return {object: await client.find<KubeObject & {data?: Record<string, string>}>(RESOURCES.configmaps, name, KUBE_SYSTEM, signal)};
    } catch (err) {
      if (err instanceof KubeError && err.code === 403) return {forbidden: true};
      throw err;
    }
  };
  const [cilium, coredns, ns, rayClusters] = await Promise.all([
    read('cilium-config'),
    read('coredns'),
    client.find(RESOURCES.namespaces, namespace, undefined, signal).then(
      (found) => found !== undefined,
      () => undefined,
    ),
    kubeRay
      ? client.list(RESOURCES.rayclusters, {namespace, signal}).then(
          (l) => l.items,
          (thrown: unknown) => normaliseError(thrown, {context: client.context}),
        )
      : Promise.resolve([]),
  ]);
  if (rayClusters instanceof KubeError) {
    const why = rayClusters.code === 403 ? 'forbidden' : rayClusters.detail;
    checks.push({check: 'ray autoscaler', status: 'warn', detail: `cannot list the RayClusters of namespace ${namespace} (${why}), so which autoscaler each gets is unknown`, fix: 'bind the Role and ClusterRole in deploy/rbac/ to this user'});
  } else {
    const autoscaler = autoscalerCheck(rayClusters);
    if (autoscaler) checks.push(autoscaler);
  }
  return {
    result,
    kubeRay,
    cilium: cilium.object?.data ?? (cilium.object ? {} : undefined),
    ciliumForbidden: cilium.forbidden,
    domain: clusterDomainOf(coredns.object?.data?.Corefile),
    domainForbidden: coredns.forbidden,
    hasNamespace: ns,
  };
}

/**
 * Preflight per context: reachable, credentials, every verb the tool uses (SelfSubjectAccessReview),
 * the KubeRay CRDs, the Ray autoscaler of each autoscaled RayCluster, Cilium Cluster Mesh, one
 * cluster domain, and no cluster reached through two contexts. It only reads (access reviews write
 * nothing).
 */
export async function doctor(fleet: Fleet, options: {namespace: string; copySecrets: boolean; mesh?: GroupPolicy['mesh']; signal?: AbortSignal}): Promise<DoctorReport> {
  const looks = await Promise.all(fleet.clusters.map((c) => checkCluster(c, options.namespace, options.copySecrets, options.signal)));
  // A run that was stopped checked nothing: its failed looks are no verdict on the clusters.
  options.signal?.throwIfAborted();
  // Those whose credentials were taken, even where the kube-system Namespace could not be read.
  const reached = looks.filter((l) => l.result.checks.some((c) => c.check === 'permissions'));
  const byId = new Map<string, string[]>();
  for (const l of reached) if (l.result.clusterId) byId.set(l.result.clusterId, [...(byId.get(l.result.clusterId) ?? []), l.result.context]);
  const cilium = ciliumChecks(reached.map((l) => ({context: l.result.context, config: l.cilium, forbidden: l.ciliumForbidden})));
  const domains = new Set(reached.map((l) => l.domain ?? 'cluster.local'));
  // One cluster without KubeRay is a place for remote workers; a fleet without any has no home.
  const homeless = reached.length > 0 && reached.every((l) => l.kubeRay === false);
  const withoutNamespace = reached.filter((l) => l.hasNamespace === false);
  for (const l of reached) {
    const {checks} = l.result;
    if (homeless) {
      const kubeRay = checks.find((c) => c.check === 'kuberay crds')!;
      Object.assign(kubeRay, {status: 'fail', detail: 'ray.io/v1 is not served, nor in any other cluster of the fleet: no group can be placed', fix: 'install the KubeRay operator in the cluster that should run the Ray apps'});
    }
    const same = (byId.get(l.result.clusterId ?? '') ?? []).filter((c) => c !== l.result.context);
    checks.push(
      !l.result.clusterId
        ? {check: 'one context per cluster', status: 'fail', detail: 'cannot tell: the cluster id (the kube-system Namespace\'s UID) could not be read', fix: 'bind the ClusterRole kubectl-superskyray-fleet (deploy/rbac/) to this user'}
        : same.length > 0
          ? {check: 'one context per cluster', status: 'fail', detail: `the same cluster as ${same.join(', ')} (kube-system ${l.result.clusterId})`, fix: 'keep one context per cluster in the fleet'}
          : {check: 'one context per cluster', status: 'ok', detail: 'no other context of the fleet reaches this cluster'},
    );
    checks.push(
      l.hasNamespace === undefined
        ? {check: 'namespace', status: 'warn', detail: `cannot tell whether namespace ${options.namespace} exists here`}
        : l.hasNamespace
          ? {check: 'namespace', status: 'ok', detail: `${options.namespace} exists`}
          : withoutNamespace.length === reached.length
            ? {check: 'namespace', status: 'fail', detail: `${options.namespace} exists in no cluster of the fleet`, fix: `create it in the cluster that should be home (kubectl --context ${l.result.context} create namespace ${options.namespace}), or fix -n`}
            : {check: 'namespace', status: 'ok', detail: `${options.namespace} is not here; it is made here when remote workers first come`},
    );
    checks.push(
      (options.mesh ?? 'cilium') === 'cilium'
        ? cilium.get(l.result.context)!
        : {check: 'cilium cluster mesh', status: 'ok', detail: `not needed with --mesh ${options.mesh}: remote workers reach the head by pod IP over a flat network, which doctor cannot check`},
    );
    const domain = l.domain ?? 'cluster.local';
    checks.push(
      l.domainForbidden
        ? {check: 'cluster domain', status: 'warn', detail: 'cannot read kube-system/coredns (forbidden); cluster.local is assumed', fix: DOCTOR_ROLE_FIX}
        : domains.size > 1
        ? {check: 'cluster domain', status: 'warn', detail: `${domain}${l.domain ? '' : ' (assumed: no CoreDNS Corefile to read)'}; the fleet has ${[...domains].join(', ')}`, fix: 'remote workers must reach the head by its home domain: use one cluster domain, or check the head address'}
        : {check: 'cluster domain', status: 'ok', detail: `${domain}${l.domain ? '' : ' (assumed: no CoreDNS Corefile to read)'}`},
    );
  }
  return {namespace: options.namespace, clusters: looks.map((l) => l.result)};
}
