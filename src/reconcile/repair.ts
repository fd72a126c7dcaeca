/**
 * The invariants of the span (docs/span-mechanism.md), as a pure plan: given what was observed of one
 * group, the repairs that bring it back to a consistent state, whatever step an earlier run was
 * interrupted at, and whatever removed a pod. The executor (act.ts) makes the calls, in this order.
 */
import type {KubeObject, Pod} from '../kube/types.js';
import {RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {
  endpointSliceAddress,
  exposedCopy,
  RAYCLUSTER_UID_LABEL,
  REMOTE_CLUSTER_ANNOTATION,
  SERVICE_NAME_LABEL,
  SOURCE_VERSION_ANNOTATION,
  remoteReadyOf,
  isInSwap,
  SWAP_FINALIZER,
  swapTargetOf,
  type SwapTarget,
} from '../kuberay/swap.js';
import {notJoining} from '../kuberay/joins.js';
import {isPodReady} from '../placement/capacity.js';

export interface RemoteView {
  /** The cluster id. */
  id: string;
  /** Whether the cluster answered in full. Absence in a cluster that did not answer means nothing. */
  observed: boolean;
  workers: Pod[];
  /** Remote workers of the group's other RayClusters, live or gone. */
  others: Pod[];
  copies: KubeObject[];
}

/** A RayCluster of the group that exists at home. */
export interface LiveRayCluster {
  uid: string;
  headService: string;
}

export interface GroupView {
  autoscaling: boolean;
  rayClusterUid: string;
  /** Every RayCluster of the group at home, this one included: what was made for any other is left over. */
  rayClusters: LiveRayCluster[];
  /** Worker groups in spec order: the pods KubeRay wants of each, and their workersToDelete. */
  workerGroups: Array<{name: string; replicas: number; workersToDelete: string[]}>;
  homePods: Pod[];
  remotes: RemoteView[];
  /** Clusters that get new remote workers in this pass, so their copies stay. */
  incoming?: string[];
  /** Mesh mode `endpoints`: the home head pod's IP, which every EndpointSlice copy must hold. */
  headEndpoint?: string;
  /** The home head Service's name, when the tool made it global (MADE_GLOBAL_ANNOTATION). */
  headMadeGlobal?: string;
  /** Whether home has the placeholders' PodDisruptionBudget; undefined when it could not be read. */
  placeholderBudget?: boolean;
  /** The objects at home the dependency copies were made from, as they are now. */
  copySources?: KubeObject[];
  /** --copy-secrets: a Secret copy follows its source only when this run was asked to copy Secrets. */
  copySecrets?: boolean;
  /** Binds one more placeholder: a home node with room for it, or undefined when none has. */
  bindPlaceholder: () => string | undefined;
  /** When the group was looked at (ms since the epoch), and how long a remote worker may take to start. */
  now: number;
  joinTimeoutMs: number;
}

/**
 * The writes of one swap, in order (docs/span-mechanism.md): lock (finalizer and target, then
 * Failed), wait for KubeRay to delete the Pending worker, create the placeholder, create the remote
 * worker, unlock. A swap resumed after an interruption does only the steps still due.
 */
export type SwapStep = 'lock' | 'fail' | 'await' | 'placeholder' | 'remote' | 'unlock';

/**
 * A pod whose absence a repair rests on: a remote worker in the cluster of that id, or a placeholder
 * at home. watch sees the fleet through caches, which may not hold yet what another process just
 * made; so the actor asks the API server before acting on the absence.
 */
export interface Absent {
  cluster?: string;
  name: string;
}

export type Repair =
  /** Continue (or, for an adoption, start) the swap of a Pending worker. */
  | {do: 'swap'; pod: Pod; target: SwapTarget; steps: SwapStep[]; node?: string; why: string; absent?: Absent}
  /** Back out of a swap, or finish one: the Pending worker may go, and carries no swap any more. */
  | {do: 'unlock'; pod: Pod; why: string}
  | {do: 'delete-remote'; cluster: string; pod: Pod; why: string; absent?: Absent}
  | {do: 'delete-placeholder'; pod: Pod; why: string; absent?: Absent}
  /**
   * A remote worker that did not join where it was sent: the cluster is recorded on the Ray object
   * for its worker group (first, so that no crash forgets it), then it and its placeholder go, and
   * KubeRay makes a Pending worker again, which is not sent there until the template changes.
   */
  | {do: 'give-up'; pod: Pod; cluster: string; remote: Pod; workerGroup: string; reason: string; why: string}
  /** The placeholder's readiness gate follows its remote worker's Ready. */
  | {do: 'set-ready'; pod: Pod; ready: boolean; why: string}
  | {do: 'delete-copy'; cluster: string; object: KubeObject; why: string}
  /** A head-Service copy that exposes the head beyond its cluster (made so by an older version) becomes a ClusterIP one. */
  | {do: 'close-copy'; cluster: string; object: KubeObject; why: string}
  /** A dependency copy follows its source at home (a rotated Secret, an edited ConfigMap). */
  | {do: 'update-copy'; cluster: string; object: KubeObject; source: KubeObject; why: string}
  /** Point an EndpointSlice copy at the head pod's current IP (the head restarted). */
  | {do: 'update-endpoints'; cluster: string; object: KubeObject; ip: string; why: string}
  /** Clear a worker group's workersToDelete once every pod it names is gone. */
  | {do: 'clear-workers-to-delete'; index: number; workerGroup: string; why: string}
  /** The group is back on one cluster: the home head Service the tool made global is local again. */
  | {do: 'make-head-local'; service: string; why: string}
  /** The placeholders' PodDisruptionBudget, made before the first placeholder and deleted after the last. */
  | {do: 'make-budget'; why: string}
  | {do: 'delete-budget'; why: string};

/**
 * Whether a copy is not a head-Service copy, or is one of a RayCluster that exists: by the UID it
 * records, or, made before copies recorded one, by its Service's name.
 */
export function headCopyIsLive(copy: KubeObject, rayClusters: LiveRayCluster[]): boolean {
  const labels = copy.metadata?.labels ?? {};
  if (labels[ROLE_LABEL] !== 'head-service-copy') return true;
  const uid = labels[RAYCLUSTER_UID_LABEL];
  if (uid) return rayClusters.some((rc) => rc.uid === uid);
  const service = copy.kind === 'EndpointSlice' ? labels[SERVICE_NAME_LABEL] : copy.metadata?.name;
  return rayClusters.some((rc) => rc.headService === service);
}

const name = (o: KubeObject) => o.metadata?.name ?? '';
const terminating = (o: KubeObject) => o.metadata?.deletionTimestamp !== undefined;
const bound = (p: Pod) => Boolean(p.spec?.nodeName);
const ended = (p: Pod) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';
const isPlaceholder = (p: Pod) => p.metadata?.labels?.[ROLE_LABEL] === 'placeholder';
const groupOf = (p: Pod) => p.metadata?.labels?.[RAY_GROUP_LABEL] ?? '';

/**
 * A Pending worker a remote worker without a placeholder can take over: KubeRay's own replacement
 * of the placeholder that went, not bound and not meant for a node at home.
 */
function adoptable(p: Pod, doomed: Set<string>): boolean {
  return (
    p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'worker' &&
    !p.metadata.labels[ROLE_LABEL] &&
    !bound(p) &&
    !terminating(p) &&
    !ended(p) &&
    !p.status?.nominatedNodeName &&
    !isInSwap(p) &&
    !doomed.has(name(p))
  );
}

export function repairs(view: GroupView): Repair[] {
  const out: Repair[] = [];
  const home = new Map(view.homePods.map((p) => [name(p), p]));
  const remotes = new Map(view.remotes.map((r) => [r.id, r]));
  const doomed = new Set(view.workerGroups.flatMap((g) => g.workersToDelete));
  const twinIn = (cluster: string, n: string) =>
    remotes.get(cluster)?.workers.find((w) => name(w) === n && !terminating(w) && w.metadata?.labels?.[RAYCLUSTER_UID_LABEL] === view.rayClusterUid);
  const remoteDeleted = new Set<Pod>();
  const deleteRemote = (cluster: string, pod: Pod, why: string, absent?: Absent) => {
    if (remoteDeleted.has(pod) || terminating(pod)) return;
    remoteDeleted.add(pod);
    out.push({do: 'delete-remote', cluster, pod, why, ...(absent ? {absent} : {})});
  };
  /** Remote worker names a swap in progress (or starting now) is for, by cluster id. */
  const swapping = new Set<string>();
  const creates = new Set<string>();

  // Swaps in progress: the Pending worker carries the record.
  for (const w of view.homePods) {
    if (!isInSwap(w)) continue;
    const target = swapTargetOf(w);
    const n = name(w);
    if (!target) {
      out.push({do: 'unlock', pod: w, why: `${n} holds the swap finalizer without a target`});
      continue;
    }
    const side = remotes.get(target.cluster);
    const placeholder = home.get(target.name);
    const twin = twinIn(target.cluster, target.name);
    if (!terminating(w) && !ended(w)) {
      // Stopped between the two writes of the lock: the pod is still an ordinary Pending worker.
      out.push({do: 'unlock', pod: w, why: `the swap of ${n} stopped before KubeRay let go of it; it is a Pending worker again`});
      continue;
    }
    if (!w.metadata?.finalizers?.includes(SWAP_FINALIZER)) continue;
    if (!side?.observed) {
      // Never keep KubeRay's worker group locked on a cluster that does not answer.
      out.push({do: 'unlock', pod: w, why: `context of cluster ${target.cluster} did not answer, so the swap of ${n} is given up; KubeRay replaces it`});
      continue;
    }
    swapping.add(`${target.cluster}/${target.name}`);
    const steps: SwapStep[] = terminating(w) ? [] : ['await'];
    let node: string | undefined;
    if (!placeholder) {
      node = view.bindPlaceholder();
      if (!node) {
        out.push({do: 'unlock', pod: w, why: `no node at home has room for the placeholder of ${n}; KubeRay replaces it`});
        continue;
      }
      steps.push('placeholder');
    } else if (!isPlaceholder(placeholder) || terminating(placeholder)) {
      out.push({do: 'unlock', pod: w, why: `${target.name} at home is not a live placeholder, so the swap of ${n} is given up`});
      continue;
    }
    if (!twin) {
      steps.push('remote');
      creates.add(target.cluster);
    }
    steps.push('unlock');
    out.push({do: 'swap', pod: w, target, steps, ...(node ? {node} : {}), why: `finish the swap of ${n} to ${target.name}`});
  }

  // Placeholders: each stands for its remote worker, as long as that one lives.
  for (const p of view.homePods) {
    if (!isPlaceholder(p) || terminating(p)) continue;
    const cluster = p.metadata?.annotations?.[REMOTE_CLUSTER_ANNOTATION] ?? '';
    const n = name(p);
    if (swapping.has(`${cluster}/${n}`)) continue;
    const side = remotes.get(cluster);
    const twin = twinIn(cluster, n);
    // Its gate, written once the remote worker was first seen Ready, says it joined once; one Ready now has too.
    const stuck = twin ? notJoining(twin, remoteReadyOf(p) !== undefined || isPodReady(twin), view.now, view.joinTimeoutMs) : undefined;
    if (doomed.has(n)) {
      if (twin) deleteRemote(cluster, twin, `${n} is in workersToDelete`);
    } else if (twin && ended(twin)) {
      deleteRemote(cluster, twin, `remote worker ${n} ended (${twin.status?.phase})`);
      out.push({do: 'delete-placeholder', pod: p, why: `remote worker ${n} ended, so KubeRay replaces it`});
    } else if (!twin && side?.observed) {
      out.push({do: 'delete-placeholder', pod: p, why: `placeholder ${n} has no remote worker, so KubeRay replaces it`, absent: {cluster, name: n}});
    } else if (twin && stuck) {
      out.push({do: 'give-up', pod: p, cluster, remote: twin, workerGroup: groupOf(p), reason: stuck, why: `remote worker ${n} did not join there: ${stuck}; its worker group is not sent there again until its template changes`});
    } else if (twin && (remoteReadyOf(p) ?? false) !== isPodReady(twin)) {
      out.push({do: 'set-ready', pod: p, ready: isPodReady(twin), why: `remote worker ${n} is ${isPodReady(twin) ? 'Ready' : 'not Ready'}`});
    }
  }

  // Remote workers whose placeholder is gone or going: kept while KubeRay wants the worker back,
  // and taken over by the Pending worker it makes for it; otherwise the removal was deliberate.
  const taken = new Set<Pod>();
  const waiting = new Map<string, number>();
  const wanted = new Map(view.workerGroups.map((g) => [g.name, g.replicas]));
  const liveIn = (g: string) =>
    view.homePods.filter((p) => p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'worker' && groupOf(p) === g && !terminating(p) && !ended(p)).length;
  for (const side of view.remotes) {
    if (!side.observed) continue;
    for (const w of [...side.workers].sort((a, b) => name(a).localeCompare(name(b)))) {
      if (terminating(w)) continue;
      const n = name(w);
      const h = home.get(n);
      if (w.metadata?.labels?.[RAYCLUSTER_UID_LABEL] !== view.rayClusterUid) {
        deleteRemote(side.id, w, `remote worker ${n} belongs to an earlier RayCluster`);
        continue;
      }
      if (swapping.has(`${side.id}/${n}`)) continue;
      if (h && isPlaceholder(h) && !terminating(h)) {
        if (h.metadata?.annotations?.[REMOTE_CLUSTER_ANNOTATION] !== side.id) deleteRemote(side.id, w, `placeholder ${n} pairs with a remote worker in another cluster`);
        continue;
      }
      if (h && !isPlaceholder(h)) {
        deleteRemote(side.id, w, `${n} at home is not its placeholder`);
        continue;
      }
      const g = groupOf(w);
      if (doomed.has(n)) {
        deleteRemote(side.id, w, `${n} is in workersToDelete`);
        continue;
      }
      if (!wanted.has(g)) {
        deleteRemote(side.id, w, `its worker group ${g} is gone`);
        continue;
      }
      const candidate = h ? undefined : view.homePods.find((p) => groupOf(p) === g && !taken.has(p) && adoptable(p, doomed));
      if (candidate) {
        taken.add(candidate);
        swapping.add(`${side.id}/${n}`);
        out.push({
          do: 'swap',
          pod: candidate,
          target: {name: n, cluster: side.id},
          steps: ['lock', 'fail', 'await', 'placeholder', 'unlock'],
          absent: {name: n},
          why:
            `remote worker ${n} lost its placeholder${h ? '' : ' (evicted or its node lost)'}; ${name(candidate)}, KubeRay's replacement, becomes its placeholder again` +
            (view.autoscaling ? `; if autoscaler v2 saw ${n} gone, it will not match the new one to the running Ray node: it stops scaling ${n} in, and removes it after allocate_status_timeout_s` : ''),
        });
        continue;
      }
      // KubeRay makes the replacement only once the old placeholder is gone: until then the group
      // has fewer live pods than it wants, and the remote worker waits for it. (A taken-over
      // replacement is live already: it fills its own slot.)
      const short = wanted.get(g)! - liveIn(g);
      const kept = waiting.get(g) ?? 0;
      if (kept < short) {
        waiting.set(g, kept + 1);
        swapping.add(`${side.id}/${n}`);
        continue;
      }
      deleteRemote(side.id, w, h ? `placeholder ${n} was deleted and its group wants no more workers` : `the placeholder of remote worker ${n} is gone and its group wants no more workers`, h ? undefined : {name: n});
    }
  }
  // Remote workers of the group's other RayClusters: a sibling's stay (a RayService's other cluster
  // while it upgrades), one's that is gone go.
  const live = new Set(view.rayClusters.map((rc) => rc.uid));
  for (const side of view.remotes) {
    if (!side.observed) continue;
    for (const w of side.others) {
      if (!terminating(w) && !live.has(w.metadata?.labels?.[RAYCLUSTER_UID_LABEL] ?? '')) deleteRemote(side.id, w, `remote worker ${name(w)} was made for RayCluster ${w.metadata?.labels?.[RAY_CLUSTER_LABEL]}, which is gone`);
    }
  }

  // Adoptions need a node at home for the new placeholder; without one the remote worker waits.
  for (const r of out) {
    if (r.do !== 'swap' || !r.steps.includes('lock')) continue;
    const node = view.bindPlaceholder();
    if (node) r.node = node;
  }
  const plan = out.filter((r) => !(r.do === 'swap' && r.steps.includes('lock') && !r.node));

  // Collapse: copies stay only where remote workers stay or arrive.
  const staying = new Set([...creates, ...(view.incoming ?? [])]);
  for (const key of swapping) staying.add(key.slice(0, key.indexOf('/')));
  for (const side of view.remotes) {
    if ([...side.workers, ...side.others].some((w) => !remoteDeleted.has(w) && !terminating(w))) staying.add(side.id);
  }
  // In a cluster that keeps workers, a head-Service copy for a RayCluster that is gone goes.
  for (const side of view.remotes) {
    if (!side.observed || !staying.has(side.id)) continue;
    for (const object of side.copies) {
      if (!terminating(object) && !headCopyIsLive(object, view.rayClusters)) plan.push({do: 'delete-copy', cluster: side.id, object, why: 'it is the head-Service copy of a RayCluster that is gone'});
    }
  }
  for (const side of view.remotes) {
    if (!side.observed || !staying.has(side.id)) continue;
    for (const object of side.copies) {
      const exposed = object.kind === 'Service' && !terminating(object) && object.metadata?.labels?.[ROLE_LABEL] === 'head-service-copy' ? exposedCopy(object) : undefined;
      if (exposed) plan.push({do: 'close-copy', cluster: side.id, object, why: `${exposed}, which opens the head's ports beyond that cluster; a head-Service copy is ClusterIP`});
    }
  }
  for (const side of view.remotes) {
    if (!side.observed || !staying.has(side.id) || !view.headEndpoint) continue;
    for (const object of side.copies) {
      if (object.kind !== 'EndpointSlice' || terminating(object)) continue;
      const held = endpointSliceAddress(object);
      if (held !== view.headEndpoint) plan.push({do: 'update-endpoints', cluster: side.id, object, ip: view.headEndpoint, why: `the head pod's IP is ${view.headEndpoint} now, not ${held ?? 'none'}`});
    }
  }
  for (const side of view.remotes) {
    if (!side.observed || staying.has(side.id)) continue;
    for (const object of side.copies) {
      if (!terminating(object)) plan.push({do: 'delete-copy', cluster: side.id, object, why: 'no remote worker of the group is left in that cluster'});
    }
  }
  const sources = new Map((view.copySources ?? []).map((o) => [`${o.kind}/${name(o)}`, o]));
  for (const side of view.remotes) {
    if (!side.observed || !staying.has(side.id)) continue;
    for (const object of side.copies) {
      if (terminating(object) || object.metadata?.labels?.[ROLE_LABEL] !== 'dependency-copy') continue;
      if (object.kind === 'Secret' && !view.copySecrets) continue;
      const source = sources.get(`${object.kind}/${name(object)}`);
      const made = object.metadata?.annotations?.[SOURCE_VERSION_ANNOTATION];
      const now = source?.metadata?.resourceVersion;
      if (source && now !== made) plan.push({do: 'update-copy', cluster: side.id, object, source, why: `its source at home changed (resourceVersion ${now}, the copy is of ${made ?? 'an unrecorded one'})`});
    }
  }

  // Only when every cluster was seen to hold nothing of the group: absence that was not observed
  // keeps the head reachable.
  const spanLeft = view.homePods.some((p) => (isPlaceholder(p) && !terminating(p)) || isInSwap(p));
  // With the Ray autoscaler, no eviction may take a placeholder: the replacement KubeRay makes would
  // become the remote worker's placeholder again under the same name, but autoscaler v2 keeps that
  // name's old instance as terminated and never matches the new one to the running Ray node. So a
  // drain waits for the autoscaler to scale the worker in. Without it, an eviction is repaired in
  // the same way and harmless, and a budget would keep `kubectl drain` from ever finishing: it
  // evicts by name, and the placeholder made again has the same name. The budget comes before the
  // first placeholder, and goes after the last.
  const placeholdersComing = plan.some((r) => r.do === 'swap' && r.steps.includes('placeholder')) || (view.incoming ?? []).length > 0;
  const budgetWanted = view.autoscaling && (spanLeft || placeholdersComing);
  if (view.placeholderBudget === false && budgetWanted) {
    plan.unshift({do: 'make-budget', why: 'no eviction may take a placeholder: autoscaler v2 would lose track of its remote worker'});
  } else if (view.placeholderBudget === true && !budgetWanted) {
    plan.push({do: 'delete-budget', why: view.autoscaling ? 'no placeholder is left' : 'the group has no Ray autoscaler'});
  }
  if (view.headMadeGlobal && staying.size === 0 && !spanLeft && view.remotes.every((side) => side.observed)) {
    plan.push({do: 'make-head-local', service: view.headMadeGlobal, why: 'no remote worker is left: the app is back on one cluster'});
  }

  if (!view.autoscaling) {
    view.workerGroups.forEach((g, index) => {
      if (g.workersToDelete.length > 0 && g.workersToDelete.every((n) => !home.has(n))) {
        plan.push({do: 'clear-workers-to-delete', index, workerGroup: g.name, why: `the workers it named are gone`});
      }
    });
  }
  return plan;
}

/**
 * What is left of a RayCluster that is gone while its Ray object stays (a RayJob's, deleted by
 * KubeRay once the job ends): its remote workers go, copies go where no remote worker of the group
 * is left, and a swap it was in lets go of its Pending worker. Absence in a cluster that did not
 * answer says nothing, so nothing there is touched. A RayCluster of the group that KubeRay has
 * made since keeps its own.
 */
export function leftoverRepairs(view: {homePods: Pod[]; remotes: RemoteView[]; rayClusters: LiveRayCluster[]}, why: string): Repair[] {
  const out: Repair[] = [];
  const live = new Set(view.rayClusters.map((rc) => rc.uid));
  for (const p of view.homePods) if (p.metadata?.finalizers?.includes(SWAP_FINALIZER)) out.push({do: 'unlock', pod: p, why});
  const kept = new Set<string>();
  for (const side of view.remotes) {
    if (!side.observed) continue;
    for (const pod of [...side.workers, ...side.others]) {
      if (terminating(pod)) continue;
      if (live.has(pod.metadata?.labels?.[RAYCLUSTER_UID_LABEL] ?? '')) kept.add(side.id);
      else out.push({do: 'delete-remote', cluster: side.id, pod, why});
    }
  }
  for (const side of view.remotes) {
    if (!side.observed) continue;
    for (const object of side.copies) {
      if (!terminating(object) && (!kept.has(side.id) || !headCopyIsLive(object, view.rayClusters))) out.push({do: 'delete-copy', cluster: side.id, object, why});
    }
  }
  return out;
}
