import {InputError} from '../errors.js';
import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import {describeObject, RESOURCES, resourceForKind, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Pod} from '../kube/types.js';
import {GROUP_LABEL, HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {
  CILIUM_GLOBAL,
  localHeadServicePatch,
  ciliumHeadServiceCopy,
  endpointsHeadServiceCopy,
  globalHeadServicePatch,
  headEndpointSlice,
  headEndpointSliceName,
  holdPatch,
  ownerReferencePatch,
  placeholderPod,
  podReferences,
  releasePatch,
  remoteWorkerPod,
  type SwapContext,
} from '../kuberay/swap.js';
import {headPodIP, type GroupState} from './group.js';
import type {ObservedCluster} from './observe.js';
import type {Repair} from './repair.js';

/** One worker that moves from home to another cluster by the swap. */
export interface Move {
  /** The Pending worker. */
  pod: Pod;
  /** The name it runs under: the placeholder's and the remote worker's. */
  name: string;
  /** Target cluster id. */
  cluster: string;
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

export function clusterById(state: GroupState, id: string): ObservedCluster | undefined {
  return state.fleet.find((o) => o.snapshot?.id === id);
}

export function swapContext(state: GroupState, remoteClusterId: string): SwapContext {
  return {
    group: state.name,
    homeClusterId: state.home.snapshot!.id,
    remoteClusterId,
    rayCluster: {name: state.rayCluster.metadata.name, uid: state.rayCluster.metadata.uid},
  };
}

function copyOf(obj: KubeObject, ctx: SwapContext): KubeObject {
  const {metadata, ...rest} = obj;
  const clean: KubeObject = {
    ...rest,
    metadata: {
      name: metadata?.name,
      namespace: metadata?.namespace,
      labels: {...metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: ctx.group, [ROLE_LABEL]: 'dependency-copy', [HOME_CLUSTER_LABEL]: ctx.homeClusterId},
    },
  };
  delete clean.status;
  // A ServiceAccount's token Secrets belong to the home cluster.
  delete (clean as {secrets?: unknown}).secrets;
  return clean;
}

/**
 * Reads what each target cluster lacks for the workers that go there, and checks it can be made:
 * a missing Secret is an error unless --copy-secrets was given. Nothing is written.
 */
export async function checkTargets(
  state: GroupState,
  workers: Array<{pod: Pod; cluster: string}>,
  options: {copySecrets: boolean; signal?: AbortSignal},
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
      copies.push(copyOf(source, ctx));
    }
    const namespaceMissing = (await cluster.client.find(RESOURCES.namespaces, namespace, undefined, signal)) === undefined;
    const hasCopy = !namespaceMissing && (await cluster.client.find(RESOURCES.services, headName, namespace, signal)) !== undefined;
    headService ??= await home.client.get<KubeObject>(RESOURCES.services, headName, namespace, signal);
    const readiness: Readiness = {cluster, namespaceMissing, copies};
    if (state.mesh === 'endpoints') {
      const ip = headPodIP(state);
      if (!ip) throw new Error(`the head pod of raycluster/${state.rayCluster.metadata.name} in context "${home.client.context}" has no IP yet, and mesh mode endpoints needs it; run again once the head runs`);
      if (!hasCopy) readiness.headServiceCopy = endpointsHeadServiceCopy(headService, ctx);
      if (namespaceMissing || !(await cluster.client.find(RESOURCES.endpointslices, headEndpointSliceName(headName), namespace, signal))) {
        readiness.endpointSlice = headEndpointSlice(headService, ip, ctx);
      }
    } else if (!hasCopy) {
      readiness.headServiceCopy = ciliumHeadServiceCopy(headService, ctx);
    }
    out.push(readiness);
  }
  return out;
}

/** Makes the writes of a plan: readiness first, then repairs, then moves, each step reported. */
export class Actor {
  readonly steps: Step[] = [];
  /** Steps skipped because the object changed since it was observed. */
  conflicts = 0;

  constructor(
    private readonly state: GroupState,
    private readonly signal?: AbortSignal,
  ) {}

  private get home(): ClusterClient {
    return this.state.home.client;
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
    for (const r of readiness) {
      const client = r.cluster.client;
      if (r.namespaceMissing) {
        await this.createIfAbsent(client, RESOURCES.namespaces, {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {name: namespace, labels: {[MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: this.state.name, [ROLE_LABEL]: 'dependency-copy'}},
        }, 'the workers run in the same namespace');
      }
      for (const copy of r.copies) await this.createIfAbsent(client, resourceForKind(copy.kind)!, copy, 'the workers need it');
      if (r.headServiceCopy) await this.createIfAbsent(client, RESOURCES.services, r.headServiceCopy, 'the head address resolves there to the home head');
      if (r.endpointSlice) await this.createIfAbsent(client, RESOURCES.endpointslices, r.endpointSlice, "the head-Service copy's endpoint: the head pod");
    }
  }

  async repair(r: Repair): Promise<void> {
    const {namespace} = this.state;
    const signal = this.signal;
    switch (r.do) {
      case 'create-remote': {
        const client = clusterById(this.state, r.cluster)!.client;
        await this.createIfAbsent(client, RESOURCES.pods, remoteWorkerPod(r.from, r.from.metadata!.name!, swapContext(this.state, r.cluster)), r.why);
        return;
      }
      case 'delete-remote':
        return this.deleteIfPresent(clusterById(this.state, r.cluster)!.client, RESOURCES.pods, r.pod, r.why);
      case 'delete-copy':
        return this.deleteIfPresent(clusterById(this.state, r.cluster)!.client, resourceForKind(r.object.kind)!, r.object, r.why);
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
      case 'delete-home':
      case 'delete-placeholder':
        return this.deleteIfPresent(this.home, RESOURCES.pods, r.pod, r.why);
      case 'hold':
        return this.hold(r.pod, r.cluster, r.why);
      case 'release':
        await this.patchIfPresent(RESOURCES.pods, r.pod.metadata!.name!, releasePatch(), 'strategic');
        this.note('release', RESOURCES.pods, r.pod.metadata!.name!, this.home, r.why);
        return;
      case 'own':
        await this.home.patch(RESOURCES.pods, r.pod.metadata!.name!, namespace, ownerReferencePatch(swapContext(this.state, '').rayCluster), 'merge', {signal});
        this.note('own', RESOURCES.pods, r.pod.metadata!.name!, this.home, r.why);
        return;
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
   * The swap of one Pending worker (docs/design.md §4). Without the autoscaler the Pending pod is held
   * by our finalizer and deleted: KubeRay keeps counting it, so its count never moves. With the
   * autoscaler a placeholder pod takes its place, owned by the RayCluster once the Pending pod is gone.
   */
  async move(m: Move): Promise<void> {
    const remote = clusterById(this.state, m.cluster)!.client;
    const ctx = swapContext(this.state, m.cluster);
    await this.createIfAbsent(remote, RESOURCES.pods, remoteWorkerPod(m.pod, m.name, ctx), `${m.pod.metadata?.name} does not fit at home`);
    if (!this.state.autoscaling) return this.hold(m.pod, m.cluster, 'it stays, counted by KubeRay, while its remote twin runs');
    await this.createIfAbsent(this.home, RESOURCES.pods, placeholderPod(m.pod, m.name, ctx), `KubeRay counts it in place of ${m.pod.metadata?.name}`);
    await this.deleteIfPresent(this.home, RESOURCES.pods, m.pod, `${m.name} replaces it`);
    await this.home.patch(RESOURCES.pods, m.name, this.state.namespace, ownerReferencePatch(ctx.rayCluster), 'merge', {signal: this.signal});
    this.note('own', RESOURCES.pods, m.name, this.home, 'KubeRay reconciles on its events');
  }

  /** Makes a Pending worker its twin's placeholder, only if it is still as observed (not bound since). */
  private async hold(pod: Pod, cluster: string, why: string): Promise<void> {
    const name = pod.metadata!.name!;
    try {
      await this.home.patch<Pod>(RESOURCES.pods, name, this.state.namespace, holdPatch(swapContext(this.state, cluster), pod.metadata?.resourceVersion), 'strategic', {signal: this.signal});
      this.note('hold', RESOURCES.pods, name, this.home, why);
    } catch (err) {
      // It changed since it was observed (the scheduler may have bound it): the next pass decides again.
      if (!(err instanceof KubeError && (err.code === 409 || err.code === 404))) throw err;
      this.conflicts++;
    }
  }

  private async patchIfPresent(type: ResourceType, name: string, patch: unknown, patchType: 'strategic' | 'merge'): Promise<void> {
    try {
      await this.home.patch(type, name, this.state.namespace, patch, patchType, {signal: this.signal});
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

  /** Deletes exactly the object observed (uid precondition); one already gone is fine. */
  private async deleteIfPresent(client: ClusterClient, type: ResourceType, obj: KubeObject, why: string): Promise<void> {
    const name = obj.metadata?.name ?? '';
    try {
      await client.delete(type, name, type.namespaced ? this.state.namespace : undefined, {uid: obj.metadata?.uid, signal: this.signal});
      this.note('delete', type, name, client, why);
    } catch (err) {
      if (!(err instanceof KubeError && (err.code === 404 || (err.code === 409 && err.reason === 'Conflict')))) throw err;
    }
  }
}
