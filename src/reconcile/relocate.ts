import {ConvergeTimeoutError, InputError} from '../errors.js';
import {KubeError} from '../kube/errors.js';
import {pause} from '../kube/retry.js';
import {describeObject, RESOURCES, resourceForKind} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import {CLUSTER_SPEC_FIELD} from '../kuberay/demand.js';
import {ownedBy, PLACEMENT_ANNOTATION, RELOCATED_FROM_ANNOTATION, RELOCATING_TO_ANNOTATION, relocatedObject} from '../kuberay/group.js';
import {GROUP_LABEL, MANAGED_BY, MANAGED_BY_LABEL} from '../kuberay/labels.js';
import {podSecurityLabels, type Step} from './act.js';
import {recordEvent} from './events.js';
import {liveRayClusterName, type GroupState} from './group.js';
import type {ObservedCluster} from './observe.js';
import {hasKubeRay} from './place.js';
import {placedDependencies, removeObserved} from './remove.js';

export interface RelocateOptions {
  /** The worker group to resize on the way, and its new replicas. */
  resize?: {index: number; replicas: number};
  /** A RayService's new serveConfigV2 (scale --serve), for the new home to start with. */
  serveConfigV2?: string;
  copySecrets: boolean;
  signal?: AbortSignal;
  say: (line: string) => void;
  pollMs?: number;
}

function withWorkerReplicas(obj: KubeObject, path: string, index: number, replicas: number): KubeObject {
  const out = JSON.parse(JSON.stringify(obj)) as KubeObject;
  let spec = out as Record<string, any>;
  for (const key of path.split('.')) spec = spec[key];
  const group = spec.workerGroupSpecs?.[index];
  if (group) {
    group.replicas = replicas;
    if ((group.maxReplicas ?? replicas) < replicas) group.maxReplicas = replicas;
    if ((group.minReplicas ?? 0) > replicas) group.minReplicas = replicas;
  }
  return out;
}

/**
 * Moves the whole group to `target`, make before break (docs/design.md §4): every check first, then the
 * group is applied there, and the old home is removed only once the new RayCluster is ready. The
 * Ray object at the old home says where it is going, so that an interrupted move is finished by
 * the next run rather than started twice.
 */
export async function relocateGroup(state: GroupState, target: ObservedCluster, options: RelocateOptions): Promise<Step[]> {
  const {signal} = options;
  const where = `context "${target.client.context}"`;
  if (!(await hasKubeRay(target.client, signal))) {
    throw new InputError(`${where} has no KubeRay CRDs (ray.io/v1), so the group cannot move there`, 'install the KubeRay operator there, or pass --skip-capacity-relocate to span instead');
  }
  const dependencies = await placedDependencies(state, signal);
  for (const d of dependencies) {
    if (d.type !== RESOURCES.secrets || options.copySecrets) continue;
    if (!(await target.client.find(d.type, d.object.metadata?.name ?? '', state.namespace, signal))) {
      throw new InputError(`${describeObject(d.type, d.object.metadata?.name, state.namespace)} is missing in ${where}, and the group needs it there`, 'create it there, or pass --copy-secrets to copy it');
    }
  }
  const steps: Step[] = [];
  const home = state.home.client;
  const homeId = state.home.snapshot!.id;
  const targetId = target.snapshot!.id;
  const note = (action: string, object: string, context: string, why: string) => {
    steps.push({action, object, context, why});
    options.say(`${context}: ${action} ${object} (${why})`);
  };

  const type = resourceForKind(state.kind)!;
  // What the old home made in the target (remote workers, the head-Service copy) would clash with
  // the group's own objects there: it goes first. Its placeholders stay until the old home goes.
  const side = state.remotes.find((r) => r.cluster === target);
  for (const object of [...(side?.workers ?? []), ...(side?.copies ?? [])]) {
    try {
      await target.client.delete(resourceForKind(object.kind ?? 'Pod')!, object.metadata?.name ?? '', state.namespace, {uid: object.metadata?.uid, signal});
      note('delete', `${(object.kind ?? 'Pod').toLowerCase()}/${object.metadata?.name}`, target.client.context, 'made for the old home; the group itself moves here');
    } catch (err) {
      if (!(err instanceof KubeError && (err.code === 404 || err.code === 409))) throw err;
    }
  }
  await home.patch(type, state.name, state.namespace, {metadata: {annotations: {[RELOCATING_TO_ANNOTATION]: targetId}}}, 'merge', {signal});
  note('annotate', `${state.kind.toLowerCase()}/${state.name}`, home.context, `moving to ${target.client.context}`);
  if (!(await target.client.find(RESOURCES.namespaces, state.namespace, undefined, signal))) {
    try {
      const podSecurity = podSecurityLabels(await home.find<KubeObject>(RESOURCES.namespaces, state.namespace, undefined, signal));
      await target.client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: state.namespace, labels: {...podSecurity, [MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: state.name}}}, {signal});
      note('create', `namespace/${state.namespace}`, target.client.context, 'the group moves into the same namespace');
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 409)) throw err;
    }
  }
  for (const d of dependencies) {
    if (d.type === RESOURCES.secrets && !options.copySecrets) continue;
    await target.client.patch(d.type, d.object.metadata?.name ?? '', state.namespace, relocatedObject(d.object), 'apply', {force: true, signal});
    note('apply', `${d.type.kind.toLowerCase()}/${d.object.metadata?.name}`, target.client.context, 'the group needs it');
  }
  let ray = relocatedObject(state.object, {
    [RELOCATING_TO_ANNOTATION]: undefined,
    [RELOCATED_FROM_ANNOTATION]: homeId,
    [PLACEMENT_ANNOTATION]: JSON.stringify({home: targetId, action: 'relocate', from: homeId}),
  });
  if (options.resize) ray = withWorkerReplicas(ray, CLUSTER_SPEC_FIELD[state.kind], options.resize.index, options.resize.replicas);
  if (options.serveConfigV2 !== undefined) ray = {...ray, spec: {...(ray.spec as object), serveConfigV2: options.serveConfigV2}};
  const applied = await target.client.patch<KubeObject>(type, state.name, state.namespace, ray, 'apply', {force: true, signal});
  note('apply', `${state.kind.toLowerCase()}/${state.name}`, target.client.context, 'make before break: the new home starts first');
  // As place does: what the group needs goes with its Ray object, whoever deletes that.
  for (const d of dependencies) {
    if (d.type === RESOURCES.secrets && !options.copySecrets) continue;
    await target.client.patch(d.type, d.object.metadata?.name ?? '', state.namespace, ownedBy(relocatedObject(d.object), {...applied, apiVersion: 'ray.io/v1', kind: state.kind}), 'apply', {force: true, signal});
  }
  await recordEvent(home, state.object, 'Relocating', `the group moves whole to ${target.client.context}; it is removed here once it is ready there`, signal);
  return [...steps, ...(await finishRelocation({...state, relocation: {target, object: ray}}, options))];
}

interface RayClusterStatus {
  state?: string;
  readyWorkerReplicas?: number;
  desiredWorkerReplicas?: number;
}

/** Waits until the group is ready at its new home, then removes it from the old one. */
export async function finishRelocation(state: GroupState, options: Pick<RelocateOptions, 'signal' | 'say' | 'pollMs'>): Promise<Step[]> {
  const {signal} = options;
  const {target} = state.relocation!;
  const type = resourceForKind(state.kind)!;
  let told = false;
  let status: RayClusterStatus | undefined;
  const notReady = () =>
    new ConvergeTimeoutError(
      `${state.kind.toLowerCase()}/${state.name} is moving to "${target.client.context}" and was not ready there within --timeout (${status ? `${status.readyWorkerReplicas ?? 0}/${status.desiredWorkerReplicas ?? 0} workers ready` : 'no RayCluster yet'}); it still runs on "${state.home.client.context}". Run the command again to finish the move`,
    );
  try {
    for (;;) {
      const object = await target.client.get<KubeObject>(type, state.name, state.namespace, signal);
      // A RayService is ready where it serves: its active cluster.
      const rcName = state.kind === 'RayService' ? (object.status as {activeServiceStatus?: {rayClusterName?: string}} | undefined)?.activeServiceStatus?.rayClusterName : liveRayClusterName(state.kind, object);
      const rc = rcName ? await target.client.find<KubeObject & {status?: RayClusterStatus}>(RESOURCES.rayclusters, rcName, state.namespace, signal) : undefined;
      status = rc?.status;
      if (status?.state === 'ready' && (status.readyWorkerReplicas ?? 0) >= (status.desiredWorkerReplicas ?? 0)) break;
      if (!told) {
        options.say(`${target.client.context}: waiting for ${state.kind.toLowerCase()}/${state.name} to be ready before it goes from ${state.home.client.context}`);
        told = true;
      }
      if (signal?.aborted) throw signal.reason instanceof ConvergeTimeoutError ? notReady() : signal.reason;
      await pause(options.pollMs ?? 500, signal);
    }
  } catch (err) {
    // The deadline fell in the middle of a look: say where the move stands.
    if (signal?.aborted && signal.reason instanceof ConvergeTimeoutError && err === signal.reason) throw notReady();
    throw err;
  }
  const removed = await removeObserved(state, {dryRun: false, signal});
  const steps: Step[] = removed.steps;
  for (const s of steps) options.say(`${s.context}: ${s.action} ${s.object} (${s.why})`);
  await target.client.patch(type, state.name, state.namespace, {metadata: {annotations: {[RELOCATED_FROM_ANNOTATION]: null}}}, 'merge', {signal});
  const moved = await target.client.get<KubeObject>(type, state.name, state.namespace, signal);
  await recordEvent(target.client, {...moved, apiVersion: 'ray.io/v1', kind: state.kind}, 'Relocated', `the group moved here whole from ${state.home.client.context}, which no longer runs it`, signal);
  return steps;
}
