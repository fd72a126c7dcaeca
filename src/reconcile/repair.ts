/**
 * The invariants of docs/design.md §4, as a pure plan: given what was observed of one group, the repairs
 * that bring it back to a consistent state, whatever step an earlier run was interrupted at. The
 * executor (act.ts) makes the calls, in the order given here.
 */
import type {KubeObject, Pod} from '../kube/types.js';
import {ROLE_LABEL} from '../kuberay/labels.js';
import {endpointSliceAddress, HOLD_FINALIZER, isHeldPlaceholder, RAYCLUSTER_UID_LABEL, REMOTE_CLUSTER_ANNOTATION, REPLACES_ANNOTATION} from '../kuberay/swap.js';

export interface RemoteView {
  /** The cluster id. */
  id: string;
  /** Whether the cluster answered in full. Absence in a cluster that did not answer means nothing. */
  observed: boolean;
  workers: Pod[];
  copies: KubeObject[];
}

export interface GroupView {
  autoscaling: boolean;
  rayClusterUid: string;
  /** Worker groups in spec order, with their workersToDelete. */
  workerGroups: Array<{name: string; workersToDelete: string[]}>;
  homePods: Pod[];
  remotes: RemoteView[];
  /** Clusters that get new remote workers in this pass, so their copies stay. */
  incoming?: string[];
  /** Mesh mode `endpoints`: the home head pod's IP, which every EndpointSlice copy must hold. */
  headEndpoint?: string;
  /** The home head Service's name, when the tool made it global (MADE_GLOBAL_ANNOTATION). */
  headMadeGlobal?: string;
}

export type Repair =
  /** A held placeholder whose remote worker is missing gets it (again), from its own spec. */
  | {do: 'create-remote'; cluster: string; from: Pod; why: string}
  | {do: 'delete-remote'; cluster: string; pod: Pod; why: string}
  /** A Pending worker whose remote twin already runs: label it as that twin's placeholder. */
  | {do: 'hold'; pod: Pod; cluster: string; why: string}
  /** Delete a home pod: a held placeholder whose twin ended, or the Pending worker a pause placeholder replaces. */
  | {do: 'delete-home'; pod: Pod; why: string}
  /** A held placeholder that got a node at home becomes a plain worker again (and loses any finalizer of ours). */
  | {do: 'release'; pod: Pod; why: string}
  /** Give an autoscaled group's placeholder its controller ownerReference. */
  | {do: 'own'; pod: Pod; why: string}
  | {do: 'delete-placeholder'; pod: Pod; why: string}
  | {do: 'delete-copy'; cluster: string; object: KubeObject; why: string}
  /** Point an EndpointSlice copy at the head pod's current IP (the head restarted). */
  | {do: 'update-endpoints'; cluster: string; object: KubeObject; ip: string; why: string}
  /** Clear a worker group's workersToDelete once every pod it names is gone. */
  | {do: 'clear-workers-to-delete'; index: number; workerGroup: string; why: string}
  /** The group is back on one cluster: the home head Service the tool made global is local again. */
  | {do: 'make-head-local'; service: string; why: string};

const name = (o: KubeObject) => o.metadata?.name ?? '';
const terminating = (o: KubeObject) => o.metadata?.deletionTimestamp !== undefined;
const bound = (p: Pod) => Boolean(p.spec?.nodeName);
const failed = (p: Pod) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';

export function repairs(view: GroupView): Repair[] {
  const out: Repair[] = [];
  const home = new Map(view.homePods.map((p) => [name(p), p]));
  const remotes = new Map(view.remotes.map((r) => [r.id, r]));
  const doomed = new Set(view.workerGroups.flatMap((g) => g.workersToDelete));
  const twinOf = (p: Pod) => remotes.get(p.metadata?.annotations?.[REMOTE_CLUSTER_ANNOTATION] ?? '')?.workers.find((w) => name(w) === name(p) && !terminating(w));
  const sideOf = (p: Pod) => remotes.get(p.metadata?.annotations?.[REMOTE_CLUSTER_ANNOTATION] ?? '');
  const remoteDeleted = new Set<Pod>();
  const deleteRemote = (cluster: string, pod: Pod, why: string) => {
    if (remoteDeleted.has(pod) || terminating(pod)) return;
    remoteDeleted.add(pod);
    out.push({do: 'delete-remote', cluster, pod, why});
  };
  const creates = new Set<string>();

  for (const p of view.homePods) {
    if (p.metadata?.labels?.[ROLE_LABEL] !== 'placeholder') continue;
    const side = sideOf(p);
    const twin = twinOf(p);
    const n = name(p);
    if (isHeldPlaceholder(p)) {
      if (terminating(p)) {
        // KubeRay deleted it (workersToDelete, fewer replicas) or someone did: its twin goes with it.
        if (twin) deleteRemote(side!.id, twin, `placeholder ${n} is being deleted`);
        else if (side?.observed && p.metadata?.finalizers?.includes(HOLD_FINALIZER)) out.push({do: 'release', pod: p, why: `placeholder ${n} is being deleted and its remote worker is gone`});
      } else if (bound(p)) {
        // The home scheduler found room for it after all: it runs here now, so its twin goes.
        if (twin) deleteRemote(side!.id, twin, `${n} got a node at home, so its remote twin goes`);
        out.push({do: 'release', pod: p, why: `${n} got a node at home; it is a local worker again`});
      } else if (doomed.has(n)) {
        if (twin) deleteRemote(side!.id, twin, `${n} is in workersToDelete`);
      } else if (twin && failed(twin)) {
        deleteRemote(side!.id, twin, `remote worker ${n} ended (${twin.status?.phase})`);
        out.push({do: 'delete-home', pod: p, why: `remote worker ${n} ended, so KubeRay replaces it`});
      } else if (!twin && side?.observed) {
        creates.add(side.id);
        out.push({do: 'create-remote', cluster: side.id, from: p, why: `placeholder ${n} has no remote worker`});
      }
      continue;
    }
    // An autoscaled group's placeholder: a pause pod of its own.
    if (terminating(p)) {
      if (twin) deleteRemote(side!.id, twin, `placeholder ${n} is being deleted`);
      continue;
    }
    const owned = p.metadata?.ownerReferences?.some((o) => o.controller) ?? false;
    if (twin && failed(twin)) {
      deleteRemote(side!.id, twin, `remote worker ${n} ended (${twin.status?.phase})`);
      out.push({do: 'delete-placeholder', pod: p, why: `remote worker ${n} ended, so KubeRay replaces it`});
    } else if (twin) {
      if (owned) continue;
      const replaced = home.get(p.metadata?.annotations?.[REPLACES_ANNOTATION] ?? '');
      if (replaced && !terminating(replaced) && bound(replaced)) {
        deleteRemote(side!.id, twin, `${name(replaced)} got a node at home, so the swap is rolled back`);
        out.push({do: 'delete-placeholder', pod: p, why: `${name(replaced)} got a node at home, so the swap is rolled back`});
      } else {
        if (replaced && !terminating(replaced)) out.push({do: 'delete-home', pod: replaced, why: `finish the swap: ${n} replaces it`});
        out.push({do: 'own', pod: p, why: `finish the swap: KubeRay owns ${n}`});
      }
    } else if (side?.observed) {
      out.push({do: 'delete-placeholder', pod: p, why: `placeholder ${n} has no remote worker`});
    }
  }

  for (const side of view.remotes) {
    if (!side.observed) continue;
    for (const w of side.workers) {
      // One already going away pairs with nothing; its placeholder is judged as having no twin.
      if (terminating(w)) continue;
      const n = name(w);
      const h = home.get(n);
      if (w.metadata?.labels?.[RAYCLUSTER_UID_LABEL] !== view.rayClusterUid) {
        deleteRemote(side.id, w, `remote worker ${n} belongs to an earlier RayCluster`);
      } else if (!h) {
        deleteRemote(side.id, w, `the placeholder of remote worker ${n} is gone`);
      } else if (h.metadata?.labels?.[ROLE_LABEL] === 'placeholder') {
        if (h.metadata.annotations?.[REMOTE_CLUSTER_ANNOTATION] !== side.id) deleteRemote(side.id, w, `placeholder ${n} pairs with a remote worker in another cluster`);
      } else if (!bound(h) && !terminating(h) && !doomed.has(n) && !out.some((r) => r.do === 'hold' && r.pod === h)) {
        out.push({do: 'hold', pod: h, cluster: side.id, why: `finish the swap of ${n}: its remote worker exists`});
      } else {
        deleteRemote(side.id, w, `${n} ${bound(h) ? 'got a node at home' : 'is going away at home'}, so its remote twin goes`);
      }
    }
  }

  // Collapse: copies stay only where remote workers stay or arrive.
  const staying = new Set([...creates, ...(view.incoming ?? [])]);
  for (const side of view.remotes) {
    if (side.workers.some((w) => !remoteDeleted.has(w) && !terminating(w))) staying.add(side.id);
  }
  for (const side of view.remotes) {
    if (!side.observed || !staying.has(side.id) || !view.headEndpoint) continue;
    for (const object of side.copies) {
      if (object.kind !== 'EndpointSlice' || terminating(object)) continue;
      const held = endpointSliceAddress(object);
      if (held !== view.headEndpoint) out.push({do: 'update-endpoints', cluster: side.id, object, ip: view.headEndpoint, why: `the head pod's IP is ${view.headEndpoint} now, not ${held ?? 'none'}`});
    }
  }
  for (const side of view.remotes) {
    if (!side.observed || staying.has(side.id)) continue;
    for (const object of side.copies) {
      if (!terminating(object)) out.push({do: 'delete-copy', cluster: side.id, object, why: 'no remote worker of the group is left in that cluster'});
    }
  }

  // Only when every cluster was seen to hold nothing of the group: absence that was not observed
  // keeps the head reachable.
  const placeholdersLeft = view.homePods.some((p) => p.metadata?.labels?.[ROLE_LABEL] === 'placeholder' && !terminating(p));
  if (view.headMadeGlobal && staying.size === 0 && !placeholdersLeft && view.remotes.every((side) => side.observed)) {
    out.push({do: 'make-head-local', service: view.headMadeGlobal, why: 'no remote worker is left: the app is back on one cluster'});
  }

  if (!view.autoscaling) {
    view.workerGroups.forEach((g, index) => {
      if (g.workersToDelete.length > 0 && g.workersToDelete.every((n) => !home.has(n))) {
        out.push({do: 'clear-workers-to-delete', index, workerGroup: g.name, why: `the workers it named are gone`});
      }
    });
  }
  return out;
}
