import {ConvergeTimeoutError} from '../errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES} from '../kube/resources.js';
import {pause} from '../kube/retry.js';
import type {Pod} from '../kube/types.js';
import {GROUP_LABEL, RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {desiredWorkerPods} from '../kuberay/demand.js';
import {desiredReplicas} from '../kuberay/scale.js';
import {isInSwap} from '../kuberay/swap.js';
import type {Step} from './act.js';
import {observeGroup, UnstartedError, type GroupState} from './group.js';
import {holdLease, type LeaseSlot} from './lease.js';
import {actOnPass, checkedPass, checkPass, describeMove, movesMade, notReadyYet, tellSpanned, workerGroupSpecs, type Pass, type SpanMove, type SpanResult} from './span.js';

export interface SettleOptions {
  group: string;
  namespace: string;
  copySecrets: boolean;
  /** --to of span: the only cluster new workers may go to. */
  to?: string;
  signal?: AbortSignal;
  onWait?: (holder: string) => void;
  leaseWaitMs?: number;
  /** How often to look at the group's own pods while it waits; default 500 ms. */
  pollMs?: number;
  /** Told each write as it is made. */
  say?: (line: string) => void;
}

/** Where a settle records what it did: the result of the command that runs it. */
export interface Settled {
  steps: Step[];
  moves: SpanMove[];
  stuck: SpanResult['stuck'];
  warnings: string[];
}

/**
 * Reconciles one group until nothing it waits for is left: KubeRay makes or removes pods, the
 * scheduler judges them, and each pass swaps, repairs and cleans up what it observes (the same
 * pass as span's). `waitingOf` says what still keeps the group from being settled, empty when it
 * is; `doing` words the change for a timeout ("is resized to 3"). A deadline (--timeout) ends it
 * with exit 3, saying what it still waited for; the partial result goes with the error.
 */
export async function settleGroup(
  fleet: Fleet,
  options: SettleOptions,
  slot: LeaseSlot,
  into: Settled,
  waitingOf: (state: GroupState, pass: Pass) => string[],
  doing: string,
): Promise<GroupState> {
  const {signal} = options;
  const say = options.say ?? (() => undefined);
  const leaseOptions = {signal, onWait: options.onWait ?? ((holder: string) => say(`waiting for ${holder}, which is changing this group`)), waitMs: options.leaseWaitMs};
  let waiting: string[] = ['the first look at the group'];
  let state: GroupState | undefined;
  const unsettled = () => {
    const stop = signal?.reason instanceof ConvergeTimeoutError ? signal.reason.message.replace('did not finish', 'did not settle') : 'the command did not settle within --timeout';
    const what = state ? `${state.kind.toLowerCase()}/${state.name}` : options.group;
    return new ConvergeTimeoutError(`${stop}: ${what} ${doing} and still waits for: ${waiting.join('; ')}. Run the same command again to go on`, into);
  };
  try {
    for (;;) {
      try {
        state = await observeGroup(fleet, options.group, options.namespace, signal);
      } catch (err) {
        // A RayService or RayJob placed a moment ago: KubeRay makes its RayCluster soon.
        if (!(err instanceof UnstartedError)) throw err;
        waiting = ['KubeRay to make its RayCluster'];
        if (signal?.aborted) throw signal.reason instanceof ConvergeTimeoutError ? unsettled() : signal.reason;
        await pause(options.pollMs ?? 500, signal);
        continue;
      }
      const pass = await checkedPass(state, options);
      if (pass.repairs.length > 0 || pass.moves.length > 0) {
        await checkPass(state, pass, options);
        if (await holdLease(slot, state, leaseOptions)) continue;
        const actor = await actOnPass(state, pass, options);
        into.steps.push(...actor.steps);
        into.warnings.push(...actor.warnings);
        for (const s of actor.steps) say(`${s.context}: ${s.action} ${s.object} (${s.why})`);
        for (const m of movesMade(pass, actor)) {
          into.moves.push(describeMove(m));
          await tellSpanned(state, m, into.warnings, signal);
        }
        continue;
      }
      waiting = waitingOf(state, pass);
      into.stuck = pass.stuck;
      if (waiting.length === 0) return state;
      if (signal?.aborted) throw signal.reason instanceof ConvergeTimeoutError ? unsettled() : signal.reason;
      await untilGroupMoves(state, waiting, (next) => waitingOf(next, pass), options.pollMs ?? 500, signal);
    }
  } catch (err) {
    // The deadline fell in the middle of a look: say what the group was still waiting for.
    const deadline = signal?.aborted === true && signal.reason instanceof ConvergeTimeoutError;
    const ours = err instanceof ConvergeTimeoutError && err !== signal?.reason;
    if (deadline && !ours) throw unsettled();
    throw err;
  }
}

/**
 * While KubeRay, the scheduler and the kubelets work, look only at the group's own pods (one
 * label-selected list per cluster that has some) until what the group waits for changes; then the
 * caller looks at the whole fleet again. A whole look lists every node and pod of every cluster,
 * which is too much to repeat twice a second against a big production cluster.
 */
async function untilGroupMoves(state: GroupState, waiting: string[], waitingOf: (s: GroupState) => string[], pollMs: number, signal?: AbortSignal): Promise<void> {
  const before = waiting.join('|');
  const namespace = state.namespace;
  const rcName = state.rayCluster.metadata.name;
  const giveUpAt = Date.now() + 10_000;
  while (!signal?.aborted && Date.now() < giveUpAt) {
    await pause(pollMs, signal);
    try {
      const [homePods, rayCluster, remotes] = await Promise.all([
        state.home.client.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `${RAY_CLUSTER_LABEL}=${rcName}`, signal}),
        state.home.client.get<GroupState['rayCluster']>(RESOURCES.rayclusters, rcName, namespace, signal),
        Promise.all(
          state.remotes.map(async (r) =>
            r.observed && r.workers.length > 0
              ? {...r, workers: (await r.cluster.client.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `${GROUP_LABEL}=${state.name},${RAY_CLUSTER_LABEL}=${rcName}`, signal})).items}
              : r,
          ),
        ),
      ]);
      if (waitingOf({...state, homePods: homePods.items, rayCluster, remotes}).join('|') !== before) return;
    } catch {
      // Whatever went wrong, the whole look that follows will say it properly.
      return;
    }
  }
}

/** A worker group's pods as KubeRay counts them: not being deleted, and not named in workersToDelete. */
export function countedWorkers(state: GroupState, workerGroup: string, doomed: Set<string>): Pod[] {
  return state.homePods.filter(
    (p) =>
      p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'worker' &&
      p.metadata.labels[RAY_GROUP_LABEL] === workerGroup &&
      !p.metadata.deletionTimestamp &&
      !doomed.has(p.metadata.name ?? ''),
  );
}

/**
 * What still keeps worker groups of the group from being settled at their sizes; empty when they
 * are. With `wait`, also every worker Running and every placeholder Ready.
 */
export function waitingFor(state: GroupState, workerGroups: string[], wait: boolean, pending: Pass): string[] {
  const out: string[] = [];
  for (const workerGroup of workerGroups) {
    const spec = workerGroupSpecs(state).find((g) => g.groupName === workerGroup);
    if (!spec) continue;
    const doomed = new Set(spec.scaleStrategy?.workersToDelete ?? []);
    const counted = countedWorkers(state, workerGroup, doomed);
    const want = desiredReplicas(spec);
    // With the autoscaler on, KubeRay makes workers up to a raised minimum itself, but only the
    // autoscaler removes any down to a lowered maximum; only --wait waits for it to do so.
    if (counted.length < want || (counted.length > want && (!state.autoscaling || wait))) out.push(`KubeRay has ${counted.length} of ${want} worker(s) of group ${workerGroup}`);
    if (!state.autoscaling && doomed.size > 0) out.push(`workersToDelete of group ${workerGroup} still names ${[...doomed].join(', ')}`);
    const unjudged = counted.filter((p) => !p.spec?.nodeName && !p.metadata?.labels?.[ROLE_LABEL] && !p.status?.conditions?.some((c) => c.type === 'PodScheduled'));
    if (unjudged.length > 0) out.push(`${unjudged.length} worker(s) of group ${workerGroup} wait for the scheduler at home`);
    if (wait) {
      const notRunning = counted.filter((p) => !p.metadata?.labels?.[ROLE_LABEL] && p.status?.phase !== 'Running' && !isInSwap(p));
      const remoteNotRunning = state.remotes.flatMap((r) => r.workers.filter((w) => w.metadata?.labels?.[RAY_GROUP_LABEL] === workerGroup && w.status?.phase !== 'Running'));
      const n = notRunning.length + remoteNotRunning.length;
      if (n > 0) out.push(`${n} worker(s) of group ${workerGroup} not Running yet`);
    }
  }
  if (pending.repairs.length + pending.moves.length > 0) out.push(`${pending.repairs.length + pending.moves.length} step(s) left to take`);
  if (wait) out.push(...notReadyYet(state));
  const all = workerGroupSpecs(state).every((g) => workerGroups.includes(g.groupName ?? ''));
  if (wait && all && out.length === 0) out.push(...kubeRayNotReady(state));
  return out;
}

/**
 * Pods that run and are Ready are not yet a RayCluster that KubeRay counts ready: its status follows
 * a reconcile later, and a RayJob (or anyone reading the status) goes by that. The whole group's
 * wait ends only once KubeRay's own status has caught up with its spec.
 */
export function kubeRayNotReady(state: GroupState): string[] {
  // A suspended RayCluster is never ready, by design: there is nothing to wait for.
  if ((state.rayCluster.spec as {suspend?: boolean} | undefined)?.suspend === true) return [];
  const status = (state.rayCluster as {status?: {state?: string; readyWorkerReplicas?: number; desiredWorkerReplicas?: number}}).status;
  const want = workerGroupSpecs(state).reduce((n, g) => n + desiredWorkerPods(g), 0);
  const ready = status?.readyWorkerReplicas ?? 0;
  if (status?.state === 'ready' && status.desiredWorkerReplicas === want && ready >= want) return [];
  return [`KubeRay to count the RayCluster ready (its status: ${status?.state ?? 'none yet'}, ${ready} of ${want} worker(s) ready)`];
}
