import {ROLE_LABEL} from '../kuberay/labels.js';
import type {Container, Node, Pod, PodSpec} from '../kube/types.js';
import {addInto, maxInto, parseResources, type ResourceAmounts} from './quantity.js';

/**
 * A container's requests as the API server would default them: a resource with a limit but no
 * request is requested at its limit. Pods read from the API already carry this; manifests may not.
 */
function containerRequests(container: Container): ResourceAmounts {
  const requests = parseResources(container.resources?.requests);
  const limits = parseResources(container.resources?.limits);
  for (const [name, value] of Object.entries(limits)) if (!(name in requests)) requests[name] = value;
  return requests;
}

/**
 * What the scheduler reserves for a pod, as Kubernetes counts it: the larger of the app containers
 * (with sidecars) and each init container in turn (with the sidecars started before it), plus the
 * pod overhead. A sidecar is an init container with restartPolicy Always; it keeps running.
 */
export function podRequests(spec: PodSpec): ResourceAmounts {
  // watch keeps the pods of whole clusters frozen, and counts each one's room on every pass.
  if (!Object.isFrozen(spec)) return podAmounts(spec, containerRequests);
  let amounts = frozenRequests.get(spec);
  if (!amounts) frozenRequests.set(spec, (amounts = Object.freeze(podAmounts(spec, containerRequests))));
  return amounts;
}

const frozenRequests = new WeakMap<PodSpec, ResourceAmounts>();

/** A pod's limits, counted as its requests are: what a ResourceQuota's limits.* hold it to. */
export function podLimits(spec: PodSpec): ResourceAmounts {
  return podAmounts(spec, (c) => parseResources(c.resources?.limits));
}

function podAmounts(spec: PodSpec, of: (c: Container) => ResourceAmounts): ResourceAmounts {
  const sidecars: ResourceAmounts = {};
  const initPeak: ResourceAmounts = {};
  for (const init of spec.initContainers ?? []) {
    const own = of(init);
    if (init.restartPolicy === 'Always') {
      addInto(sidecars, own);
      maxInto(initPeak, sidecars);
    } else {
      maxInto(initPeak, addInto({...own}, sidecars));
    }
  }
  const running = addInto({}, sidecars);
  for (const container of spec.containers ?? []) addInto(running, of(container));
  const total = maxInto(running, initPeak);
  return addInto(total, parseResources(spec.overhead));
}

export function isTerminal(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Running and Ready: what KubeRay counts as a ready worker, and what a placeholder's gate follows. */
export function isPodReady(pod: Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);
}

export function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Ready and not cordoned: a node new pods may go to. */
export function nodeTakesPods(node: Node): boolean {
  return isNodeReady(node) && node.spec?.unschedulable !== true;
}

/** The resources every status view shows, whether or not a cluster has them. */
export const SHOWN_RESOURCES = ['cpu', 'memory', 'nvidia.com/gpu'] as const;

export interface ResourceUse {
  allocatable: number;
  requested: number;
}

export interface CapacitySummary {
  nodes: {total: number; ready: number; schedulable: number};
  pods: {bound: number; pending: number};
  /** cpu in millicores, the rest in whole units. Always has the SHOWN_RESOURCES. */
  resources: Record<string, ResourceUse>;
}

/**
 * Allocatable summed over all nodes against what the pods bound to them request. This is a summary
 * for people; it does not decide whether anything fits (fit is decided node by node).
 */
export function summariseCapacity(nodes: Node[], pods: Pod[]): CapacitySummary {
  return structuredClone(summaries.of(nodes, pods, () => sumCapacity(nodes, pods)));
}

/**
 * What is worked out from a cluster's nodes and pods, once per pair of frozen lists: watch hands the
 * same frozen lists to every pass until something changes, and tens of thousands of pods are then
 * gone through once for all of those passes. Lists that are not frozen are gone through every time.
 */
export class PerFrozenLists<T> {
  private readonly kept = new WeakMap<Pod[], WeakMap<Node[], T>>();

  /** `still` says whether what was kept still answers (it was made for the same lists, but other inputs may differ). */
  of(nodes: Node[], pods: Pod[], build: () => T, still: (kept: T) => boolean = () => true): T {
    if (!Object.isFrozen(nodes) || !Object.isFrozen(pods)) return build();
    let byNodes = this.kept.get(pods);
    if (!byNodes) this.kept.set(pods, (byNodes = new WeakMap()));
    const kept = byNodes.get(nodes);
    if (kept !== undefined && still(kept)) return kept;
    const built = build();
    byNodes.set(nodes, built);
    return built;
  }
}

const summaries = new PerFrozenLists<CapacitySummary>();

function sumCapacity(nodes: Node[], pods: Pod[]): CapacitySummary {
  const allocatable: ResourceAmounts = {};
  let ready = 0;
  let schedulable = 0;
  for (const node of nodes) {
    addInto(allocatable, parseResources(node.status?.allocatable));
    if (isNodeReady(node)) ready++;
    if (nodeTakesPods(node)) schedulable++;
  }
  const requested: ResourceAmounts = {};
  let bound = 0;
  let pending = 0;
  for (const pod of pods) {
    if (isTerminal(pod) || !pod.spec) continue;
    if (pod.spec.nodeName) {
      bound++;
      addInto(requested, podRequests(pod.spec));
    } else if (pod.metadata?.labels?.[ROLE_LABEL] !== 'placeholder') {
      // A placeholder stands for a worker that runs elsewhere: it waits for nothing.
      pending++;
    }
  }
  const resources: Record<string, ResourceUse> = {};
  const names = new Set<string>([...SHOWN_RESOURCES, ...Object.keys(allocatable).filter((name) => name !== 'pods')]);
  for (const name of names) resources[name] = {allocatable: allocatable[name] ?? 0, requested: requested[name] ?? 0};
  resources.pods = {allocatable: allocatable.pods ?? 0, requested: bound};
  return {nodes: {total: nodes.length, ready, schedulable}, pods: {bound, pending}, resources};
}
