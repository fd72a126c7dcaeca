import {InputError} from '../errors.js';
import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import {sleep} from '../kube/retry.js';
import {describeObject, RESOURCES, resourceForKind, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Node, Pod} from '../kube/types.js';
import {nodeTakesPods} from '../placement/capacity.js';
import {MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL, RAY_GROUP_LABEL} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {
  CILIUM_GLOBAL,
  localHeadServicePatch,
  ciliumHeadServiceCopy,
  endpointsHeadServiceCopy,
  globalHeadServicePatch,
  headEndpointSlice,
  closeCopyPatch,
  copyUpdatePatch,
  dependencyCopy,
  lockPatch,
  lockStatusPatch,
  placeholderBudget,
  placeholderBudgetName,
  placeholderPod,
  podReferences,
  TEMPLATE_ANNOTATION,
  remoteReadyPatch,
  remoteWorker,
  remoteWorkerPod,
  workerGroupTemplate,
  isMarkedFailed,
  unlockPatch,
  type SwapContext,
  type SwapTarget,
} from '../kuberay/swap.js';
import {headPodIP, type GroupLook, type GroupState, type UnstartedGroup} from './group.js';
import type {ObservedCluster} from './observe.js';
import {IN_THE_WAY_FIX, objectsInTheWay, subjectOf} from './preflight.js';
import {recordEvent} from './events.js';
import {notJoinedPatch, templateHash} from '../kuberay/joins.js';
import type {Absent, Repair, SwapStep} from './repair.js';

/**
 * How long KubeRay gets to delete a Pending worker marked Failed: it does so on that pod's event,
 * within a second when it runs, so a longer wait means it does not.
 */
const LOCK_TIMEOUT_MS = 30_000;

/** A swap to make or resume: the Pending worker, where it goes, and the steps still due. */
export interface Swap {
  pod: Pod;
  target: SwapTarget;
  steps: SwapStep[];
  /** The home node its placeholder is bound to, when the placeholder is still to be made. */
  node?: string;
  why: string;
}

/** Every step of the swap of a worker that moves from home to another cluster. */
export const ALL_STEPS: SwapStep[] = ['lock', 'fail', 'await', 'placeholder', 'remote', 'unlock'];

/** One worker that moves from home to another cluster by the swap. */
export interface Move {
  /** The Pending worker. */
  pod: Pod;
  /** The name it runs under: the placeholder's and the remote worker's. */
  name: string;
  /** Target cluster id. */
  cluster: string;
  /** The home node its placeholder is bound to. */
  node: string;
}

/** A remote cluster made ready for the group's workers: what is still missing there. */
export interface Readiness {
  cluster: ObservedCluster;
  namespaceMissing: boolean;
  copies: KubeObject[];
  /** The head-Service copy, and in mesh mode `endpoints` its EndpointSlice, where missing. */
  headServiceCopy?: KubeObject;
  endpointSlice?: KubeObject;
}

/** What one step did, for output: the verb, the object, the context and why. */
export interface Step {
  action: string;
  object: string;
  context: string;
  why: string;
}

export function clusterById(state: GroupLook, id: string): ObservedCluster | undefined {
  return state.fleet.find((o) => o.snapshot?.id === id);
}

export function swapContext(state: GroupState, remoteClusterId: string): SwapContext {
  return {
    group: state.name,
    homeClusterId: state.home.snapshot!.id,
    remoteClusterId,
    rayCluster: {name: state.rayCluster.metadata.name, uid: state.rayCluster.metadata.uid},
    ...(state.claims ? {claims: state.claims} : {}),
  };
}

/**
 * Reads what each target cluster lacks for the workers that go there, and checks it can be made:
 * a missing Secret is an error unless --copy-secrets was given. Nothing is written. `beforehand`:
 * a check made before the workers exist (scale, before it writes replicas), when KubeRay may not
 * have made the head yet: its Service and address are then left to the pass that moves them.
 */
export async function checkTargets(
  state: GroupState,
  workers: Array<{pod: Pod; cluster: string}>,
  options: {copySecrets: boolean; signal?: AbortSignal; beforehand?: boolean},
): Promise<Readiness[]> {
  const {namespace, home} = state;
  const {signal} = options;
  const out: Readiness[] = [];
  const headName = headServiceName('RayCluster', state.rayCluster.metadata.name, state.rayCluster.spec);
  let headService: KubeObject | undefined;
  for (const id of [...new Set(workers.map((w) => w.cluster))]) {
    const cluster = clusterById(state, id)!;
    const ctx = swapContext(state, id);
    const wanted = new Map<string, [ResourceType, string]>();
    for (const {pod} of workers.filter((w) => w.cluster === id)) {
      const refs = podReferences(pod.spec!);
      for (const n of refs.configMaps) wanted.set(`cm/${n}`, [RESOURCES.configmaps, n]);
      for (const n of refs.secrets) wanted.set(`secret/${n}`, [RESOURCES.secrets, n]);
      if (refs.serviceAccount !== 'default') wanted.set(`sa/${refs.serviceAccount}`, [RESOURCES.serviceaccounts, refs.serviceAccount]);
    }
    const copies: KubeObject[] = [];
    for (const [type, name] of wanted.values()) {
      if (await cluster.client.find(type, name, namespace, signal)) continue;
      if (type === RESOURCES.secrets && !options.copySecrets) {
        throw new InputError(
          `${describeObject(type, name, namespace)} is missing in context "${cluster.client.context}", and the workers need it`,
          'create it there, or pass --copy-secrets to copy it from the home cluster',
        );
      }
      const source = await home.client.find<KubeObject>(type, name, namespace, signal);
      if (!source) throw new InputError(`${describeObject(type, name, namespace)} is missing in the home cluster "${home.client.context}" too`, 'create it, then run again');
      copies.push(dependencyCopy(source, ctx));
    }
    const namespaceMissing = (await cluster.client.find(RESOURCES.namespaces, namespace, undefined, signal)) === undefined;
    const seen = namespaceMissing ? {lines: []} : await objectsInTheWay(subjectOf(state), {client: cluster.client, id}, signal);
    if (seen.lines.length > 0) throw new InputError(seen.lines.join('; '), IN_THE_WAY_FIX);
    const existing = seen.service;
    const hasCopy = existing !== undefined;
    const readiness: Readiness = {cluster, namespaceMissing, copies};
    headService ??= await home.client.find<KubeObject>(RESOURCES.services, headName, namespace, signal);
    if (!headService) {
      if (options.beforehand) {
        out.push(readiness);
        continue;
      }
      throw new Error(`the head Service ${headName} of raycluster/${state.rayCluster.metadata.name} in context "${home.client.context}" is not there, and remote workers reach the head through it; run again once KubeRay has made it`);
    }
    if (state.mesh === 'endpoints') {
      const ip = headPodIP(state);
      if (!ip && options.beforehand) {
        out.push(readiness);
        continue;
      }
      if (!ip) throw new Error(`the head pod of raycluster/${state.rayCluster.metadata.name} in context "${home.client.context}" has no IP yet, and mesh mode endpoints needs it; run again once the head runs`);
      if (!hasCopy) readiness.headServiceCopy = endpointsHeadServiceCopy(headService, ctx);
      const slice = seen.slice;
      if (!slice) readiness.endpointSlice = headEndpointSlice(headService, ip, ctx);
    } else if (!hasCopy) {
      readiness.headServiceCopy = ciliumHeadServiceCopy(headService, ctx);
    }
    out.push(readiness);
  }
  return out;
}

/** The Pod Security admission labels of a namespace (enforce, audit, warn and their versions). */
export function podSecurityLabels(namespace: KubeObject | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(namespace?.metadata?.labels ?? {}).filter(([key]) => key.startsWith('pod-security.kubernetes.io/')));
}

/** Makes the writes of a plan: readiness first, then repairs, then moves, each step reported. */
export class Actor {
  readonly steps: Step[] = [];
  /** Steps skipped because the object changed since it was observed. */
  conflicts = 0;
  /**
   * The Pending workers whose swap this actor finished. A move that met a conflict, or backed out,
   * is not among them: it was not spanned, and only a new look can say what to do with it.
   */
  readonly swapped = new Set<string>();
  /** What did not go as planned and the user should know. */
  readonly warnings: string[] = [];
  /** The Ray object as this run last wrote it (the not-joined record). */
  private rayObject?: KubeObject;

  /** A group whose RayCluster is gone gets only deletes and unlocks, which need no RayCluster. */
  constructor(
    private readonly group: GroupState | UnstartedGroup,
    private readonly signal?: AbortSignal,
  ) {}

  private get state(): GroupState {
    if ('unstarted' in this.group) throw new Error(`${this.group.unstarted}: nothing to act on but what is left of it`);
    return this.group;
  }

  private get home(): ClusterClient {
    return this.group.home.client;
  }

  private note(action: string, type: ResourceType, name: string, client: ClusterClient, why: string): void {
    this.steps.push({action, object: `${type.kind.toLowerCase()}/${name}`, context: client.context, why});
  }

  async makeReady(readiness: Readiness[]): Promise<void> {
    const {namespace, signal} = {namespace: this.state.namespace, signal: this.signal};
    if (readiness.length === 0) return;
    const headName = headServiceName('RayCluster', this.state.rayCluster.metadata.name, this.state.rayCluster.spec);
    const head = await this.home.get<KubeObject>(RESOURCES.services, headName, namespace, signal);
    if (this.state.mesh === 'cilium' && head.metadata?.annotations?.[CILIUM_GLOBAL] !== 'true') {
      await this.home.patch(RESOURCES.services, headName, namespace, globalHeadServicePatch(), 'merge', {signal});
      this.note('annotate', RESOURCES.services, headName, this.home, 'the head Service is global in the mesh');
    }
    const podSecurity = readiness.some((r) => r.namespaceMissing) ? podSecurityLabels(await this.home.find<KubeObject>(RESOURCES.namespaces, namespace, undefined, signal)) : {};
    for (const r of readiness) {
      const client = r.cluster.client;
      if (r.namespaceMissing) {
        await this.createIfAbsent(client, RESOURCES.namespaces, {
          apiVersion: 'v1',
          kind: 'Namespace',
          // Every group of the namespace may come to share it, so it carries no group's label, and
          // nothing of the tool deletes it: that would delete all it holds. It enforces what home's
          // does, never less: the workers run there under the same Pod Security as at home.
          metadata: {name: namespace, labels: {...podSecurity, [MANAGED_BY_LABEL]: MANAGED_BY}},
        }, 'the workers run in the same namespace');
      }
      for (const copy of r.copies) await this.createIfAbsent(client, resourceForKind(copy.kind)!, copy, 'the workers need it');
      if (r.headServiceCopy) await this.createIfAbsent(client, RESOURCES.services, r.headServiceCopy, 'the head address resolves there to the home head');
      if (r.endpointSlice) await this.createIfAbsent(client, RESOURCES.endpointslices, r.endpointSlice, "the head-Service copy's endpoint: the head pod");
    }
  }

  async repair(r: Repair): Promise<void> {
    const {namespace} = this.group;
    const signal = this.signal;
    if ('absent' in r && r.absent && (await this.isThere(r.absent))) {
      // Made meanwhile, by another run whose writes this one's cache has yet to see: the next pass does.
      this.conflicts++;
      return;
    }
    switch (r.do) {
      case 'swap':
        return this.swaps([r]);
      case 'unlock':
        return this.unlock(r.pod, r.why);
      case 'delete-remote':
        return this.deleteIfPresent(clusterById(this.group, r.cluster)!.client, RESOURCES.pods, r.pod, r.why);
      case 'delete-copy':
        return this.deleteIfPresent(clusterById(this.group, r.cluster)!.client, resourceForKind(r.object.kind)!, r.object, r.why);
      case 'update-copy': {
        const client = clusterById(this.state, r.cluster)!.client;
        const type = resourceForKind(r.object.kind)!;
        const name = r.object.metadata!.name!;
        try {
          await client.patch(type, name, namespace, copyUpdatePatch(r.object, dependencyCopy(r.source, swapContext(this.state, r.cluster))), 'merge', {signal});
          this.note('update', type, name, client, r.why);
        } catch (err) {
          // Changed or gone since it was observed: the next pass looks again.
          if (!(err instanceof KubeError && (err.code === 409 || err.code === 404))) throw err;
          this.conflicts++;
        }
        return;
      }
      case 'close-copy': {
        const client = clusterById(this.state, r.cluster)!.client;
        const name = r.object.metadata!.name!;
        try {
          await client.patch(RESOURCES.services, name, namespace, closeCopyPatch(r.object), 'merge', {signal});
          this.note('update', RESOURCES.services, name, client, r.why);
        } catch (err) {
          if (!(err instanceof KubeError && (err.code === 409 || err.code === 404))) throw err;
          this.conflicts++;
        }
        return;
      }
      case 'make-budget':
        return this.createIfAbsent(this.home, RESOURCES.poddisruptionbudgets, placeholderBudget(swapContext(this.state, ''), namespace), r.why);
      case 'delete-budget':
        return this.deleteIfPresent(this.home, RESOURCES.poddisruptionbudgets, {metadata: {name: placeholderBudgetName(this.state.rayCluster.metadata.name)}}, r.why);
      case 'make-head-local':
        await this.home.patch(RESOURCES.services, r.service, namespace, localHeadServicePatch(), 'merge', {signal});
        this.note('annotate', RESOURCES.services, r.service, this.home, r.why);
        return;
      case 'update-endpoints': {
        const client = clusterById(this.state, r.cluster)!.client;
        const name = r.object.metadata!.name!;
        await client.patch(RESOURCES.endpointslices, name, namespace, {endpoints: [{addresses: [r.ip], conditions: {ready: true}}]}, 'merge', {signal});
        this.note('update', RESOURCES.endpointslices, name, client, r.why);
        return;
      }
      case 'delete-placeholder':
        return this.deleteIfPresent(this.home, RESOURCES.pods, r.pod, r.why);
      case 'give-up': {
        // Recorded before anything goes: a run stopped after the deletes would otherwise send the
        // worker there again.
        const state = this.state;
        const current = workerGroupTemplate(state.rayCluster.spec, r.workerGroup);
        // The template it was built from: a template fixed since is tried again.
        const template = r.pod.metadata?.annotations?.[TEMPLATE_ANNOTATION] ?? (current ? templateHash(current) : '');
        const type = resourceForKind(state.kind)!;
        const remote = clusterById(state, r.cluster)!.client;
        const entry = {template, reason: r.reason, at: new Date().toISOString()};
        // Each give-up of a pass adds to what the one before it wrote, not to what the pass observed.
        this.rayObject = await this.home.patch<KubeObject>(type, state.name, namespace, notJoinedPatch(this.rayObject ?? state.object, r.workerGroup, r.cluster, entry), 'merge', {signal});
        this.note('annotate', type, state.name, this.home, `worker group ${r.workerGroup} is not sent to ${remote.context} again until its template changes`);
        await this.deleteIfPresent(remote, RESOURCES.pods, r.remote, r.why);
        await this.deleteIfPresent(this.home, RESOURCES.pods, r.pod, 'its remote worker did not join, so KubeRay makes a Pending worker at home again');
        const failed = await recordEvent(this.home, state.object, 'NotJoined', `remote worker ${r.remote.metadata?.name} of group ${r.workerGroup} did not join in ${remote.context}: ${r.reason}; it is not sent there again until the group's template changes`, signal);
        if (failed) this.warnings.push(`the NotJoined event was not recorded: ${failed}`);
        return;
      }
      case 'set-ready': {
        const name = r.pod.metadata!.name!;
        try {
          await this.home.patch(RESOURCES.pods, name, namespace, remoteReadyPatch(r.ready, r.why, new Date().toISOString()), 'strategic', {signal, subresource: 'status'});
          this.note(r.ready ? 'ready' : 'unready', RESOURCES.pods, name, this.home, r.why);
        } catch (err) {
          if (!(err instanceof KubeError && err.code === 404)) throw err;
        }
        return;
      }
      case 'clear-workers-to-delete': {
        const path = `/spec/workerGroupSpecs/${r.index}`;
        await this.home.patch(
          RESOURCES.rayclusters,
          this.state.rayCluster.metadata.name,
          namespace,
          [
            {op: 'test', path: `${path}/groupName`, value: r.workerGroup},
            {op: 'replace', path: `${path}/scaleStrategy/workersToDelete`, value: []},
          ],
          'json',
          {signal},
        );
        this.note('clear', RESOURCES.rayclusters, `${this.state.rayCluster.metadata.name} workersToDelete of ${r.workerGroup}`, this.home, r.why);
      }
    }
  }

  /**
   * Swaps (docs/span-mechanism.md), the steps still due of each, one swap after the other: KubeRay
   * deletes a Failed worker only while its group is not locked already, so a second lock in the
   * same group waits for the first to be let go. KubeRay's group lock (the Pending worker Failed,
   * deleted, and kept by our finalizer) is held from 'await' to 'unlock', so that neither KubeRay
   * nor the count it acts on moves while the placeholder takes the Pending worker's place. Whatever
   * does not go as observed backs out: the Pending worker is let go, and KubeRay replaces it.
   */
  async swaps(swaps: Swap[]): Promise<void> {
    for (const s of swaps) {
      if (s.steps.includes('lock') && s.steps.includes('placeholder') && !(await this.nodeTakesPlaceholder(s.node!))) {
        // Cordoned, not Ready or gone since the pass saw it (a drain's cordon, whose event this
        // run's cache has yet to see): nothing is written, and the next pass places it anew.
        this.conflicts++;
        continue;
      }
      let pod = await this.lock(s);
      if (!pod) continue;
      if (s.steps.includes('await')) {
        const now = await this.awaitLock(pod);
        if (!now) {
          this.warnings.push(`KubeRay did not delete ${pod.metadata?.name} within ${LOCK_TIMEOUT_MS / 1000} s of it being marked Failed; is its operator running? It stays at home, and KubeRay replaces it when it runs`);
          await this.unlock(pod, 'KubeRay did not take the lock');
          continue;
        }
        pod = now;
      }
      const name = pod.metadata!.name!;
      const ctx = swapContext(this.state, s.target.cluster);
      if (s.steps.includes('placeholder')) {
        const group = workerGroupTemplate(this.state.rayCluster.spec, pod.metadata?.labels?.[RAY_GROUP_LABEL] ?? '');
        const placeholder = placeholderPod(pod, s.target.name, ctx, s.node!, this.state.placeholderImage, group && templateHash(group));
        await this.createIfAbsent(this.home, RESOURCES.pods, placeholder, `KubeRay counts it in place of ${name}; it runs on ${s.node}`);
      }
      if (s.steps.includes('remote')) {
        const group = workerGroupTemplate(this.state.rayCluster.spec, pod.metadata?.labels?.[RAY_GROUP_LABEL] ?? '');
        if (!group) {
          // Its group left the spec meanwhile: KubeRay deletes the placeholder, and the repairs what is left.
          this.warnings.push(`worker group ${pod.metadata?.labels?.[RAY_GROUP_LABEL]} of ${name} is no longer in raycluster/${this.state.rayCluster.metadata.name}: its remote worker is not made`);
        } else {
          const remote = clusterById(this.state, s.target.cluster)!.client;
          const worker = remoteWorkerPod(pod, group, s.target.name, ctx);
          const leftOut = remoteWorker(pod, group, ctx.claims).leftOut;
          await this.createIfAbsent(remote, RESOURCES.pods, worker, leftOut.length > 0 ? `${s.why}; left out of it: ${leftOut.join('; ')}` : s.why);
          this.swapped.add(name);
        }
      } else {
        this.swapped.add(name);
      }
      await this.unlock(pod, `${s.target.name} stands in for it`);
    }
  }

  /** The two writes of the lock that are due; the pod as it then is, or undefined when it changed since it was observed. */
  private async lock(s: Swap): Promise<Pod | undefined> {
    const {namespace, signal} = {namespace: this.state.namespace, signal: this.signal};
    const name = s.pod.metadata!.name!;
    let pod = s.pod;
    try {
      if (s.steps.includes('lock')) {
        pod = await this.home.patch<Pod>(RESOURCES.pods, name, namespace, lockPatch(s.target, pod.metadata?.resourceVersion), 'strategic', {signal});
        this.note('lock', RESOURCES.pods, name, this.home, `${s.why}: it becomes ${s.target.name}`);
      }
      if (s.steps.includes('fail')) {
        pod = await this.home.patch<Pod>(RESOURCES.pods, name, namespace, lockStatusPatch(s.target, pod.metadata?.resourceVersion), 'merge', {signal, subresource: 'status'});
        this.note('fail', RESOURCES.pods, name, this.home, 'KubeRay deletes it and leaves its worker group alone until it is gone');
      }
      return pod;
    } catch (err) {
      // It changed since it was observed (the scheduler may have bound it): the next pass decides again.
      if (!(err instanceof KubeError && (err.code === 409 || err.code === 404))) throw err;
      this.conflicts++;
      if (pod !== s.pod) {
        // A conflict on the second write may be its own retry: the first went through and only its
        // answer was lost. KubeRay then deletes the pod, and unlocking it before its placeholder
        // exists would let KubeRay count one short and make another worker (found by the soak).
        const now = s.steps.includes('fail') ? await this.home.find<Pod>(RESOURCES.pods, name, namespace, signal, {fromServer: true}) : undefined;
        if (now && isMarkedFailed(now, s.target)) {
          this.note('fail', RESOURCES.pods, name, this.home, 'KubeRay deletes it and leaves its worker group alone until it is gone');
          return now;
        }
        await this.unlock(pod, 'it changed while it was being locked');
      }
      return undefined;
    }
  }

  /**
   * Waits for KubeRay to delete a locked Pending worker (a list of the group's pods per look, as
   * every read of pods here): the pod as it then is, or undefined. One gone altogether had our
   * finalizer taken off by someone else: there is no lock to build on.
   */
  private async awaitLock(pod: Pod): Promise<Pod | undefined> {
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    const selector = `${RAY_CLUSTER_LABEL}=${this.state.rayCluster.metadata.name}`;
    for (let delay = 20; ; delay = Math.min(delay * 2, 200)) {
      const pods = await this.home.list<Pod>(RESOURCES.pods, {namespace: this.state.namespace, labelSelector: selector, signal: this.signal});
      const now = pods.items.find((p) => p.metadata?.uid === pod.metadata?.uid);
      if (!now) return undefined;
      if (now.metadata?.deletionTimestamp) return now;
      if (Date.now() > deadline) return undefined;
      await sleep(delay, this.signal);
    }
  }

  private async unlock(pod: Pod, why: string): Promise<void> {
    await this.patchIfPresent(RESOURCES.pods, pod.metadata!.name!, unlockPatch(), 'strategic');
    this.note('unlock', RESOURCES.pods, pod.metadata!.name!, this.home, why);
  }

  /**
   * Whether the home node a placeholder is to be bound to still takes it, asked of the API server:
   * the placeholder skips the scheduler, so nothing else would notice a cordon the cache missed.
   * Without `get` on nodes (RBAC granted before it was asked for) the pass's view stands.
   */
  private async nodeTakesPlaceholder(name: string): Promise<boolean> {
    try {
      const node = await this.home.get<Node>(RESOURCES.nodes, name, undefined, this.signal, {fromServer: true});
      return nodeTakesPods(node);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return false;
      if (err instanceof KubeError && err.code === 403) return true;
      throw err;
    }
  }

  /** Whether the API server itself (not watch's cache) has the pod a repair takes to be absent. */
  private async isThere(absent: Absent): Promise<boolean> {
    const client = absent.cluster === undefined ? this.home : clusterById(this.group, absent.cluster)?.client;
    // A cluster this look did not reach cannot say that anything is absent.
    if (!client) return true;
    const pod = await client.find<Pod>(RESOURCES.pods, absent.name, this.group.namespace, this.signal, {fromServer: true});
    return pod !== undefined && !pod.metadata?.deletionTimestamp;
  }

  private async patchIfPresent(type: ResourceType, name: string, patch: unknown, patchType: 'strategic' | 'merge'): Promise<void> {
    try {
      await this.home.patch(type, name, this.group.namespace, patch, patchType, {signal: this.signal});
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 404)) throw err;
    }
  }

  /** A create that is safe to repeat: an object already there (from an interrupted run) is fine. */
  private async createIfAbsent(client: ClusterClient, type: ResourceType, obj: KubeObject, why: string): Promise<void> {
    try {
      await client.create(type, obj, {signal: this.signal});
      this.note('create', type, obj.metadata?.name ?? '', client, why);
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 409 && err.reason === 'AlreadyExists')) throw err;
    }
  }

  private async deleteIfPresent(client: ClusterClient, type: ResourceType, obj: KubeObject, why: string): Promise<void> {
    const object = {...obj, metadata: {...obj.metadata, namespace: type.namespaced ? this.group.namespace : undefined}};
    if (await deleteObserved(client, type, object, this.signal)) this.note('delete', type, obj.metadata?.name ?? '', client, why);
  }
}

/**
 * Deletes exactly the object observed (UID precondition, when it has one): false when it is gone
 * already, or was replaced by another of the same name, which is not the one observed.
 */
export async function deleteObserved(client: ClusterClient, type: ResourceType, obj: KubeObject, signal?: AbortSignal): Promise<boolean> {
  try {
    await client.delete(type, obj.metadata?.name ?? '', obj.metadata?.namespace, {uid: obj.metadata?.uid, signal});
    return true;
  } catch (err) {
    if (err instanceof KubeError && (err.code === 404 || (err.code === 409 && err.reason === 'Conflict'))) return false;
    throw err;
  }
}
