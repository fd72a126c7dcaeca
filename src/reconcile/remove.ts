import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES, resourceForKind, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Pod} from '../kube/types.js';
import type {RayKind} from '../kuberay/demand.js';
import {GROUP_LABEL} from '../kuberay/labels.js';
import {SWAP_FINALIZER, unlockPatch} from '../kuberay/swap.js';
import {deleteObserved, type Step} from './act.js';
import {collectLeftovers, listPlaced} from './collect.js';
import {lookAtGroup, NotPlacedError, parseGroupRef, type GroupLook, type GroupState} from './group.js';
import {holdLease, type LeaseSlot} from './lease.js';

export interface RemoveOptions {
  group: string;
  namespace: string;
  dryRun: boolean;
  signal?: AbortSignal;
  /** Told once when another run holds the group's Lease and this one waits for it. */
  onWait?: (holder: string) => void;
}

export interface RemoveResult {
  group: string;
  /** Undefined when the Ray object was gone already, and only what was left of it is removed. */
  kind?: RayKind;
  namespace: string;
  /** The home context; undefined when the Ray object was gone already. */
  home?: string;
  /** Every delete (or release) made, or on a dry run to be made, in order. */
  steps: Step[];
  dryRun: boolean;
}

/** A delete the removal makes: what, where, and its precondition. */
interface Removal {
  action: 'delete' | 'release';
  type: ResourceType;
  object: KubeObject;
  cluster: GroupState['home'];
  why: string;
}

/** The objects `place` applied at home for the group. */
export function placedDependencies(state: GroupLook, signal?: AbortSignal): Promise<Array<{type: ResourceType; object: KubeObject}>> {
  return listPlaced(state.home.client, state.namespace, `,${GROUP_LABEL}=${state.name}`, signal);
}

/**
 * The order that never lets anything restart or linger: the Ray object first (so that KubeRay
 * recreates nothing, and its pods, placeholders included, are collected), then the remote workers,
 * then our finalizer on Pending workers caught in a swap (so they can go), the copies in other
 * clusters, and the objects `place` applied at home.
 */
export function removals(state: GroupLook, dependencies: Array<{type: ResourceType; object: KubeObject}>): Removal[] {
  const out: Removal[] = [];
  const home = state.home;
  out.push({action: 'delete', type: resourceForKind(state.kind)!, object: state.object, cluster: home, why: 'the group is removed'});
  for (const side of state.remotes) {
    for (const w of [...side.workers, ...side.others]) out.push({action: 'delete', type: RESOURCES.pods, object: w, cluster: side.cluster, why: 'a remote worker of the group'});
  }
  for (const p of state.homePods) {
    if (p.metadata?.finalizers?.includes(SWAP_FINALIZER)) out.push({action: 'release', type: RESOURCES.pods, object: p, cluster: home, why: 'a Pending worker caught in a swap'});
  }
  for (const side of state.remotes) {
    for (const c of side.copies) out.push({action: 'delete', type: resourceForKind(c.kind)!, object: c, cluster: side.cluster, why: 'a copy made for the remote workers'});
  }
  for (const d of dependencies) out.push({action: 'delete', type: d.type, object: d.object, cluster: home, why: 'applied by place for the group'});
  return out;
}

/**
 * Removes a group and everything the tool made for it, in every cluster. A fleet cluster that does
 * not answer stops it before any change: remote workers could run there and would be orphaned.
 */
export async function removeGroup(fleet: Fleet, options: RemoveOptions): Promise<RemoveResult> {
  const {signal} = options;
  // A Ray object KubeRay has made no RayCluster for (a suspended RayJob) is removed all the same.
  let state;
  try {
    state = await lookAtGroup(fleet, options.group, options.namespace, signal);
  } catch (err) {
    if (err instanceof NotPlacedError) return removeLeftovers(fleet, options, err);
    throw err;
  }
  const slot: LeaseSlot = {};
  try {
    if (!options.dryRun && (await holdLease(slot, state, {signal, onWait: options.onWait}))) state = await lookAtGroup(fleet, options.group, options.namespace, signal);
    // A group caught in the middle of a move runs in both clusters: the new copy goes first, so that
    // nothing finishes the move after the old home is gone.
    const moving = 'relocation' in state ? state.relocation : undefined;
    const target = moving ? await removeObserved(await lookAtCopy(state, moving, signal), options) : undefined;
    const result = await removeObserved(state, options);
    return target ? {...result, steps: [...target.steps, ...result.steps]} : result;
  } finally {
    await slot.lease?.release();
  }
}

/**
 * The Ray object is gone already (kubectl delete, a GitOps prune, a TTL): what the tool made for
 * it in any cluster, and what place applied with it, goes all the same. Every cluster must answer.
 */
async function removeLeftovers(fleet: Fleet, options: RemoveOptions, notPlaced: NotPlacedError): Promise<RemoveResult> {
  const ref = parseGroupRef(options.group);
  const done = await collectLeftovers(fleet, {namespace: options.namespace, groups: [ref.name], placed: true}, {dryRun: options.dryRun, signal: options.signal, allOrNothing: true});
  if (done.unobserved.length > 0) {
    throw new Error(
      `cannot remove what is left of group "${ref.name}": context(s) ${done.unobserved.map((u) => `"${u.context}"`).join(', ')} did not answer, and remote workers of it may run there; retry when they answer`,
    );
  }
  if (done.steps.length === 0) throw notPlaced;
  return {group: ref.name, ...(ref.kind ? {kind: ref.kind} : {}), namespace: options.namespace, steps: done.steps, dryRun: options.dryRun};
}

/** The new copy of a group that is moving: its Ray object and pods in the target cluster. */
async function lookAtCopy(state: GroupLook, moving: NonNullable<GroupState['relocation']>, signal?: AbortSignal): Promise<GroupLook> {
  const pods = await moving.target.client.list<Pod>(RESOURCES.pods, {namespace: state.namespace, labelSelector: `${GROUP_LABEL}=${state.name}`, signal});
  return {...state, home: moving.target, object: moving.object, homePods: pods.items, remotes: []};
}

/** Removes what `state` shows; also the last step of a relocation, at the old home. */
export async function removeObserved(state: GroupLook, options: {dryRun: boolean; signal?: AbortSignal}): Promise<RemoveResult> {
  const {signal} = options;
  const silent = state.remotes.filter((r) => !r.observed);
  if (silent.length > 0) {
    throw new Error(
      `cannot remove ${state.kind.toLowerCase()}/${state.name}: context(s) ${silent.map((r) => `"${r.cluster.client.context}"`).join(', ')} did not answer, and remote workers of it may run there; retry when they answer`,
    );
  }
  const plan = removals(state, await placedDependencies(state, signal));
  const steps: Step[] = [];
  for (const r of plan) {
    const name = r.object.metadata?.name ?? '';
    const step = {action: r.action, object: `${r.type.kind.toLowerCase()}/${name}`, context: r.cluster.client.context, why: r.why};
    if (options.dryRun) {
      steps.push(step);
      continue;
    }
    if (r.action === 'delete') {
      if (await deleteObserved(r.cluster.client, r.type, {...r.object, metadata: {...r.object.metadata, namespace: state.namespace}}, signal)) steps.push(step);
      continue;
    }
    try {
      await r.cluster.client.patch(r.type, name, state.namespace, unlockPatch(), 'strategic', {signal});
      steps.push(step);
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 404)) throw err;
    }
  }
  return {group: state.name, kind: state.kind, namespace: state.namespace, home: state.home.client.context, steps, dryRun: options.dryRun};
}
