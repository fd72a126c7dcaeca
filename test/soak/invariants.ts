/**
 * The chaos soak's independent checker: the invariants a fleet must keep whatever the tool, the
 * faults and the other writers do, judged look by look from what kubectl reads of each cluster. It
 * shares no code with the tool: the labels and annotations below are the documented contract
 * (docs/span-mechanism.md), written out again here, so that a bug in the tool's own reading of them
 * cannot hide itself.
 *
 * Pure: `Checker.look` takes one look at the fleet and what the soak did on purpose, and returns the
 * violations that look makes certain.
 */

export interface KubeItem {
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec?: Record<string, unknown> & {nodeName?: string};
  status?: {phase?: string} & Record<string, unknown>;
}

/** One cluster as kubectl read it: its pods and RayClusters in the soak's namespaces, or that it did not answer. */
export interface ClusterLook {
  context: string;
  /** The kube-system Namespace UID: what the tool's labels name a cluster by. */
  id: string;
  answered: boolean;
  pods: KubeItem[];
  rayClusters: KubeItem[];
}

export interface FleetLook {
  at: number;
  clusters: ClusterLook[];
}

/** What the soak did on purpose, which may end running workers. */
export type Deliberate =
  | {at: number; kind: 'shrink'; namespace: string; rayCluster: string}
  | {at: number; kind: 'drain'; context: string; node: string}
  | {at: number; kind: 'delete-head'; namespace: string; rayCluster: string}
  | {at: number; kind: 'delete-group'; namespace: string; rayCluster: string};

/** What is broken on purpose right now: faults at the API, and clusters cut off from the tool. */
export interface Faults {
  active: boolean;
  /** Contexts the tool cannot reach now (a partition is a fault: `active` too). */
  partitioned: string[];
  /** When the faults last stopped; undefined while they go on, or before any. */
  stoppedAt?: number;
}

export interface Violation {
  /** 'two-writers' is judged from the audit logs, by writers.ts. */
  invariant: 'kuberay-count' | 'remote-without-home' | 'running-worker-deleted' | 'duplicate' | 'deleted-under-partition' | 'two-writers';
  /** When the checker became certain. */
  at: number;
  /** Since when it has been so. */
  since: number;
  what: string;
}

export interface CheckerOptions {
  /** How long KubeRay may take to bring its count back to replicas after a change. */
  settleMs: number;
  /** How long a remote worker may be without its home pod once faults stop: one pass of the tool. */
  passMs: number;
}

const ROLE = 'superskyray.io/role';
const HOME_CLUSTER = 'superskyray.io/home-cluster';
const REMOTE_CLUSTER = 'superskyray.io/remote-cluster';
const REPLACES = 'superskyray.io/replaces';
const RAY_CLUSTER = 'ray.io/cluster';
const RAY_GROUP = 'ray.io/group';
const NODE_TYPE = 'ray.io/node-type';

const nameOf = (o: KubeItem) => o.metadata?.name ?? '';
const nsOf = (o: KubeItem) => o.metadata?.namespace ?? '';
const role = (o: KubeItem) => o.metadata?.labels?.[ROLE];
const terminating = (o: KubeItem) => o.metadata?.deletionTimestamp !== undefined;

interface WorkerGroupSpec {
  groupName?: string;
  replicas?: number;
  minReplicas?: number;
  maxReplicas?: number;
  scaleStrategy?: {workersToDelete?: string[]};
}

/** What KubeRay runs for a worker group: replicas held within min and max. */
function desired(g: WorkerGroupSpec): number {
  const replicas = g.replicas ?? 0;
  return Math.max(g.minReplicas ?? 0, Math.min(replicas, g.maxReplicas ?? Number.MAX_SAFE_INTEGER));
}

/** A running worker as last seen, to tell a deliberate end from one nobody asked for. */
interface SeenWorker {
  context: string;
  namespace: string;
  rayCluster: string;
  node?: string;
  name: string;
  /** For a placeholder: the context its remote worker runs in. */
  twinIn?: string;
  /** For a remote worker: where its placeholder was last seen, a home context and node. */
  homeContext?: string;
  homeNode?: string;
  /** For a remote worker: since when its placeholder has been gone, while it has been. */
  placeholderLostAt?: number;
  lastSeen: number;
}

export class Checker {
  private readonly mismatchSince = new Map<string, number>();
  private readonly orphanSince = new Map<string, number>();
  private readonly running = new Map<string, SeenWorker>();
  private readonly reported = new Set<string>();
  /** Per worker group: its desired replicas and workersToDelete as last seen. */
  private readonly replicasSeen = new Map<string, string>();
  private readonly shrunk: Deliberate[] = [];

  constructor(private readonly options: CheckerOptions) {}

  /** Judges one look. `did` is everything the soak did on purpose up to now, in order. */
  look(fleet: FleetLook, did: Deliberate[], faults: Faults): Violation[] {
    const out: Violation[] = [];
    const report = (key: string, v: Violation) => {
      // Each violation is said once, when it becomes certain.
      if (this.reported.has(key)) return;
      this.reported.add(key);
      out.push(v);
    };
    const byId = new Map(fleet.clusters.map((c) => [c.id, c]));
    this.noteShrinks(fleet);
    this.countKubeRay(fleet, report);
    this.remotesHaveHomes(fleet, byId, faults, report);
    this.noDuplicates(fleet, report);
    this.runningStays(fleet, byId, [...did, ...this.shrunk], faults, report);
    return out;
  }

  /** Replicas that went down, or a worker named to delete, is a shrink too: the Ray autoscaler's, or a user's. */
  private noteShrinks(fleet: FleetLook): void {
    for (const c of fleet.clusters) {
      if (!c.answered) continue;
      for (const rc of c.rayClusters) {
        for (const g of (rc.spec?.workerGroupSpecs as WorkerGroupSpec[] | undefined) ?? []) {
          const key = `${c.context}/${nsOf(rc)}/${nameOf(rc)}/${g.groupName}`;
          const was = this.replicasSeen.get(key);
          const doomed = (g.scaleStrategy?.workersToDelete ?? []).join(',');
          const now = `${desired(g)} ${doomed}`;
          if (was !== undefined && (desired(g) < Number(was.split(' ')[0]) || (doomed !== '' && doomed !== was.split(' ')[1]))) {
            this.shrunk.push({at: fleet.at, kind: 'shrink', namespace: nsOf(rc), rayCluster: nameOf(rc)});
          }
          this.replicasSeen.set(key, now);
        }
      }
    }
  }

  /** KubeRay counts, per worker group, the worker pods that are not on their way out: as many as replicas, once it has had time. */
  private countKubeRay(fleet: FleetLook, report: (key: string, v: Violation) => void): void {
    const live = new Set<string>();
    for (const c of fleet.clusters) {
      if (!c.answered) continue;
      for (const rc of c.rayClusters) {
        if (terminating(rc)) continue;
        for (const g of (rc.spec?.workerGroupSpecs as WorkerGroupSpec[] | undefined) ?? []) {
          const doomed = new Set(g.scaleStrategy?.workersToDelete ?? []);
          const counted = c.pods.filter(
            (p) =>
              nsOf(p) === nsOf(rc) &&
              p.metadata?.labels?.[RAY_CLUSTER] === nameOf(rc) &&
              p.metadata?.labels?.[RAY_GROUP] === g.groupName &&
              p.metadata?.labels?.[NODE_TYPE] === 'worker' &&
              !terminating(p) &&
              !doomed.has(nameOf(p)),
          ).length;
          const key = `${c.context}/${nsOf(rc)}/${nameOf(rc)}/${g.groupName}`;
          live.add(key);
          if (counted === desired(g)) {
            this.mismatchSince.delete(key);
            continue;
          }
          const since = this.mismatchSince.get(key) ?? fleet.at;
          this.mismatchSince.set(key, since);
          if (fleet.at - since > this.options.settleMs) {
            report(`count ${key} ${since}`, {invariant: 'kuberay-count', at: fleet.at, since, what: `${c.context}: raycluster ${nsOf(rc)}/${nameOf(rc)} group ${g.groupName} has ${counted} worker pod(s) for ${desired(g)} replicas`});
          }
        }
      }
    }
    for (const key of this.mismatchSince.keys()) if (!live.has(key)) this.mismatchSince.delete(key);
  }

  /** Every remote worker has its placeholder at home, once the faults have stopped for a pass. */
  private remotesHaveHomes(fleet: FleetLook, byId: Map<string, ClusterLook>, faults: Faults, report: (key: string, v: Violation) => void): void {
    const seen = new Set<string>();
    for (const c of fleet.clusters) {
      if (!c.answered) continue;
      for (const w of c.pods) {
        if (role(w) !== 'remote-worker' || terminating(w)) continue;
        const home = byId.get(w.metadata?.labels?.[HOME_CLUSTER] ?? '');
        if (!home?.answered) continue;
        const key = `${c.context}/${nsOf(w)}/${nameOf(w)}`;
        const twin = home.pods.find((p) => nsOf(p) === nsOf(w) && nameOf(p) === nameOf(w) && role(p) === 'placeholder');
        if (twin) continue;
        seen.add(key);
        const since = this.orphanSince.get(key) ?? fleet.at;
        this.orphanSince.set(key, since);
        // While faults go on the tool may be unable to mend it; from when they stop, it has one pass.
        const calmFrom = faults.active ? undefined : Math.max(since, faults.stoppedAt ?? since);
        if (calmFrom !== undefined && fleet.at - calmFrom > this.options.passMs) {
          report(`orphan ${key} ${since}`, {invariant: 'remote-without-home', at: fleet.at, since, what: `${c.context}: remote worker ${nsOf(w)}/${nameOf(w)} has no placeholder in ${home.context}`});
        }
      }
    }
    for (const key of this.orphanSince.keys()) if (!seen.has(key)) this.orphanSince.delete(key);
  }

  /** One remote worker per placeholder, and one placeholder per Pending worker it replaced. */
  private noDuplicates(fleet: FleetLook, report: (key: string, v: Violation) => void): void {
    const remotes = new Map<string, string[]>();
    const replacing = new Map<string, string[]>();
    for (const c of fleet.clusters) {
      if (!c.answered) continue;
      for (const p of c.pods) {
        if (terminating(p)) continue;
        if (role(p) === 'remote-worker') {
          const key = `${p.metadata?.labels?.[HOME_CLUSTER]}/${nsOf(p)}/${nameOf(p)}`;
          remotes.set(key, [...(remotes.get(key) ?? []), c.context]);
        }
        const replaced = p.metadata?.annotations?.[REPLACES];
        if (role(p) === 'placeholder' && replaced) {
          const key = `${c.context}/${nsOf(p)}/${replaced}`;
          replacing.set(key, [...(replacing.get(key) ?? []), nameOf(p)]);
        }
      }
    }
    for (const [key, where] of remotes) {
      if (where.length > 1) report(`dup remote ${key}`, {invariant: 'duplicate', at: fleet.at, since: fleet.at, what: `remote worker ${key.split('/').slice(1).join('/')} runs in ${where.join(' and ')}`});
    }
    for (const [key, names] of replacing) {
      if (names.length > 1) report(`dup placeholder ${key}`, {invariant: 'duplicate', at: fleet.at, since: fleet.at, what: `${key.split('/')[0]}: placeholders ${names.join(' and ')} both replace ${key.split('/').slice(1).join('/')}`});
    }
  }

  /**
   * A worker seen Running ends only on purpose: its group shrunk, its node drained, its head or group
   * deleted. And nothing of a cluster cut off from the tool ends because it is cut off: not its
   * remote workers, nor the placeholders at home that stand for them.
   */
  private runningStays(fleet: FleetLook, byId: Map<string, ClusterLook>, did: Deliberate[], faults: Faults, report: (key: string, v: Violation) => void): void {
    const now = new Map<string, KubeItem>();
    for (const c of fleet.clusters) {
      if (!c.answered) continue;
      for (const p of c.pods) {
        const worker = p.metadata?.labels?.[NODE_TYPE] === 'worker';
        if (!worker) continue;
        const key = `${c.context}/${nsOf(p)}/${nameOf(p)}/${p.metadata?.uid}`;
        if (!terminating(p)) now.set(key, p);
        if (terminating(p) || p.status?.phase !== 'Running') continue;
        const twinIn = role(p) === 'placeholder' ? byId.get(p.metadata?.annotations?.[REMOTE_CLUSTER] ?? '')?.context : undefined;
        const seen: SeenWorker = {context: c.context, namespace: nsOf(p), rayCluster: p.metadata?.labels?.[RAY_CLUSTER] ?? '', node: p.spec?.nodeName, name: nameOf(p), lastSeen: fleet.at, ...(twinIn ? {twinIn} : {})};
        if (role(p) === 'remote-worker') {
          // What happened to its placeholder decides whether its end was asked for: a drain, or a
          // shrink, that took the placeholder may end it much later (the tool keeps it while it
          // can take over a replacement, and cannot delete it while its cluster is cut off).
          const was = this.running.get(key);
          const home = byId.get(p.metadata?.labels?.[HOME_CLUSTER] ?? '');
          const twin = home?.answered ? home.pods.find((h) => nsOf(h) === nsOf(p) && nameOf(h) === nameOf(p) && role(h) === 'placeholder' && !terminating(h)) : undefined;
          Object.assign(seen, {homeContext: home?.context ?? was?.homeContext, homeNode: twin?.spec?.nodeName ?? was?.homeNode});
          const lostAt = !home?.answered ? was?.placeholderLostAt : twin ? undefined : (was?.placeholderLostAt ?? fleet.at);
          if (lostAt !== undefined) seen.placeholderLostAt = lostAt;
        }
        this.running.set(key, seen);
      }
    }
    for (const [key, w] of this.running) {
      const cluster = fleet.clusters.find((c) => c.context === w.context);
      // Not seen because its cluster did not answer this look: nothing is known of it.
      if (!cluster?.answered || now.has(key)) continue;
      this.running.delete(key);
      const ofGroup = (d: Deliberate) => (d.kind === 'shrink' || d.kind === 'delete-head' || d.kind === 'delete-group') && d.namespace === w.namespace && d.rayCluster === w.rayCluster;
      const settle = this.options.settleMs;
      // Something deliberate shortly before it ended; or, for a remote worker, shortly before its
      // placeholder went (a drain of the placeholder's node, a shrink), however long ago. A
      // placeholder seen until the last look, and gone with its remote worker by this one, went by
      // this look at the latest.
      const home = w.homeContext === undefined ? undefined : fleet.clusters.find((c) => c.context === w.homeContext);
      const placeholderGone = home?.answered === true && !home.pods.some((h) => nsOf(h) === w.namespace && nameOf(h) === w.name && role(h) === 'placeholder' && !terminating(h));
      const lostAt = w.placeholderLostAt ?? (placeholderGone ? fleet.at : undefined);
      const onPurpose = did.some(
        (d) =>
          (d.at >= w.lastSeen - settle && (ofGroup(d) || (d.kind === 'drain' && d.context === w.context && d.node === w.node))) ||
          (lostAt !== undefined && d.at >= lostAt - settle && d.at <= lostAt && (ofGroup(d) || (d.kind === 'drain' && d.context === w.homeContext && d.node === w.homeNode))),
      );
      const cutOff = faults.partitioned.includes(w.context) || (w.twinIn !== undefined && faults.partitioned.includes(w.twinIn));
      // A placeholder is no Ray worker: it may go when its remote worker is gone (a swap cut short
      // leaves one without). One that goes while its remote worker lives is a remote worker without
      // its home, which that invariant says; only a partition makes its end wrong in itself.
      const placeholder = w.twinIn !== undefined;
      if (cutOff && !onPurpose) {
        report(`partition ${key}`, {invariant: 'deleted-under-partition', at: fleet.at, since: w.lastSeen, what: `${w.context}: ${w.namespace}/${w.name} ended while ${faults.partitioned.join(', ')} was cut off from the tool`});
      } else if (!onPurpose && !placeholder) {
        report(`lost ${key}`, {invariant: 'running-worker-deleted', at: fleet.at, since: w.lastSeen, what: `${w.context}: running worker ${w.namespace}/${w.name} of ${w.rayCluster} ended, and nothing deliberate asked for it`});
      }
    }
  }
}
