/**
 * Whether a cluster of the fleet may run a group's remote workers at all, before any of them is
 * made there: what its admission would refuse, and what would leave them Pending forever. Plain
 * functions over what was read of the target; the reads are the reconciler's.
 */
import type {PodSpec} from '../kube/types.js';
import {podReferences} from '../kuberay/swap.js';
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
  /** The PriorityClasses, RuntimeClasses, claims (--claim's) and Secrets the remote workers name, and whether each is there. */
  priorityClasses: Record<string, boolean>;
  runtimeClasses: Record<string, boolean>;
  claims: Record<string, boolean>;
  secrets: Record<string, boolean>;
  /** --copy-secrets: a Secret that is not there is copied, not missing. */
  copySecrets: boolean;
  quotas: Quota[];
  /** Objects in the way, each said in a line: a Service or RayCluster of the names the copies need that the tool did not make. */
  inTheWay: string[];
  /** What could not be read there, and why, each said in a line: nothing is taken to be absent. */
  unreadable: string[];
}

/** The claims of the PersistentVolumeClaim volumes of a pod: their data is in the home cluster. */
export function claimsOf(spec: PodSpec): string[] {
  const volumes = (spec.volumes as Array<{persistentVolumeClaim?: {claimName?: string}}> | undefined) ?? [];
  return volumes.flatMap((v) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : []));
}

/**
 * Why `facts.context` may not run remote workers of this spec (a worker group's), each reason a
 * line; none when it may. Room on its nodes is the fit's business, and room in its quota the
 * QuotaRoom's: only a quota that could never hold one worker refuses. `dryRunRefusal`: what the
 * server said to a dry-run create of one.
 */
export function workerRefusals(spec: PodSpec, facts: TargetFacts, dryRunRefusal?: string): string[] {
  const out: string[] = [...facts.unreadable, ...facts.inTheWay];
  const where = `in ${facts.context}`;
  const claims = [...new Set(claimsOf(spec))];
  const unnamed = claims.filter((c) => !(c in facts.claims));
  if (unnamed.length > 0) {
    out.push(`the workers mount PersistentVolumeClaim(s) ${unnamed.join(', ')}, whose data is in the home cluster; a claim of that name ${where} would be other data (name one there with the same data: --claim HOME=REMOTE)`);
  }
  for (const c of claims.filter((c) => facts.claims[c] === false)) out.push(`PersistentVolumeClaim ${c}, which --claim names for the workers, is not there ${where}`);
  const named = (field: string, known: Record<string, boolean>, kind: string) => {
    const name = spec[field];
    if (typeof name === 'string' && known[name] === false) out.push(`${kind} ${name} is not there ${where}, and its admission refuses a pod that names it`);
  };
  named('priorityClassName', facts.priorityClasses, 'PriorityClass');
  named('runtimeClassName', facts.runtimeClasses, 'RuntimeClass');
  const absent = podReferences(spec).secrets.filter((n) => facts.secrets[n] === false);
  if (absent.length > 0 && !facts.copySecrets) out.push(`Secret(s) ${absent.join(', ')} that the workers need are not there ${where}; create them there, or pass --copy-secrets`);
  const never = new QuotaRoom(facts.quotas).never(spec);
  if (never) out.push(`${never} ${where}`);
  if (dryRunRefusal) out.push(`a dry-run create of a remote worker is refused ${where}: ${dryRunRefusal}`);
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
    const over = this.over(spec, count, true);
    if (!over) return undefined;
    return `ResourceQuota ${over.quota} has no room for ${count === 1 ? 'another worker' : `${count} more workers`}: ${over.key} would be ${show(over.unit, over.after)} of ${over.hard} (${show(over.unit, over.used)} used)`;
  }

  /** Why not even one worker of this spec would fit a quota, empty as it may become; undefined when one would. */
  never(spec: PodSpec): string | undefined {
    const over = this.over(spec, 1, false);
    return over && `ResourceQuota ${over.quota} could never hold one worker: it asks ${over.key} ${show(over.unit, over.after)}, and the quota holds ${over.hard}`;
  }

  private over(spec: PodSpec, count: number, withUsed: boolean): {quota: string; key: string; unit: string; hard: string; used: number; after: number} | undefined {
    const adds = usage(spec);
    for (const quota of this.quotas.filter((q) => !q.scoped)) {
      for (const [key, hardText] of Object.entries(quota.hard)) {
        const resource = counted(key);
        const add = resource ? (adds[resource] ?? 0) * count : 0;
        if (!resource || add === 0) continue;
        const unit = resource.replace(/^(requests|limits)\./, '');
        const parse = (text: string) => parseResources({[unit]: text})[unit]!;
        const used = withUsed ? parse(quota.used[key] ?? '0') + (this.taken[resource] ?? 0) : 0;
        if (used + add > parse(hardText)) return {quota: quota.name, key, unit, hard: hardText, used, after: used + add};
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
