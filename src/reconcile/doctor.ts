import type {ClusterClient} from '../kube/client.js';
import {KubeError, normaliseError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES, type ResourceType} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import {KUBE_SYSTEM} from './fleet-status.js';
import type {GroupPolicy} from '../kuberay/group.js';
import {hasKubeRay} from './place.js';
import {autoscalerVersion, v1SpanRefusal} from '../kuberay/autoscaler.js';
import {clusterSpecOf} from '../kuberay/demand.js';
import {KUBERAY_APP_LABELS} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {workerGroupTemplate} from '../kuberay/swap.js';
import {policyOf} from './group.js';
import {preflightTargets, refusalsFor, templateWorker, type PreflightSubject} from './preflight.js';

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
  {type: RESOURCES.services, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.endpointslices, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.configmaps, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.serviceaccounts, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete']},
  {type: RESOURCES.secrets, verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'], secretsOnly: true},
  {type: RESOURCES.namespaces, verbs: ['get', 'create']},
  {type: RESOURCES.nodes, verbs: ['get', 'list', 'watch']},
  {type: RESOURCES.leases, verbs: ['get', 'create', 'patch', 'delete']},
  {type: RESOURCES.poddisruptionbudgets, verbs: ['get', 'list', 'create', 'delete']},
  {type: RESOURCES.events, verbs: ['create']},
  {type: RESOURCES.resourcequotas, verbs: ['list', 'watch']},
  {type: RESOURCES.persistentvolumeclaims, verbs: ['get']},
  {type: RESOURCES.networkpolicies, verbs: ['list']},
  {type: RESOURCES.priorityclasses, verbs: ['get']},
  {type: RESOURCES.runtimeclasses, verbs: ['get']},
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
 * The Ray version of each in-tree autoscaled Ray group of the namespace (RayCluster, RayService,
 * RayJob) and the Ray autoscaler it gets, as the tool decides it (src/kuberay/autoscaler.ts); span
 * and scale refuse a group on v1 with the same words (v1SpanRefusal). A RayCluster made by a
 * RayService or RayJob among `groups` is that group's: it is not said twice. Undefined when none
 * autoscales. `groups` carry their kind.
 */
export function autoscalerCheck(groups: KubeObject[]): Check | undefined {
  const owners = new Set(groups.filter((g) => g.kind !== 'RayCluster').map((g) => g.metadata?.uid).filter((uid) => uid !== undefined));
  const lines: string[] = [];
  let fix: string | undefined;
  for (const group of groups) {
    if (group.kind === 'RayCluster' && group.metadata?.ownerReferences?.some((r) => r.controller && owners.has(r.uid))) continue;
    const spec = clusterSpecOf(group.kind, group.spec);
    const choice = autoscalerVersion(spec);
    if (!choice) continue;
    const rayVersion = (spec as {rayVersion?: string}).rayVersion;
    const what = `${(group.kind ?? '').toLowerCase()}/${group.metadata?.name ?? ''}`;
    // The reason names the Ray version when it is what decided.
    const named = rayVersion ? choice.because.includes(`Ray ${rayVersion}`) : choice.because.includes('rayVersion');
    const whatRay = named ? what : `${what} (${rayVersion ? `Ray ${rayVersion}` : 'no rayVersion'})`;
    const refusal = v1SpanRefusal(spec, whatRay);
    if (refusal) {
      lines.push(`${refusal.message}, so the tool never spans it`);
      fix = refusal.fix;
    } else {
      lines.push(`${whatRay}: autoscaler ${choice.version} (${choice.because})`);
    }
  }
  if (lines.length === 0) return undefined;
  return fix ? {check: 'ray autoscaler', status: 'warn', detail: lines.join('; '), fix} : {check: 'ray autoscaler', status: 'ok', detail: lines.join('; ')};
}

/** The cluster domain CoreDNS serves, from its Corefile ("kubernetes cluster.local in-addr.arpa ..."). */
export function clusterDomainOf(corefile: string | undefined): string | undefined {
  return corefile ? /^\s*kubernetes\s+(\S+)/m.exec(corefile)?.[1] : undefined;
}

export interface DomainFacts {
  context: string;
  /** The domain CoreDNS's Corefile serves; undefined when there is no Corefile to read. */
  domain?: string;
  /** kube-system/coredns could not be read. */
  forbidden?: boolean;
}

const DEFAULT_DOMAIN = 'cluster.local';

/**
 * One cluster domain across the fleet. KubeRay renders the head address with its home cluster's
 * domain (`<svc>.<ns>.svc.<home domain>`), and a remote worker resolves it with the DNS of the
 * cluster it runs in: where the domains differ, remote workers cannot join. So every cluster whose
 * domain differs from another's fails. A Corefile that could not be read is a warn; where there is
 * none to read (kube-dns, say), cluster.local is assumed, and said to be.
 */
export function clusterDomainChecks(facts: DomainFacts[]): Map<string, Check> {
  const out = new Map<string, Check>();
  const shown = (f: DomainFacts) => (f.domain ?? DEFAULT_DOMAIN) + (f.domain ? '' : f.forbidden ? ' (assumed: kube-system/coredns is not readable)' : ' (assumed: no CoreDNS Corefile to read)');
  for (const f of facts) {
    if (f.forbidden) {
      out.set(f.context, {check: 'cluster domain', status: 'warn', detail: 'cannot read kube-system/coredns (forbidden); cluster.local is assumed', fix: DOCTOR_ROLE_FIX});
      continue;
    }
    const mine = f.domain ?? DEFAULT_DOMAIN;
    const others = new Map<string, DomainFacts[]>();
    for (const o of facts) {
      if (o.context !== f.context && (o.domain ?? DEFAULT_DOMAIN) !== mine) others.set(shown(o), [...(others.get(shown(o)) ?? []), o]);
    }
    if (others.size === 0) {
      out.set(f.context, {check: 'cluster domain', status: 'ok', detail: shown(f)});
      continue;
    }
    const there = [...others].map(([domain, fs]) => `${fs.map((o) => o.context).join(', ')} ${fs.length === 1 ? 'has' : 'have'} ${domain}`).join('; ');
    out.set(f.context, {
      check: 'cluster domain',
      status: 'fail',
      detail: `${shown(f)}, while ${there}: KubeRay renders the head address with the home cluster's domain (<svc>.<ns>.svc.<home domain>), and a remote worker in a cluster of another domain cannot resolve it`,
      fix: "use one cluster domain in every cluster of the fleet (the kubelets' clusterDomain, CoreDNS's kubernetes zone and the KubeRay operator's CLUSTER_DOMAIN), or leave the clusters of another domain out of the fleet",
    });
  }
  return out;
}

/** An IP range, as numbers: IPv4 and IPv6 are never compared with each other. */
interface IpRange {
  family: 4 | 6;
  start: bigint;
  end: bigint;
}

function ipv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => (n << 8n) | BigInt(Number(p)), 0n);
}

function ipv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string) => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  // An IPv4 address in the last 32 bits (::ffff:10.0.0.1).
  const last = tail.length > 0 ? tail : head;
  const v4 = last.length > 0 && last[last.length - 1]!.includes('.') ? ipv4(last.pop()!) : undefined;
  if (v4 === undefined && [...head, ...tail].some((g) => g.includes('.'))) return undefined;
  const extra = v4 === undefined ? 0 : 2;
  const missing = 8 - head.length - tail.length - extra;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  const n = all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  return v4 === undefined ? n : (n << 32n) | v4;
}

/** A CIDR (10.244.0.0/16, fd00::/64) as the range it covers; undefined when it is not one. */
export function parseCidr(cidr: string): IpRange | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!match) return undefined;
  const family = match[1]!.includes(':') ? 6 : 4;
  const address = family === 4 ? ipv4(match[1]!) : ipv6(match[1]!);
  const bits = family === 4 ? 32n : 128n;
  const prefix = BigInt(match[2]!);
  if (address === undefined || prefix > bits) return undefined;
  const host = (1n << (bits - prefix)) - 1n;
  const start = address & ~host;
  return {family, start, end: start | host};
}

const overlap = (a: IpRange, b: IpRange) => a.family === b.family && a.start <= b.end && b.start <= a.end;
const within = (inner: IpRange, outer: IpRange) => inner.family === outer.family && outer.start <= inner.start && inner.end <= outer.end;

/**
 * Pairs of ranges, one from each list, that overlap: at least one pair per range of either list
 * that overlaps any of the other's (enough to say so, without comparing every pair).
 */
function overlappingPairs(mine: string[], theirs: string[]): Array<[string, string]> {
  type Tagged = IpRange & {cidr: string; side: 0 | 1};
  const tagged: Tagged[] = [];
  for (const [side, list] of [mine, theirs].entries()) {
    for (const cidr of list) {
      const range = parseCidr(cidr);
      if (range) tagged.push({...range, cidr, side: side as 0 | 1});
    }
  }
  const pairs = new Map<string, [string, string]>();
  for (const family of [4, 6] as const) {
    const sorted = tagged.filter((t) => t.family === family).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    // The range that reaches furthest, of each side, among those that start no later.
    const furthest: [Tagged | undefined, Tagged | undefined] = [undefined, undefined];
    for (const t of sorted) {
      const other = furthest[t.side === 0 ? 1 : 0];
      if (other && other.end >= t.start) {
        const pair: [string, string] = t.side === 0 ? [t.cidr, other.cidr] : [other.cidr, t.cidr];
        pairs.set(pair.join(' '), pair);
      }
      const own = furthest[t.side];
      if (!own || t.end > own.end) furthest[t.side] = t;
    }
  }
  return [...pairs.values()];
}

/** A few ranges and how many more, for a detail line. */
function someOf(items: string[], max = 3): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

export interface PodCidrFacts {
  context: string;
  clusterId?: string;
  /** Each node's spec.podCIDRs (or spec.podCIDR); undefined when the nodes were not listed. */
  nodes?: Array<{name: string; cidrs: string[]}>;
  /** Why the nodes were not listed: "forbidden", "not reached", or the error's words. */
  unreadable?: string;
}

/** The distinct pod CIDRs of a cluster's nodes, or undefined when they could not be read. */
export function podCidrsOf(f: PodCidrFacts): string[] | undefined {
  return f.nodes && [...new Set(f.nodes.flatMap((n) => n.cidrs))].sort();
}

/**
 * Distinct pod CIDRs across the fleet, from the nodes' spec.podCIDRs: pods reach each other across
 * clusters by pod IP (Cluster Mesh or a flat network), which needs every address unique in the
 * fleet. Two contexts of one cluster are not compared (that check is another's). Only the nodes'
 * ranges are seen, not the cluster CIDR they are cut from; where no node has one (the pod network's
 * own IPAM, say), nothing can be said.
 */
export function podCidrChecks(facts: PodCidrFacts[]): Map<string, Check> {
  const out = new Map<string, Check>();
  const ranges = new Map(facts.map((f) => [f.context, podCidrsOf(f)]));
  for (const f of facts) {
    const mine = ranges.get(f.context);
    if (!mine) {
      out.set(
        f.context,
        f.unreadable === 'forbidden'
          ? {check: 'pod cidrs', status: 'warn', detail: 'cannot list the nodes (forbidden), so the pod CIDRs here are unknown', fix: 'bind the ClusterRole kubectl-superskyray-fleet (deploy/rbac/) to this user'}
          : {check: 'pod cidrs', status: 'warn', detail: `cannot list the nodes (${f.unreadable ?? 'no answer'}), so the pod CIDRs here are unknown`},
      );
      continue;
    }
    if (mine.length === 0) {
      out.set(f.context, {check: 'pod cidrs', status: 'ok', detail: f.nodes!.length === 0 ? 'not checked: no nodes here' : "not checked: no node has a spec.podCIDR (the pod network assigns addresses itself, e.g. Cilium's cluster-pool IPAM)"});
      continue;
    }
    const others = facts.filter((o) => o.context !== f.context && !(f.clusterId && o.clusterId === f.clusterId));
    const clashes: string[] = [];
    const compared: string[] = [];
    const unknown: string[] = [];
    for (const o of others) {
      const theirs = ranges.get(o.context);
      if (!theirs || theirs.length === 0) {
        unknown.push(o.context);
        continue;
      }
      compared.push(o.context);
      const pairs = overlappingPairs(mine, theirs);
      if (pairs.length > 0) clashes.push(`${someOf(pairs.map(([a, b]) => `${f.context}'s ${a} overlaps ${o.context}'s ${b}`), 2)}`);
    }
    const nodes = `${someOf(mine)} (${f.nodes!.length} node${f.nodes!.length === 1 ? '' : 's'})`;
    const notCompared = unknown.length > 0 ? `; not compared with ${unknown.join(', ')} (pod CIDRs unknown)` : '';
    if (clashes.length > 0) {
      out.set(f.context, {
        check: 'pod cidrs',
        status: 'fail',
        detail: `${clashes.join('; ')}: pods reach each other across clusters by pod IP, which must be unique in the fleet${notCompared}`,
        fix: "give each cluster of the fleet a pod CIDR of its own (kube-controller-manager's --cluster-cidr, or the pod network's IPAM pool)",
      });
    } else {
      out.set(f.context, {check: 'pod cidrs', status: 'ok', detail: `${nodes}${compared.length > 0 ? `, apart from those of ${compared.join(', ')}` : ''}${notCompared}`});
    }
  }
  return out;
}

type Labels = Record<string, string>;

interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: Array<{key: string; operator: string; values?: string[]}>;
}

/** A label selector (metav1.LabelSelector) against a pod's or a namespace's labels; an empty one matches all. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) if (labels[key] !== value) return false;
  return (selector?.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        return has && (e.values ?? []).includes(labels[e.key]!);
      case 'NotIn':
        return !has || !(e.values ?? []).includes(labels[e.key]!);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

/** The labels KubeRay gives every Ray pod it makes, head and worker; a remote worker keeps them. */
export const KUBERAY_POD_LABELS: Labels[] = (['head', 'worker'] as const).map((type) => ({
  'ray.io/is-ray-node': 'yes',
  'ray.io/node-type': type,
  ...KUBERAY_APP_LABELS,
}));

/** The label Cilium gives every endpoint with its cluster's name, for policies across the mesh. */
const CILIUM_CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster';

interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: {cidr: string; except?: string[]};
}

interface NetworkPolicySpec {
  podSelector?: LabelSelector;
  policyTypes?: string[];
  ingress?: Array<{from?: NetworkPolicyPeer[]; ports?: Array<{protocol?: string; port?: number | string; endPort?: number}>}>;
}

export interface NetworkPolicyFacts {
  context: string;
  namespace: string;
  mesh: GroupPolicy['mesh'];
  /** The namespace's NetworkPolicies; `notServed` when networking.k8s.io/v1 is not; `unreadable` says why they were not listed. */
  policies: KubeObject[] | {notServed: true} | {unreadable: string};
  /** The labels of the Ray pods of the namespace here (ray.io/is-ray-node=yes), beside KubeRay's own. */
  rayPods?: Labels[];
  /** Why the Ray pods were not listed, if they were not. */
  rayPodsUnreadable?: string;
  /** The other clusters of the fleet and their pod CIDRs (undefined, or none, when unknown). */
  others: Array<{context: string; cidrs?: string[]}>;
  /** cilium-config's policy-default-local-cluster is on: a policy's label peers are pods of this cluster only. */
  ciliumLocalOnly?: boolean;
}

/** How far one ingress rule admits the Ray pods' peers in the other clusters, best first. */
type Admits = {level: 'all' | 'ports' | 'unknown' | 'no'; how: string};
const LEVELS: Admits['level'][] = ['all', 'ports', 'unknown', 'no'];
const better = (a: Admits, b: Admits) => (LEVELS.indexOf(b.level) < LEVELS.indexOf(a.level) ? b : a);

function mentionsCluster(selector: LabelSelector | undefined): boolean {
  return Object.hasOwn(selector?.matchLabels ?? {}, CILIUM_CLUSTER_LABEL) || (selector?.matchExpressions ?? []).some((e) => e.key === CILIUM_CLUSTER_LABEL);
}

/** One peer of an ingress rule: does it admit the other clusters' Ray pods? */
function peerAdmits(peer: NetworkPolicyPeer, f: NetworkPolicyFacts, rayLabels: Labels[]): Admits {
  if (peer.ipBlock) {
    const block = `ipBlock ${peer.ipBlock.cidr}${peer.ipBlock.except?.length ? ` except ${peer.ipBlock.except.join(', ')}` : ''}`;
    // Cilium matches the pods of its mesh by identity, never by ipBlock.
    if (f.mesh === 'cilium') return {level: 'no', how: `${block} (Cilium applies no ipBlock to the pods of its mesh)`};
    const outer = parseCidr(peer.ipBlock.cidr);
    const except = (peer.ipBlock.except ?? []).map(parseCidr).filter((r): r is IpRange => r !== undefined);
    const unknown = f.others.filter((o) => !o.cidrs?.length).map((o) => o.context);
    const missed = f.others.flatMap((o) =>
      (o.cidrs ?? [])
        .filter((cidr) => {
          const range = parseCidr(cidr);
          return !range || !outer || !within(range, outer) || except.some((e) => overlap(e, range));
        })
        .map((cidr) => `${o.context}'s ${cidr}`),
    );
    if (missed.length > 0) return {level: 'no', how: `${block} (leaves out ${someOf(missed, 2)})`};
    if (unknown.length > 0) return {level: 'unknown', how: `${block}, while the pod CIDRs of ${unknown.join(', ')} are unknown`};
    return {level: 'all', how: `${block}, which covers the other clusters' pod CIDRs`};
  }
  // Label peers: pods of this cluster, but with Cilium those of every cluster of the mesh, unless
  // policy-default-local-cluster is on (the default from Cilium 1.19), where only a peer naming
  // clusters reaches beyond this one.
  if (f.mesh !== 'cilium') return {level: 'no', how: 'a pod or namespace selector (pods of this cluster only)'};
  if (mentionsCluster(peer.podSelector) || mentionsCluster(peer.namespaceSelector)) return {level: 'all', how: `a selector naming Cilium clusters (${CILIUM_CLUSTER_LABEL})`};
  if (f.ciliumLocalOnly) return {level: 'no', how: "a pod or namespace selector (pods of this cluster only: Cilium's policy-default-local-cluster is on)"};
  const ray = rayLabels.some((labels) => selectorMatches(peer.podSelector, labels));
  const namespace = !peer.namespaceSelector || selectorMatches(peer.namespaceSelector, {'kubernetes.io/metadata.name': f.namespace});
  return ray && namespace ? {level: 'all', how: "a selector of the Ray pods, which Cilium applies in every cluster of the mesh"} : {level: 'no', how: 'a pod or namespace selector that no Ray pod matches'};
}

function rulePorts(ports: NonNullable<NetworkPolicySpec['ingress']>[number]['ports']): string {
  return (ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port ?? '*'}${p.endPort ? `-${p.endPort}` : ''}`).join(', ');
}

/**
 * NetworkPolicies that would drop Ray traffic between clusters. A policy selecting Ray pods with
 * Ingress among its policyTypes (or none given) isolates them: only what the ingress rules of the
 * policies selecting them admit comes in (the policies add up; no rule at all admits nothing). A
 * rule admits the other clusters when it has no `from`, or a peer that reaches them: an ipBlock
 * covering their pod CIDRs (not with Cilium, which matches the pods of its mesh by identity), or,
 * with Cilium, a label peer that selects across the mesh. Only ingress is judged.
 */
export function networkPolicyCheck(f: NetworkPolicyFacts): Check {
  const where = `namespace ${f.namespace}, context ${f.context}`;
  if ('notServed' in f.policies) return {check: 'network policies', status: 'ok', detail: 'NetworkPolicies (networking.k8s.io/v1) are not served here: none can drop Ray traffic'};
  if ('unreadable' in f.policies) {
    const forbidden = f.policies.unreadable === 'forbidden';
    return {
      check: 'network policies',
      status: 'warn',
      detail: `cannot list the NetworkPolicies of ${where} (${f.policies.unreadable}), so whether one drops Ray traffic between clusters is unknown`,
      ...(forbidden ? {fix: `grant this user list on networkpolicies (networking.k8s.io) in namespace ${f.namespace}`} : {}),
    };
  }
  const policies = f.policies;
  if (policies.length === 0) return {check: 'network policies', status: 'ok', detail: `no NetworkPolicy in namespace ${f.namespace}`};
  if (f.others.length === 0) return {check: 'network policies', status: 'ok', detail: `${policies.length} in namespace ${f.namespace}, and no other cluster in the fleet to reach`};
  const rayLabels = [...KUBERAY_POD_LABELS, ...(f.rayPods ?? [])];
  const nameOf = (p: KubeObject) => `networkpolicy/${p.metadata?.name ?? ''}`;
  const specOf = (p: KubeObject) => (p.spec ?? {}) as NetworkPolicySpec;
  const isolatesIngress = (spec: NetworkPolicySpec) => (spec.policyTypes?.length ? spec.policyTypes.includes('Ingress') : true);
  // Per kind of Ray pod: the policies that isolate it, and the best any of their rules admits.
  const verdicts = rayLabels.map((labels) => {
    const isolating = policies.filter((p) => isolatesIngress(specOf(p)) && selectorMatches(specOf(p).podSelector, labels));
    let best: Admits & {policy?: string} = {level: 'no', how: 'no ingress rule: all ingress is denied'};
    for (const p of isolating) {
      for (const rule of specOf(p).ingress ?? []) {
        let admits: Admits = rule.from?.length ? rule.from.map((peer) => peerAdmits(peer, f, rayLabels)).reduce(better) : {level: 'all', how: 'a rule without from (every source)'};
        if (admits.level === 'all' && rule.ports?.length) admits = {level: 'ports', how: `${admits.how}, on ${rulePorts(rule.ports)} only`};
        if (best.policy === undefined || LEVELS.indexOf(admits.level) < LEVELS.indexOf(best.level)) best = {...admits, policy: nameOf(p)};
      }
    }
    return {isolating: isolating.map(nameOf), best};
  });
  const limited = verdicts.filter((v) => v.isolating.length > 0);
  const podsNote = f.rayPodsUnreadable ? `; the Ray pods here were not listed (${f.rayPodsUnreadable}), so only KubeRay's own labels were matched` : '';
  if (limited.length === 0) return {check: 'network policies', status: 'ok', detail: `${policies.length} in namespace ${f.namespace}, none limits ingress to the Ray pods${podsNote}`};
  const worst = limited.reduce((a, b) => (LEVELS.indexOf(b.best.level) > LEVELS.indexOf(a.best.level) ? b : a));
  const names = [...new Set(limited.flatMap((v) => v.isolating))];
  if (worst.best.level === 'all') {
    return {check: 'network policies', status: 'ok', detail: `ingress to the Ray pods is limited by ${names.join(', ')}, and admitted from the other clusters (${worst.best.policy}: ${worst.best.how})${podsNote}`};
  }
  const isolating = worst.isolating.join(', ');
  const sources = f.others.map((o) => (o.cidrs?.length ? `${o.context} has ${someOf(o.cidrs, 2)}` : undefined)).filter((s) => s !== undefined);
  const admitFix =
    f.mesh === 'cilium'
      ? f.ciliumLocalOnly
        ? `admit ingress to the Ray pods from the Ray pods of each other cluster (a from podSelector with ray.io/is-ray-node: "yes" and ${CILIUM_CLUSTER_LABEL}: <its cluster name>), or add a rule without from`
        : 'admit ingress to the Ray pods from the Ray pods (a from podSelector with ray.io/is-ray-node: "yes", which Cilium applies across the mesh), or add a rule without from'
      : `admit ingress to the Ray pods from the other clusters' pod CIDRs (an ipBlock covering each one's${sources.length > 0 ? `: ${sources.join('; ')}` : ''}), or add a rule without from`;
  switch (worst.best.level) {
    case 'ports':
      return {
        check: 'network policies',
        status: 'warn',
        detail: `${worst.best.policy} (${where}) admits the other clusters to the Ray pods only on some ports (${worst.best.how}): Ray's raylet, object manager and workers listen on more${podsNote}`,
        fix: "admit every port from the other clusters, or make sure the ports admitted are all Ray uses (ray start's --node-manager-port, --object-manager-port, --min-worker-port and --max-worker-port fix them)",
      };
    case 'unknown':
      return {
        check: 'network policies',
        status: 'warn',
        detail: `${isolating} (${where}) limit${worst.isolating.length === 1 ? 's' : ''} ingress to the Ray pods to ${worst.best.how}: cannot tell whether the other clusters' pods come in${podsNote}`,
        fix: "make sure an ipBlock admits every other cluster's pod CIDR",
      };
    default:
      return {
        check: 'network policies',
        status: 'warn',
        detail: `${isolating} (${where}) select${worst.isolating.length === 1 ? 's' : ''} the Ray pods and admit${worst.isolating.length === 1 ? 's' : ''} no ingress from other clusters (${worst.best.how}): the head and the workers of a group spanned across clusters could not reach each other${podsNote}`,
        fix: admitFix,
      };
  }
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
  nodes?: {nodes?: PodCidrFacts['nodes']; unreadable?: string};
  policies?: NetworkPolicyFacts['policies'];
  rayPods?: {labels?: Labels[]; unreadable?: string};
  /** The Ray objects of the namespace here, when they could be listed. */
  groups?: KubeObject[];
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
  // One list per kind: what a list could not say is said as such, never taken to be empty.
  const listed = <T extends KubeObject>(type: ResourceType, options: {namespace?: string; labelSelector?: string}) =>
    client.list<T>(type, {...options, signal}).then(
      (l) => l.items.map((o) => ({...o, kind: type.kind})),
      (thrown: unknown) => normaliseError(thrown, {context: client.context}),
    );
  const rayLists = kubeRay ? [RESOURCES.rayclusters, RESOURCES.rayservices, RESOURCES.rayjobs].map((type) => listed(type, {namespace})) : [];
  const [cilium, coredns, ns, nodes, policies, ...rayGroups] = await Promise.all([
    read('cilium-config'),
    read('coredns'),
    client.find(RESOURCES.namespaces, namespace, undefined, signal).then(
      (found) => found !== undefined,
      () => undefined,
    ),
    listed<KubeObject & {spec?: {podCIDR?: string; podCIDRs?: string[]}}>(RESOURCES.nodes, {}),
    listed(RESOURCES.networkpolicies, {namespace}),
    ...rayLists,
  ]);
  const rayKinds = [RESOURCES.rayclusters, RESOURCES.rayservices, RESOURCES.rayjobs];
  const autoscaler = autoscalerCheck(rayGroups.flatMap((l) => (l instanceof KubeError ? [] : l)));
  const unlisted = rayGroups.flatMap((l, i) => (l instanceof KubeError ? [`${rayKinds[i]!.resource} (${why(l)})`] : []));
  if (unlisted.length > 0) {
    const rbac = 'bind the Role and ClusterRole in deploy/rbac/ to this user';
    checks.push({
      check: 'ray autoscaler',
      status: 'warn',
      detail: `${autoscaler ? `${autoscaler.detail}; ` : ''}cannot list the ${unlisted.join(', ')} of namespace ${namespace}, so which autoscaler those get is unknown`,
      fix: autoscaler?.fix ? `${autoscaler.fix}; ${rbac}` : rbac,
    });
  } else if (autoscaler) {
    checks.push(autoscaler);
  }
  // The Ray pods' own labels matter only to a policy's selectors: listed only when there is one.
  const rayPods = Array.isArray(policies) && policies.length > 0 ? await listed<KubeObject>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/is-ray-node=yes'}) : [];
  return {
    result,
    kubeRay,
    cilium: cilium.object?.data ?? (cilium.object ? {} : undefined),
    ciliumForbidden: cilium.forbidden,
    domain: clusterDomainOf(coredns.object?.data?.Corefile),
    domainForbidden: coredns.forbidden,
    hasNamespace: ns,
    nodes: nodes instanceof KubeError ? {unreadable: why(nodes)} : {nodes: nodes.map((n) => ({name: n.metadata?.name ?? '', cidrs: n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])}))},
    policies: policies instanceof KubeError ? (policies.code === 404 ? {notServed: true} : {unreadable: why(policies)}) : policies,
    rayPods: rayPods instanceof KubeError ? {unreadable: why(rayPods)} : {labels: rayPods.map((p) => p.metadata?.labels ?? {})},
    groups: rayGroups.flatMap((l) => (l instanceof KubeError ? [] : l)),
  };
}

/**
 * The span preflight (preflight.ts), as doctor's `remote workers` check of each cluster: whether it
 * could run the remote workers of each Ray group of the namespace that lives in another cluster of
 * the fleet, built from the group's templates. Reads only: no dry-run create.
 */
async function remoteWorkerChecks(fleet: Fleet, reached: ClusterLook[], options: {namespace: string; copySecrets: boolean; mesh?: GroupPolicy['mesh']; signal?: AbortSignal}): Promise<Map<string, Check>> {
  const problems = new Map<string, string[]>();
  const fine = new Map<string, string[]>();
  const add = (into: Map<string, string[]>, context: string, line: string) => into.set(context, [...(into.get(context) ?? []), line]);
  const checked: Array<Promise<void>> = [];
  for (const home of reached) {
    const homeId = home.result.clusterId;
    if (!homeId) continue;
    const targets = reached.filter((t) => t.result.clusterId && t.result.clusterId !== homeId).map((t) => ({client: fleet.cluster(t.result.context), id: t.result.clusterId!}));
    const owners = new Set((home.groups ?? []).filter((g) => g.kind !== 'RayCluster').map((g) => g.metadata?.uid));
    for (const object of home.groups ?? []) {
      // A RayService's or RayJob's RayCluster is checked as its owner.
      if (object.kind === 'RayCluster' && object.metadata?.ownerReferences?.some((r) => r.controller && owners.has(r.uid))) continue;
      const name = object.metadata?.name ?? '';
      const what = `${object.kind?.toLowerCase()}/${name} (home ${home.result.context})`;
      const clusterSpec = clusterSpecOf(object.kind, object.spec);
      const subject: PreflightSubject = {
        namespace: options.namespace,
        rayCluster: name,
        ...(object.kind === 'RayCluster' ? {headService: headServiceName('RayCluster', name, clusterSpec)} : {}),
        mesh: policyOf(object)?.mesh ?? options.mesh ?? 'cilium',
        homeClusterId: homeId,
        claims: fleet.claims,
      };
      const ctx = {group: name, homeClusterId: homeId, remoteClusterId: '', rayCluster: {name, uid: object.metadata?.uid ?? ''}, claims: fleet.claims};
      const groups = new Map(
        ((clusterSpec as {workerGroupSpecs?: Array<{groupName?: string}>} | undefined)?.workerGroupSpecs ?? []).flatMap((g) => {
          const template = workerGroupTemplate(clusterSpec, g.groupName ?? '');
          return template ? [[g.groupName ?? '', templateWorker(subject, template, ctx)] as const] : [];
        }),
      );
      if (groups.size === 0) continue;
      checked.push(
        preflightTargets(subject, groups, targets, {copySecrets: options.copySecrets, signal: options.signal, dryRunCreate: false}).then((checks) => {
          for (const t of targets) {
            const refusals = refusalsFor(checks.get(t.id), [...groups.keys()]);
            if (refusals.length > 0) add(problems, t.client.context, `${what}: ${refusals.join('; ')}`);
            else add(fine, t.client.context, what);
          }
        }),
      );
    }
  }
  await Promise.all(checked);
  const out = new Map<string, Check>();
  for (const look of reached) {
    const context = look.result.context;
    const bad = problems.get(context)?.sort();
    const good = fine.get(context)?.sort();
    out.set(
      context,
      bad
        ? {check: 'remote workers', status: 'warn', detail: `could not run the remote workers of ${bad.join(' | ')}`, fix: 'make what is named ready here for those workers, or keep them out of this cluster; span skips it until then'}
        : {check: 'remote workers', status: 'ok', detail: good ? `could run the remote workers of ${good.join(', ')}` : `no Ray group of namespace ${options.namespace} in another cluster to check`},
    );
  }
  return out;
}

/** A read's failure in a few words: "forbidden", or the server's (or the transport's). */
function why(err: KubeError): string {
  return err.code === 403 ? 'forbidden' : err.detail;
}

/**
 * Preflight per context: reachable, credentials, every verb the tool uses (SelfSubjectAccessReview),
 * the KubeRay CRDs, the Ray version and autoscaler of each autoscaled Ray group, Cilium Cluster
 * Mesh, one cluster domain, pod CIDRs apart, NetworkPolicies that would drop Ray traffic between
 * clusters, no cluster reached through two contexts, and whether each cluster could run the remote
 * workers of the namespace's groups. It only reads (access reviews write nothing), with one look per
 * cluster (one list per kind), and the remote-workers check's gets per group and cluster, in parallel.
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
  const domains = clusterDomainChecks(reached.map((l) => ({context: l.result.context, domain: l.domain, forbidden: l.domainForbidden})));
  // Every context, reached or not: one whose nodes were not read is unknown, never without pods.
  const cidrFacts: PodCidrFacts[] = looks.map((l) => ({context: l.result.context, clusterId: l.result.clusterId, nodes: l.nodes?.nodes, unreadable: l.nodes?.unreadable ?? 'not reached'}));
  const podCidrs = podCidrChecks(cidrFacts);
  // One cluster without KubeRay is a place for remote workers; a fleet without any has no home.
  const homeless = reached.length > 0 && reached.every((l) => l.kubeRay === false);
  const remoteWorkers = await remoteWorkerChecks(fleet, reached, options);
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
    checks.push(domains.get(l.result.context)!);
    checks.push(podCidrs.get(l.result.context)!);
    const others = cidrFacts.filter((o) => o.context !== l.result.context && !(l.result.clusterId && o.clusterId === l.result.clusterId));
    checks.push(
      networkPolicyCheck({
        context: l.result.context,
        namespace: options.namespace,
        mesh: options.mesh ?? 'cilium',
        policies: l.policies ?? {unreadable: 'not read'},
        rayPods: l.rayPods?.labels,
        rayPodsUnreadable: l.rayPods?.unreadable,
        others: others.map((o) => ({context: o.context, cidrs: podCidrsOf(o)})),
        ciliumLocalOnly: l.cilium?.['policy-default-local-cluster'] === 'true',
      }),
    );
    checks.push(remoteWorkers.get(l.result.context)!);
  }
  return {namespace: options.namespace, clusters: looks.map((l) => l.result)};
}
