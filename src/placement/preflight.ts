/**
 * Whether a cluster of the fleet may run a group's remote workers at all, before any of them is
 * made there: what its admission would refuse, and what would leave them Pending forever. Plain
 * functions over what was read of the target; the reads are the reconciler's.
 */
import type {PodSpec} from '../kube/types.js';
import {podLimits, podRequests} from './capacity.js';
import {addInto, parseResources, type ResourceAmounts} from './quantity.js';

/** A ResourceQuota of the target namespace, as read. */
export interface Quota {
  name: string;
  hard: Record<string, string>;
  used: Record<string, string>;
  /** A quota with scopes holds only some pods; the dry-run create is what checks those. */
  scoped: boolean;
}

/** What was read of one target cluster for a group's remote workers. */
export interface TargetFacts {
  /** The context, for messages. */
  context: string;
  namespace: string;
  /** Whether the namespace is there (the tool makes it when it is not, with home's Pod Security labels). */
  namespaceExists: boolean;
  /** PriorityClasses and RuntimeClasses the remote workers name, and whether each is there. */
  priorityClasses: Record<string, boolean>;
  runtimeClasses: Record<string, boolean>;
  quotas: Quota[];
  /** The claims --claim named for remote workers, and whether each is there. */
  claims: Record<string, boolean>;
  /** Objects in the way, each said in a line: a Service or RayCluster of the names the copies need that the tool did not make. */
  inTheWay: string[];
  /** What the workers need there that is missing and will not be copied, each said in a line. */
  missing: string[];
  /** The server's refusal of a dry-run create of a remote worker there (every admission plugin and webhook), if it refused. */
  dryRunRefusal?: string;
}

/** The claims of the PersistentVolumeClaim volumes of a pod: their data is in the home cluster. */
export function claimsOf(spec: PodSpec): string[] {
  const volumes = (spec.volumes as Array<{persistentVolumeClaim?: {claimName?: string}}> | undefined) ?? [];
  return volumes.flatMap((v) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : []));
}

/**
 * Why `facts.context` may not run remote workers of these specs (one per worker group that moves),
 * each reason a line; none when it may. Room on its nodes is the fit's business, and room in its
 * quota for more than one worker is QuotaRoom's.
 */
export function targetRefusals(specs: PodSpec[], facts: TargetFacts): string[] {
  const out: string[] = [];
  const where = `in ${facts.context}`;
  const claims = [...new Set(specs.flatMap(claimsOf))];
  const unnamed = claims.filter((c) => !(c in facts.claims));
  if (unnamed.length > 0) {
    out.push(`the workers mount PersistentVolumeClaim(s) ${unnamed.join(', ')}, whose data is in the home cluster; a claim of that name ${where} would be other data (name one there with the same data: --claim HOME=REMOTE)`);
  }
  for (const c of claims.filter((c) => facts.claims[c] === false)) out.push(`PersistentVolumeClaim ${c}, which --claim names for the workers, is not there ${where}`);
  for (const [name, exists] of Object.entries(facts.priorityClasses)) {
    if (!exists) out.push(`PriorityClass ${name} is not there ${where}, and its admission refuses a pod that names it`);
  }
  for (const [name, exists] of Object.entries(facts.runtimeClasses)) {
    if (!exists) out.push(`RuntimeClass ${name} is not there ${where}, and its admission refuses a pod that names it`);
  }
  out.push(...facts.inTheWay, ...facts.missing);
  for (const spec of specs) {
    const over = new QuotaRoom(facts.quotas).check(spec);
    if (over) out.push(`${over} ${where}`);
  }
  if (facts.dryRunRefusal) out.push(`a dry-run create of a remote worker is refused ${where}: ${facts.dryRunRefusal}`);
  return [...new Set(out)];
}

/** What a quota's hard key counts, as a key of usage(); bare cpu, memory and ephemeral-storage are requests. Undefined: not pods'. */
function counted(key: string): string | undefined {
  if (key === 'pods' || key === 'count/pods' || key.startsWith('requests.') || key.startsWith('limits.')) return key;
  return ['cpu', 'memory', 'ephemeral-storage'].includes(key) ? `requests.${key}` : undefined;
}

/** What a pod adds to each resource a quota counts. */
function usage(spec: PodSpec): ResourceAmounts {
  const out: ResourceAmounts = {pods: 1, 'count/pods': 1};
  for (const [name, value] of Object.entries(podRequests(spec))) out[`requests.${name}`] = value;
  for (const [name, value] of Object.entries(podLimits(spec))) out[`limits.${name}`] = value;
  return out;
}

/**
 * The room the unscoped ResourceQuotas of a target namespace leave, taken worker by worker, as the
 * quota admission counts a pod: its requests (cpu, memory, extended resources), its limits, and
 * one pod. A namespace the tool is yet to make has no quota.
 */
export class QuotaRoom {
  private readonly taken: ResourceAmounts = {};

  constructor(private readonly quotas: Quota[]) {}

  /** Why `count` more workers of this spec do not fit a quota, or undefined when they do; takes nothing. */
  check(spec: PodSpec, count = 1): string | undefined {
    const adds = usage(spec);
    for (const quota of this.quotas.filter((q) => !q.scoped)) {
      for (const [key, hardText] of Object.entries(quota.hard)) {
        const resource = counted(key);
        const add = resource ? (adds[resource] ?? 0) * count : 0;
        if (!resource || add === 0) continue;
        const unit = resource.replace(/^(requests|limits)\./, '');
        const parse = (text: string) => parseResources({[unit]: text})[unit]!;
        const used = parse(quota.used[key] ?? '0') + (this.taken[resource] ?? 0);
        if (used + add > parse(hardText)) {
          return `ResourceQuota ${quota.name} has no room for ${count === 1 ? 'another worker' : `${count} more workers`}: ${key} would be ${show(unit, used + add)} of ${hardText} (${show(unit, used)} used)`;
        }
      }
    }
    return undefined;
  }

  /** Takes the room of `count` workers of this spec; or, when a quota has none for them, says which and takes nothing. */
  take(spec: PodSpec, count = 1): string | undefined {
    const over = this.check(spec, count);
    if (over) return over;
    for (let i = 0; i < count; i++) addInto(this.taken, usage(spec));
    return undefined;
  }
}

function show(unit: string, amount: number): string {
  if (unit === 'cpu') return `${amount}m`;
  if (unit === 'memory' || unit === 'ephemeral-storage' || unit.startsWith('hugepages-')) {
    for (const [suffix, size] of [['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) if (amount % size === 0) return `${amount / size}${suffix}`;
  }
  return String(amount);
}
