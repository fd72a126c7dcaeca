import {setMaxListeners} from 'node:events';
import {InputError} from '../errors.js';
import type {Fleet} from '../kube/fleet.js';
import {resourceForKind, RESOURCES} from '../kube/resources.js';
import type {KubeObject, Node, Pod} from '../kube/types.js';
import {nodeTakesPods} from '../placement/capacity.js';
import {timeLimit, withTimeLimit} from '../kube/time-limit.js';
import {ClusterCache} from '../kube/informer.js';
import {KubeError} from '../kube/errors.js';
import {RAY_KINDS, type RayKind} from '../kuberay/demand.js';
import {GROUP_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL} from '../kuberay/labels.js';
import {informerSpecs, REMEMBERED} from './informed.js';
import {fleetStatus, KUBE_SYSTEM, refuseSharedClusters, type FleetStatus} from './fleet-status.js';
import {collectLeftovers, type CollectResult} from './collect.js';
import {isGroup, managedRayObjects, NotPlacedError, parseGroupRef, rayClusterNames, UnstartedError} from './group.js';
import {LeaseHeldError} from './lease.js';
import {observeGroupStatus, type GroupStatus} from './group-status.js';
import {spanGroup, type SpanResult} from './span.js';

/** A group as watch knows it: enough to find its events and to reconcile it. */
export interface WatchedGroup {
  key: string;
  kind: RayKind;
  name: string;
  namespace: string;
  /** Where its Ray object was seen: the home, or both ends of a move. */
  contexts: string[];
  /** Its live RayCluster, whose pods carry ray.io/cluster=<this>. */
  rayCluster?: string;
}

/** What watch tells its renderer: plain data, in the order it happened. */
export type WatchReport =
  | {type: 'cluster'; at: string; context: string; state: 'Ready' | 'Degraded'; reason?: string}
  | {type: 'groups'; at: string; groups: WatchedGroup[]}
  | {type: 'pass'; at: string; group: string; trigger: string; result: SpanResult; ms: number}
  | {type: 'wait'; at: string; group: string; message: string}
  /** With `detail`: where the group runs after a pass, and the fleet's capacity every few seconds. */
  | {type: 'status'; at: string; group: string; status: GroupStatus}
  | {type: 'fleet'; at: string; fleet: FleetStatus}
  /** Garbage collection across the fleet: what was left of RayClusters and groups that are gone. */
  | {type: 'collected'; at: string; trigger: string; result: CollectResult}
  | {type: 'error'; at: string; group?: string; message: string};

export interface WatchOptions {
  /** GROUP arguments; empty: every group the tool manages in the fleet. */
  groups: string[];
  /** -n; undefined: every namespace. */
  namespace?: string;
  /** Reconcile every group once, then stop (watch --once). */
  once: boolean;
  copySecrets: boolean;
  /** Stops the watch: Ctrl-C, SIGTERM, q. A pass in flight finishes first. */
  signal: AbortSignal;
  report: (r: WatchReport) => void;
  /** Observe only while true (the TUI's p). */
  paused?: () => boolean;
  /** The backstop: every group is reconciled this often even without events. */
  resyncMs?: number;
  /** How long one pass may take before it is abandoned (and retried). */
  passTimeoutMs?: number;
  /** Also report each group's status after its pass and the fleet's capacity (for the TUI); costs reads. */
  detail?: boolean;
  /** How often the fleet's capacity is reported with `detail`. */
  fleetEveryMs?: number;
}

const now = () => new Date().toISOString();

function groupKey(namespace: string, kind: RayKind, name: string): string {
  return `${namespace}/${kind.toLowerCase()}/${name}`;
}

/** A coalescing queue: a key queued while it waits is queued once; one queued while it runs runs again after. */
class WorkQueue {
  private readonly dirty = new Map<string, string>();
  private wake?: () => void;

  add(key: string, why: string): void {
    if (!this.dirty.has(key)) this.dirty.set(key, why);
    this.wake?.();
  }

  /** The next key and what queued it; waits until there is one, or the signal aborts. `idle` runs at each wake-up. */
  async next(signal: AbortSignal, idle?: () => void): Promise<[string, string] | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      idle?.();
      const first = this.dirty.entries().next();
      if (!first.done) {
        this.dirty.delete(first.value[0]);
        return first.value;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, 1000);
        this.wake = done;
        signal.addEventListener('abort', done, {once: true});
      });
      this.wake = undefined;
    }
  }

  get size(): number {
    return this.dirty.size;
  }
}

/** A node as the scheduler's filters see it, without the usage: Ready, cordoned, its hard taints. */
function whatNodeTakes(node: Node): string {
  const taints = (node.spec?.taints ?? [])
    .filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
    .map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`)
    .sort();
  return `${nodeTakesPods(node)} ${taints.join(',')}`;
}

/**
 * The client-side control loop (docs/design.md §5): watches pods and Ray objects in every fleet cluster,
 * maps each event to its group, and reconciles that group (the repairs and swaps of `span`, under
 * the group's Lease). Events for a group that arrive while it is being reconciled coalesce into one
 * more pass. Every (re)list reconciles every group, and a slow resync is the backstop. A cluster
 * whose watch fails is reported degraded; reconciling goes on for the others, and nothing of the
 * degraded one is taken to be missing.
 */
export async function watchFleet(fleet: Fleet, options: WatchOptions): Promise<{failedPasses: number; degraded: string[]}> {
  const wanted = options.groups.map((g) => parseGroupRef(g));
  const {signal, report} = options;
  // Every watch stream (an informer's, per kind and cluster), every request in flight (8 per
  // cluster at most), every read waiting for the cache and the probes listen to this one signal at
  // once: that is not a leak.
  const specs = informerSpecs(options.namespace);
  setMaxListeners(fleet.clusters.length * (specs.length + 8 + 8 + 2) + 16, signal);
  const groups = new Map<string, WatchedGroup>();
  /** ns/raycluster -> group key, and ns/group name -> group key. */
  const byRayCluster = new Map<string, string>();
  const byName = new Map<string, string>();
  const queue = new WorkQueue();
  const enqueueAll = (why: string) => {
    for (const key of groups.keys()) queue.add(key, why);
  };
  const clusterState = new Map<string, 'Ready' | 'Degraded'>();

  const setCluster = (context: string, state: 'Ready' | 'Degraded', reason?: string) => {
    const before = clusterState.get(context);
    if (before === state) return;
    // An event on a watch that still streams does not answer for the requests that went unanswered:
    // only a probe that gets an answer ends the silence, and with it the Degraded state.
    if (state === 'Ready' && fleet.cluster(context).silent) return;
    clusterState.set(context, state);
    report({type: 'cluster', at: now(), context, state, ...(reason ? {reason} : {})});
    if (state === 'Degraded') {
      fleet.cluster(context).cache?.suspect();
      void probeUntilBack(context);
    }
    // Back: what it holds may have changed meanwhile, and decisions skipped it.
    else if (before === 'Degraded') enqueueAll(`cluster ${context} is back`);
  };

  /** A watch that resumes quietly would not say when its cluster is back: ask it directly. */
  const probeUntilBack = async (context: string) => {
    const client = fleet.cluster(context);
    while (!signal.aborted && clusterState.get(context) === 'Degraded') {
      await new Promise((resolve) => setTimeout(resolve, 2000).unref());
      try {
        await client.probe(signal);
        setCluster(context, 'Ready');
      } catch {
        // Still away; try again.
      }
    }
  };

  // A cluster out of reach (a partition that drops packets, or refuses) shows as Degraded at the
  // first request that could not reach it; its watches alone would be found dead only minutes later,
  // or never, when their streams stay open and silent.
  const quiet = fleet.clusters.map((client) => client.onUnreachable((err) => setCluster(client.context, 'Degraded', err.message)));
  const stopListening = () => {
    for (const off of quiet) off();
  };

  const isWanted = (kind: RayKind, name: string) => wanted.length === 0 || wanted.some((w) => w.name === name && (!w.kind || w.kind === kind));

  const remember = (context: string, kind: RayKind, object: KubeObject): string | undefined => {
    const name = object.metadata?.name ?? '';
    const namespace = object.metadata?.namespace ?? '';
    if (!isWanted(kind, name)) return undefined;
    const key = groupKey(namespace, kind, name);
    const known = groups.get(key);
    // A RayService upgrading has two: the pods of either concern the group.
    const names = rayClusterNames(kind, object);
    const rayCluster = names[0] ?? known?.rayCluster;
    const group: WatchedGroup = {key, kind, name, namespace, contexts: [...new Set([...(known?.contexts ?? []), context])], ...(rayCluster ? {rayCluster} : {})};
    groups.set(key, group);
    for (const n of names) byRayCluster.set(`${namespace}/${n}`, key);
    byName.set(`${namespace}/${name}`, key);
    return key;
  };

  const discover = async () => {
    const found = await Promise.all(
      fleet.clusters.map(async (client) => {
        try {
          return {client, objects: await managedRayObjects(client, options.namespace, signal)};
        } catch (err) {
          setCluster(client.context, 'Degraded', (err as Error).message);
          return {client, objects: undefined};
        }
      }),
    );
    const before = groups.size;
    for (const {client, objects} of found) for (const {kind, object} of objects ?? []) remember(client.context, kind, object);
    if (groups.size !== before || before === 0) report({type: 'groups', at: now(), groups: [...groups.values()]});
    return found.every((f) => f.objects !== undefined);
  };

  // Only who each cluster is, not how full: enough to refuse two contexts of one cluster.
  refuseSharedClusters(
    await Promise.all(
      fleet.clusters.map(async (c) => ({context: c.context, clusterId: (await c.get<KubeObject>(RESOURCES.namespaces, KUBE_SYSTEM, undefined, signal).catch(() => undefined))?.metadata?.uid})),
    ),
  );
  await discover();
  if (options.namespace && groups.size === 0) {
    const found = await Promise.all(fleet.clusters.map((c) => c.find(RESOURCES.namespaces, options.namespace!, undefined, signal).catch(() => 'unknown' as const)));
    if (found.every((f) => f === undefined)) report({type: 'error', at: now(), message: `namespace "${options.namespace}" exists in no fleet cluster; watching for groups placed there (fix -n if that is a typo)`});
  }
  for (const w of wanted) {
    if (![...groups.values()].some((g) => g.name === w.name && (!w.kind || g.kind === w.kind))) {
      const where = options.namespace ? `namespace "${options.namespace}"` : 'any namespace';
      if ([...clusterState.values()].includes('Degraded')) report({type: 'error', at: now(), message: `group "${w.name}" not found yet in ${where}: some clusters did not answer`});
      else throw new InputError(`group "${w.name}" is not placed in ${where} of any fleet cluster`, 'place it first with "kubectl superskyray place -f FILE", or fix the name and -n');
    }
  }

  const passTimeout = options.passTimeoutMs ?? 120_000;
  let failedPasses = 0;
  const scope = {...(options.namespace ? {namespace: options.namespace} : {}), ...(wanted.length > 0 ? {groups: [...new Set(wanted.map((w) => w.name))]} : {})};
  /** Garbage collection of the fleet (or of one group gone): false when some cluster did not answer, so it is not finished. */
  let sweeping = false;
  const collect = async (trigger: string, only?: WatchedGroup): Promise<boolean> => {
    // One sweep of the whole fleet at a time: a slow one is not stacked on by the next resync. While
    // paused nothing is written; the next resync sweeps.
    if (!only && (sweeping || options.paused?.())) return false;
    if (!only) sweeping = true;
    try {
      const result = await withTimeLimit(signal, passTimeout, () => new Error(`garbage collection took longer than ${passTimeout / 1000}s and was abandoned`), (limited) =>
        collectLeftovers(fleet, only ? {namespace: only.namespace, groups: [only.name]} : scope, {dryRun: false, signal: limited}),
      );
      if (result.steps.length > 0 || (only && result.unobserved.length > 0)) report({type: 'collected', at: now(), trigger, result});
      return result.unobserved.length === 0;
    } catch (err) {
      if (!signal.aborted) report({type: 'error', at: now(), ...(only ? {group: only.key} : {}), message: `garbage collection: ${(err as Error).message}`});
      return false;
    } finally {
      if (!only) sweeping = false;
    }
  };
  const reconcile = async (key: string, trigger: string) => {
    const group = groups.get(key);
    if (!group) return;
    const started = Date.now();
    const pass = timeLimit(signal, passTimeout, () => new Error(`the pass took longer than ${passTimeout / 1000}s and was abandoned`));
    const passSignal = pass.signal;
    try {
      const result = await spanGroup(fleet, {
        group: `${group.kind.toLowerCase()}/${group.name}`,
        namespace: group.namespace,
        dryRun: false,
        copySecrets: options.copySecrets,
        signal: passSignal,
        // Another run holding the group's lease is acting on it: do not stall the other groups.
        leaseWaitMs: 3000,
        // A group it must not span is reported on every pass, and the others go on.
        onRefusal: 'warn',
        onWait: (holder) => report({type: 'wait', at: now(), group: key, message: `waiting for ${holder}, which is changing this group`}),
      });
      if (result.rayCluster) {
        group.rayCluster = result.rayCluster;
        byRayCluster.set(`${group.namespace}/${result.rayCluster}`, key);
      }
      report({type: 'pass', at: now(), group: key, trigger, result, ms: Date.now() - started});
      if (options.detail) report({type: 'status', at: now(), group: key, status: await observeGroupStatus(fleet, `${group.kind.toLowerCase()}/${group.name}`, group.namespace, passSignal)});
    } catch (err) {
      if (signal.aborted) return;
      // Nothing to act on until KubeRay makes the RayCluster; the Ray object's change then brings it back.
      if (err instanceof UnstartedError) {
        report({type: 'wait', at: now(), group: key, message: err.message});
        return;
      }
      if (err instanceof NotPlacedError) {
        // Its Ray object is gone: what was made for it goes, and then the group is off the screen.
        // Until every cluster answered, it stays, and is looked at again.
        if (await collect(`${key} is gone`, group)) {
          groups.delete(key);
          report({type: 'groups', at: now(), groups: [...groups.values()]});
        } else {
          setTimeout(() => queue.add(key, 'garbage collection not finished'), 2000).unref();
        }
        return;
      }
      failedPasses++;
      // Another run is acting on the group: not a failure, and it will be looked at again.
      if (err instanceof LeaseHeldError) report({type: 'wait', at: now(), group: key, message: err.message});
      else report({type: 'error', at: now(), group: key, message: (err as Error).message});
      // Something only the user can fix (a foreign Service in the way, say): said once per pass, and
      // looked at again on the next event or resync, not every two seconds.
      if (err instanceof InputError) return;
      // Try again a little later; events may well bring it back sooner.
      setTimeout(() => queue.add(key, 'retry after an error'), 2000).unref();
    } finally {
      pass.done();
    }
  };

  const degraded = () => [...clusterState].filter(([, state]) => state === 'Degraded').map(([context]) => context);
  if (options.once) {
    for (const key of groups.keys()) await reconcile(key, 'once');
    await collect('once');
    stopListening();
    return {failedPasses, degraded: degraded()};
  }

  /**
   * While paused (the TUI's p) nothing is written, but the group rows still follow what happens:
   * a changed group is looked at, read-only, and reconciled once the pause ends.
   */
  const missed = new Set<string>();
  const observeOnly = async (key: string) => {
    missed.add(key);
    const group = groups.get(key);
    if (!group || !options.detail) return;
    try {
      await withTimeLimit(signal, passTimeout, () => new Error(`the look took longer than ${passTimeout / 1000}s`), async (limited) =>
        report({type: 'status', at: now(), group: key, status: await observeGroupStatus(fleet, `${group.kind.toLowerCase()}/${group.name}`, group.namespace, limited)}),
      );
    } catch (err) {
      if (signal.aborted) return;
      // A group gone stays missed: what was made for it goes once the pause ends, and then the group.
      if (err instanceof NotPlacedError) report({type: 'wait', at: now(), group: key, message: 'its Ray object is gone; what was made for it goes when reconciling resumes'});
      else report({type: 'error', at: now(), group: key, message: (err as Error).message});
    }
  };

  const onPod = (context: string, pod: Pod) => {
    const ns = pod.metadata?.namespace ?? '';
    const labels = pod.metadata?.labels ?? {};
    const key = byRayCluster.get(`${ns}/${labels[RAY_CLUSTER_LABEL]}`) ?? byName.get(`${ns}/${labels[GROUP_LABEL]}`);
    if (key) queue.add(key, `pod ${pod.metadata?.name} changed in ${context}`);
  };

  const onRayObject = (context: string, kind: RayKind, type: string, object: KubeObject) => {
    const owner = kind === 'RayCluster' ? object.metadata?.ownerReferences?.find((r) => r.controller) : undefined;
    const ns = object.metadata?.namespace ?? '';
    if (owner) {
      // A RayService's or RayJob's cluster: its changes (replicas, say, or its deletion) concern its owner's group.
      const key = byRayCluster.get(`${ns}/${object.metadata?.name}`) ?? groups.get(groupKey(ns, owner.kind as RayKind, owner.name))?.key;
      if (key) queue.add(key, `raycluster/${object.metadata?.name} ${type.toLowerCase()} in ${context}`);
      return;
    }
    const what = `${kind.toLowerCase()}/${object.metadata?.name} ${type.toLowerCase()} in ${context}`;
    if (object.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) {
      const key = remember(context, kind, object);
      if (key) queue.add(key, what);
      return;
    }
    // No longer the tool's (its label taken off): the pass finds it gone, and collects.
    const known = groups.get(groupKey(ns, kind, object.metadata?.name ?? ''));
    if (known) queue.add(known.key, what);
  };

  const running: Array<Promise<void>> = [];
  for (const client of fleet.clusters) {
    const cache = new ClusterCache(client, specs, REMEMBERED);
    client.cache = cache;
    // What each node takes, as the scheduler's filters see it: a cordon, an uncordon, a taint put on
    // or taken off (the node controller follows a cordon with one), a node Ready again or gone
    // changes where placeholders can go (they skip the scheduler), so it calls for a pass; heartbeats
    // do not.
    const takes = new Map<string, string>();
    const onNode = (type: string, node: Node) => {
      const name = node.metadata?.name ?? '';
      const before = takes.get(name);
      if (type === 'DELETED') takes.delete(name);
      else takes.set(name, whatNodeTakes(node));
      if (before !== undefined && before !== takes.get(name)) enqueueAll(`node ${name} changed in ${client.context}: ${nodeTakesPods(node) && type !== 'DELETED' ? 'it takes pods' : 'it takes no pods'}`);
    };
    /** After a relist: whether any node changed meanwhile, in what it takes. */
    const onNodes = (nodes: Node[]) => {
      const before = new Map(takes);
      takes.clear();
      for (const n of nodes) takes.set(n.metadata?.name ?? '', whatNodeTakes(n));
      const changed = before.size > 0 && (before.size !== takes.size || [...takes].some(([name, now]) => before.get(name) !== now));
      if (changed) enqueueAll(`nodes relisted in ${client.context}, some changed in what they take`);
    };
    for (const informer of cache.informers) {
      const {type} = informer.spec;
      const kind = RAY_KINDS.find((k) => resourceForKind(k) === type);
      const rayPods = type === RESOURCES.pods && informer.spec.labelSelector !== undefined;
      informer.listen({
        sync: (items) => {
          setCluster(client.context, 'Ready');
          if (type === RESOURCES.nodes) onNodes(items as Node[]);
          if (kind) for (const o of items) if (isGroup(kind, o)) remember(client.context, kind, o);
          if (kind || rayPods) enqueueAll(`${kind ? `${kind} objects` : 'pods'} (re)listed in ${client.context}`);
        },
        event: (eventType, object) => {
          setCluster(client.context, 'Ready');
          if (rayPods) onPod(client.context, object as Pod);
          else if (kind) onRayObject(client.context, kind, eventType, object);
          else if (type === RESOURCES.nodes) onNode(eventType, object as Node);
        },
        error: (err) => setCluster(client.context, 'Degraded', err.message),
        stopped: (err) => {
          // Without the secrets role there are no Secret copies to watch; reads of them go to the API as before.
          if (type === RESOURCES.secrets && err instanceof KubeError && err.code === 403) return;
          report({type: 'error', at: now(), message: `the ${type.resource} watch of context "${client.context}" stopped: ${err.message}; those reads go to the API from now on`});
        },
      });
    }
    // Not waited for here: each first list queues every group, and a pass that reads a kind before
    // its list is in waits for that list alone. A cluster that does not answer fails its lists within
    // the request timeout, and its reads then go to the API, which fails fast: it holds up no other.
    running.push(cache.start(signal).running);
  }
  // Groups gone while nothing watched them: what was left of them goes now, beside the first passes.
  void collect('start');

  const fleetLook = options.detail
    ? setInterval(() => {
        void withTimeLimit(signal, 10_000, () => new Error('the fleet look took longer than 10s'), (limited) => fleetStatus(fleet, limited)).then(
          (f) => report({type: 'fleet', at: now(), fleet: f}),
          () => undefined,
        );
      }, options.fleetEveryMs ?? 5000)
    : undefined;
  fleetLook?.unref();
  if (options.detail) void fleetStatus(fleet, signal).then((f) => report({type: 'fleet', at: now(), fleet: f}), () => undefined);
  const resync = setInterval(() => {
    void discover().then(async () => {
      enqueueAll('resync');
      await collect('resync');
    });
  }, options.resyncMs ?? 60_000);
  resync.unref();
  try {
    // After a pause, what changed during it is reconciled at once, even with no new event.
    const catchUp = () => {
      if (missed.size === 0 || options.paused?.()) return;
      for (const key of missed) queue.add(key, 'changed while paused');
      missed.clear();
    };
    for (;;) {
      const next = await queue.next(signal, catchUp);
      if (!next) break;
      if (options.paused?.()) await observeOnly(next[0]);
      else await reconcile(next[0], next[1]);
    }
  } finally {
    clearInterval(resync);
    if (fleetLook) clearInterval(fleetLook);
    await Promise.all(running);
    for (const client of fleet.clusters) client.cache = undefined;
    stopListening();
  }
  return {failedPasses, degraded: degraded()};
}
