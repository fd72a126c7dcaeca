import {InputError} from '../errors.js';
import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {pause} from '../kube/retry.js';
import {RESOURCES, resourceForKind} from '../kube/resources.js';
import type {KubeObject, Pod} from '../kube/types.js';
import {CLUSTER_SPEC_FIELD, rayDemand, type RayKind} from '../kuberay/demand.js';
import {RAY_GROUP_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {desiredReplicas, scaleChange, workerGroupPatch, type ScaleChange, type WorkerGroupBounds} from '../kuberay/scale.js';
import {withServeReplicas, type ServeChange, type ServeReplicas} from '../kuberay/serve.js';
import {REMOTE_CLUSTER_ANNOTATION, workerGroupTemplate} from '../kuberay/swap.js';
import {decideGrowth, shrinkOrder, type Decision, type WorkerRef} from '../placement/decide.js';
import {explain} from '../placement/reasons.js';
import {observeGroup, parseGroupRef, UnstartedError, type GroupState} from './group.js';
import {holdLease, type LeaseSlot} from './lease.js';
import {finishRelocation, relocateGroup} from './relocate.js';
import {checkTargets, swapContext} from './act.js';
import {preflightTargets, refusalsFor, subjectOf, templateWorker} from './preflight.js';
import {recordEvent} from './events.js';
import {countedWorkers, settleGroup, waitingFor} from './settle.js';
import {describeRepair, joinable, planPass, tell, workerGroupSpecs, type SpanResult} from './span.js';
import {v1SpanRefusal} from '../kuberay/autoscaler.js';

export interface ScaleOptions {
  group: string;
  namespace: string;
  /** Undefined: the worker group keeps its size (only --serve changes). */
  replicas?: number;
  workerGroup?: string;
  /** --serve APP.DEPLOYMENT=N, for a RayService. */
  serve?: ServeReplicas[];
  /** Span rather than relocate when growth does not fit at home. */
  skipCapacityRelocate: boolean;
  dryRun: boolean;
  /** Also wait until every worker of the group runs. */
  wait: boolean;
  copySecrets: boolean;
  signal?: AbortSignal;
  random?: () => number;
  /** Progress, one line per step, for stderr. */
  progress?: (line: string) => void;
  /** How long to sleep between looks while waiting for KubeRay and the scheduler. */
  pollMs?: number;
  /** Grow even when some new workers fit no cluster of the fleet: they wait Pending at home. */
  allowPending?: boolean;
  /** Told once when another run holds the group's Lease and this one waits for it. */
  onWait?: (holder: string) => void;
}

export interface ScaleResult {
  group: string;
  kind: RayKind;
  namespace: string;
  home: string;
  rayCluster: string;
  workerGroup: string;
  from: number;
  to: number;
  autoscaling: boolean;
  /**
   * unchanged: already that size. serve: the workers keep their size, only Serve num_replicas
   * change. fits/span/relocate: growth. shrink: remote workers first.
   */
  action: 'unchanged' | 'serve' | 'fits' | 'span' | 'relocate' | 'shrink';
  /** The Serve deployments whose num_replicas --serve changes (on a dry run: would change). */
  serve: ServeChange[];
  reasons: string[];
  /** The fields written to the worker group (on a dry run: that would be). */
  change: ScaleChange;
  /** On relocation: the context the group moved to. */
  relocatedTo?: string;
  /** On shrink: the workers that go, in order. */
  removing: Array<{name: string; where: WorkerRef['where']}>;
  moves: SpanResult['moves'];
  stuck: SpanResult['stuck'];
  repairs: SpanResult['repairs'];
  steps: SpanResult['steps'];
  dryRun: boolean;
  warnings: string[];
}

function pickWorkerGroup(state: GroupState, wanted: string | undefined): {index: number; group: WorkerGroupBounds} {
  const groups = workerGroupSpecs(state) as WorkerGroupBounds[];
  const names = groups.map((g) => g.groupName ?? '');
  const where = `raycluster/${state.rayCluster.metadata.name} in context "${state.home.client.context}"`;
  if (wanted === undefined) {
    if (groups.length === 1) return {index: 0, group: groups[0]!};
    throw new InputError(`${where} has ${groups.length} worker groups (${names.join(', ')})`, 'say which with --worker-group');
  }
  const index = names.indexOf(wanted);
  if (index < 0) throw new InputError(`${where} has no worker group "${wanted}" (it has ${names.join(', ') || 'none'})`, 'pass one of those to --worker-group');
  return {index, group: groups[index]!};
}


/** The group's workers KubeRay counts now: not gone, and not already named in workersToDelete. */
function workerRefs(state: GroupState, pods: Pod[]): WorkerRef[] {
  const priority = (p: Pod) => {
    const id = p.metadata?.annotations?.[REMOTE_CLUSTER_ANNOTATION];
    return state.fleet.find((o) => o.snapshot?.id === id)?.snapshot?.priority ?? 0;
  };
  return pods.map((p) => ({
    name: p.metadata?.name ?? '',
    group: p.metadata?.labels?.[RAY_GROUP_LABEL] ?? '',
    where: p.metadata?.labels?.[ROLE_LABEL] === 'placeholder' ? 'remote' : p.spec?.nodeName ? 'local' : 'pending',
    clusterPriority: priority(p),
    created: p.metadata?.creationTimestamp ?? '',
  }));
}

function withReplicas(rayCluster: KubeObject, index: number, n: number): KubeObject {
  const spec = rayCluster.spec as {workerGroupSpecs: WorkerGroupBounds[]};
  const groups = spec.workerGroupSpecs.map((g, i) => (i === index ? {...g, replicas: n, minReplicas: Math.min(g.minReplicas ?? 0, n), maxReplicas: Math.max(g.maxReplicas ?? n, n)} : g));
  return {...rayCluster, spec: {...spec, workerGroupSpecs: groups}};
}

/** What can be refused before any cluster is asked. */
export function checkScaleInput(options: Pick<ScaleOptions, 'group' | 'replicas' | 'serve'>): void {
  parseGroupRef(options.group);
  if (options.replicas !== undefined && (!Number.isInteger(options.replicas) || options.replicas < 0)) {
    throw new InputError(`--replicas ${options.replicas} is not a whole number of workers`, 'pass 0 or more');
  }
  if (options.replicas === undefined && !options.serve?.length) throw new InputError('nothing to scale', 'pass --replicas N, --serve APP.DEPLOYMENT=N, or both');
}

/**
 * Resizes a worker group and reconciles until it settles: growth that fits stays home; growth that
 * does not is spanned (or relocated, when the policy says so and another cluster fits the whole
 * group); a shrink removes remote workers first, through workersToDelete, and collapses the group
 * back to one cluster when no remote worker is left. With the Ray autoscaler on, only the bounds
 * are written. Everything is checked before the first write.
 */
export async function scaleGroup(fleet: Fleet, options: ScaleOptions): Promise<ScaleResult> {
  const slot: LeaseSlot = {};
  try {
    return await scaleWithLease(fleet, options, slot);
  } finally {
    await slot.lease?.release();
  }
}

/**
 * The group, once KubeRay has made its RayCluster: a RayService placed a moment ago names one before
 * it is there, and KubeRay always makes it, so it is waited for (within --timeout). A RayJob's that
 * is not there may never come again: that is said at once.
 */
async function startedGroup(fleet: Fleet, options: ScaleOptions, say: (line: string) => void): Promise<GroupState> {
  let told = false;
  for (;;) {
    try {
      return await observeGroup(fleet, options.group, options.namespace, options.signal);
    } catch (err) {
      if (!(err instanceof UnstartedError && err.kind === 'RayService')) throw err;
      if (!told) say(`waiting for KubeRay to make the RayCluster of rayservice/${parseGroupRef(options.group).name}`);
      told = true;
      await pause(options.pollMs ?? 500, options.signal);
    }
  }
}

async function scaleWithLease(fleet: Fleet, options: ScaleOptions, slot: LeaseSlot): Promise<ScaleResult> {
  checkScaleInput(options);
  const {signal} = options;
  const say = options.progress ?? (() => undefined);
  let state = await startedGroup(fleet, options, say);
  if (state.relocation && !options.dryRun) {
    // An earlier run was moving the group: finish that first, then resize where it now lives.
    await holdLease(slot, state, {signal, onWait: options.onWait});
    await finishRelocation(state, {signal, say, pollMs: options.pollMs});
    return scaleWithLease(fleet, options, slot);
  }
  const {index, group} = pickWorkerGroup(state, options.workerGroup);
  const workerGroup = group.groupName ?? '';
  if ((group.numOfHosts ?? 1) > 1) {
    throw new InputError(`worker group "${workerGroup}" of raycluster/${state.rayCluster.metadata.name} is multi-host (numOfHosts ${group.numOfHosts})`, 'scale it with kubectl; span and watch then move its Pending replicas whole, all hosts of one to one cluster');
  }
  const from = desiredReplicas(group);
  const to = options.replicas ?? from;
  let serve: ReturnType<typeof withServeReplicas>;
  if (options.serve?.length) {
    const where = `${state.kind.toLowerCase()}/${state.name} in context "${state.home.client.context}"`;
    if (state.kind !== 'RayService') throw new InputError(`--serve applies to a RayService, and ${where} is a ${state.kind}`, 'drop --serve');
    const current = (state.object.spec as {serveConfigV2?: string} | undefined)?.serveConfigV2;
    serve = withServeReplicas(current, options.serve, where);
  }
  const serveConfig = serve?.config;
  const change = scaleChange(group, to, state.autoscaling);
  const result: ScaleResult = {
    group: state.name,
    kind: state.kind,
    namespace: state.namespace,
    home: state.home.client.context,
    rayCluster: state.rayCluster.metadata.name,
    workerGroup,
    from,
    to,
    autoscaling: state.autoscaling,
    action: serve ? 'serve' : 'unchanged',
    serve: serve?.changed ?? [],
    reasons: [],
    change,
    removing: [],
    moves: [],
    stuck: [],
    repairs: [],
    steps: [],
    dryRun: options.dryRun,
    warnings: [],
  };
  if (state.autoscaling) result.reasons.push(`in-tree autoscaling is on: the Ray autoscaler owns replicas, so ${to >= from ? 'minReplicas' : 'maxReplicas'} becomes ${to}`);
  for (const c of result.serve) result.reasons.push(`Serve deployment ${c.app}.${c.deployment}: num_replicas ${c.from ?? 'unset'} -> ${c.to}`);
  // A bound the user did not name moves only because --replicas lies outside it: say so.
  if (change.maxReplicas !== undefined && change.maxReplicas > (group.maxReplicas ?? Infinity)) {
    result.warnings.push(`maxReplicas of worker group ${workerGroup} is raised from ${group.maxReplicas} to ${change.maxReplicas}, since --replicas ${to} is above it`);
  }
  if (!state.autoscaling && change.minReplicas !== undefined && change.minReplicas < (group.minReplicas ?? 0)) {
    result.warnings.push(`minReplicas of worker group ${workerGroup} is lowered from ${group.minReplicas} to ${change.minReplicas}, since --replicas ${to} is below it`);
  }

  let decision: Decision | undefined;
  if (to > from) {
    const relocate = options.skipCapacityRelocate ? 'never' : (state.policy?.relocate ?? 'if-fits');
    const demand = rayDemand(withReplicas(state.rayCluster, index, to), state.namespace);
    const decide = (skip: Set<string>) =>
      decideGrowth(demand, state.fleet.flatMap((o) => (o.snapshot && !skip.has(o.snapshot.id) ? [o.snapshot] : [])), state.home.snapshot!.id, {namespace: state.namespace, rayCluster: state.rayCluster.metadata.name}, {relocate});
    decision = decide(new Set());
    const skippedWhy: string[] = [];
    // New workers that would run elsewhere: the clusters they could go to are checked first, and
    // one that may take none of them (or where one of the group's did not join) is left out of the
    // decision, with its reasons.
    const template = workerGroupTemplate(state.rayCluster.spec, workerGroup);
    if (decision.action === 'span' && template) {
      const targets = state.fleet.filter((o) => o !== state.home && o.snapshot);
      const {open, barred} = joinable(state, workerGroup, template, targets);
      const worker = templateWorker(subjectOf(state), template, swapContext(state, ''));
      const checks = await preflightTargets(subjectOf(state), new Map([[workerGroup, worker]]), open, {copySecrets: options.copySecrets, signal, dryRunCreate: true});
      const refusals = (t: (typeof open)[number]) => refusalsFor(checks.get(t.snapshot!.id), [workerGroup]);
      const skipped = open.filter((t) => refusals(t).length > 0);
      skippedWhy.push(...barred, ...skipped.map((t) => `${t.client.context} is skipped: ${refusals(t).join('; ')}`));
      result.reasons.push(...skippedWhy);
      if (skippedWhy.length > 0) decision = decide(new Set(targets.filter((t) => !open.includes(t) || skipped.includes(t)).map((t) => t.snapshot!.id)));
    }
    result.action = decision.action === 'place' ? 'fits' : decision.action;
    result.reasons.push(...decision.reasons.map(explain));
    const unplaced = Object.values(decision.unplaced).reduce((a, b) => a + b, 0);
    if (unplaced > 0) {
      const what = `${unplaced} of the ${to - from} new worker(s) of group ${workerGroup} fit no cluster of the fleet`;
      const where = `${state.kind.toLowerCase()}/${state.name} in context "${state.home.client.context}"`;
      // A cluster the preflight refused is the news: its reasons, not the room of each node.
      if (!options.allowPending && skippedWhy.length > 0) {
        throw new InputError(`${where}: ${what}: ${skippedWhy.join('; ')}`, 'fix what is named there, lower --replicas, or pass --allow-pending to let them wait Pending');
      }
      if (!options.allowPending) {
        throw new InputError(`${where}: ${what} (${decision.reasons.map(explain).join('; ')})`, 'lower --replicas, add room, or pass --allow-pending to let them wait Pending');
      }
      result.warnings.push(`${what}: they wait Pending at home (--allow-pending)`);
    }
    if (decision.action === 'span') {
      const refusal = state.autoscaling ? v1SpanRefusal(state.rayCluster.spec, `${state.kind.toLowerCase()}/${state.name} in context "${state.home.client.context}"`) : undefined;
      if (refusal) throw new InputError(refusal.message, refusal.fix);
      // What the new workers need in the clusters they will run in (a ConfigMap at home, say) is
      // checked now, before replicas is written: a refusal after that write would leave them Pending.
      const targets = decision.assignments.filter((a) => a.cluster !== state.home.snapshot!.id && Object.values(a.workers).some((n) => n > 0));
      if (template) await checkTargets(state, targets.map((a) => ({pod: templateWorker(subjectOf(state), template, swapContext(state, a.cluster)), cluster: a.cluster})), {copySecrets: options.copySecrets, signal, beforehand: true});
    }
    if (decision.action === 'relocate') {
      const target = state.fleet.find((o) => o.snapshot?.id === decision!.home)!;
      result.relocatedTo = target.client.context;
      if (options.dryRun) return result;
      if (await holdLease(slot, state, {signal, onWait: options.onWait})) return scaleWithLease(fleet, options, slot);
      // The Serve change goes with the group: the new home starts with it.
      result.steps = await relocateGroup(state, target, {resize: {index, replicas: to}, serveConfigV2: serveConfig, copySecrets: options.copySecrets, signal, say, pollMs: options.pollMs});
      return result;
    }
  } else if (to < from) {
    result.action = 'shrink';
    if (!state.autoscaling) {
      const doomed = new Set(group.scaleStrategy?.workersToDelete ?? []);
      const counted = countedWorkers(state, workerGroup, doomed);
      const chosen = shrinkOrder(workerRefs(state, counted), counted.length - to);
      result.removing = chosen.map((w) => ({name: w.name, where: w.where}));
      if (chosen.length > 0) change.workersToDelete = [...doomed, ...chosen.map((w) => w.name)];
      result.reasons.push(...chosen.map((w) => `${w.name} goes (${w.where === 'remote' ? 'a remote worker: they go first' : w.where === 'pending' ? 'Pending: no remote worker is left to go' : 'local: no remote or Pending worker is left to go'})`));
    } else {
      result.reasons.push('the autoscaler picks which workers go; remote ones are removed with their placeholders');
    }
  }

  const patch = workerGroupPatch(`/spec/workerGroupSpecs/${index}`, workerGroup, change);
  if (options.dryRun) {
    const pass = planPass(state, options);
    result.repairs = pass.repairs.map((r) => describeRepair(state, r));
    return result;
  }

  const leaseOptions = {signal, onWait: options.onWait ?? ((holder: string) => say(`waiting for ${holder}, which is changing this group`))};
  if ((serveConfig !== undefined || patch.length > 0) && (await holdLease(slot, state, leaseOptions))) {
    // Another run changed the group while we waited: decide again from what is there now.
    return scaleWithLease(fleet, options, slot);
  }
  if (serveConfig !== undefined) {
    await state.home.client.patch(RESOURCES.rayservices, state.name, state.namespace, {spec: {serveConfigV2: serveConfig}}, 'merge', {signal});
    const what = options.serve!.map((s) => `${s.app}.${s.deployment}=${s.replicas}`).join(' ');
    result.steps.push({action: 'patch', object: `rayservice/${state.name}`, context: state.home.client.context, why: `serve num_replicas ${what}`});
    say(`${state.home.client.context}: rayservice/${state.name} serve num_replicas ${what}`);
    // On the RayService itself: num_replicas is its field, and `kubectl describe rayservice` shows it there.
    const failed = await recordEvent(state.home.client, state.object, 'Scaled', `Serve num_replicas ${result.serve.map((c) => `${c.app}.${c.deployment} ${c.from ?? 'unset'} -> ${c.to}`).join(', ')}`, signal);
    if (failed) result.warnings.push(`the Scaled event was not recorded: ${failed}`);
  }
  if (patch.length > 0) {
    await patchRayObjects(state, index, workerGroup, change, signal);
    result.steps.push({action: 'patch', object: `raycluster/${state.rayCluster.metadata.name}`, context: state.home.client.context, why: describeChange(change)});
    say(`${state.home.client.context}: raycluster/${state.rayCluster.metadata.name} ${describeChange(change)}`);
    await tell(state, 'Scaled', `worker group ${workerGroup}: ${from} -> ${to} (${describeChange(change)}); ${result.reasons.join('; ')}`, result.warnings, signal);
  }

  await settleGroup(fleet, {...options, say}, slot, result, (s, pass) => waitingFor(s, [workerGroup], options.wait, pass), `is resized to ${to}`);
  return result;
}

function describeChange(change: ScaleChange): string {
  const parts = Object.entries(change).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : v}`);
  return parts.length > 0 ? parts.join(' ') : 'no change';
}

/**
 * Writes the new size to the live RayCluster, and for a RayService or RayJob also to its cluster
 * spec, so that a RayCluster made later starts at the right size. workersToDelete names pods of the
 * live cluster, so it goes only there.
 */
async function patchRayObjects(state: GroupState, index: number, workerGroup: string, change: ScaleChange, signal?: AbortSignal): Promise<void> {
  const client = state.home.client;
  const live = workerGroupPatch(`/spec/workerGroupSpecs/${index}`, workerGroup, change);
  if (state.kind !== 'RayCluster') {
    const {workersToDelete: _ignored, ...sizes} = change;
    const base = `/${CLUSTER_SPEC_FIELD[state.kind].replaceAll('.', '/')}/workerGroupSpecs/${index}`;
    const own = workerGroupPatch(base, workerGroup, sizes);
    if (own.length > 0) await client.patch(resourceForKind(state.kind)!, state.name, state.namespace, own, 'json', {signal});
  }
  try {
    await client.patch(RESOURCES.rayclusters, state.rayCluster.metadata.name, state.namespace, live, 'json', {signal});
  } catch (err) {
    if (err instanceof KubeError && err.code === 422) {
      throw new Error(`raycluster/${state.rayCluster.metadata.name} in context "${client.context}" changed while it was read (worker group ${workerGroup} moved); run the command again`);
    }
    throw err;
  }
}
