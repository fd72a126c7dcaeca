import type {PodGroupDemand, RayDemand} from '../../src/kuberay/demand.js';
import type {PodSpec, Taint, Toleration} from '../../src/kube/types.js';
import {parseResources} from '../../src/placement/quantity.js';
import {podShape, type ClusterSnapshot, type NodeSnapshot, type PodSnapshot} from '../../src/placement/snapshot.js';

/** Plain data for placement tests: nodes, pods, clusters and demands in a line each. */

export function node(
  name: string,
  allocatable: Record<string, string>,
  opts: {labels?: Record<string, string>; taints?: Taint[]; unschedulable?: boolean; ready?: boolean} = {},
): NodeSnapshot {
  return {
    name,
    labels: opts.labels ?? {},
    taints: opts.taints ?? [],
    unschedulable: opts.unschedulable ?? false,
    ready: opts.ready ?? true,
    allocatable: parseResources({pods: '110', ...allocatable}),
  };
}

export function spec(requests: Record<string, string>, extra: Partial<PodSpec> = {}): PodSpec {
  return {containers: [{name: 'main', resources: {requests}}], ...extra};
}

export function pod(name: string, nodeName: string | undefined, requests: Record<string, string>, labels: Record<string, string> = {}, namespace = 'other'): PodSnapshot {
  return {name, namespace, node: nodeName, shape: podShape(spec(requests)), labels};
}

export function cluster(id: string, priority: number, nodes: NodeSnapshot[], pods: PodSnapshot[] = []): ClusterSnapshot {
  return {id, name: id, priority, nodes, pods};
}

export function group(role: 'head' | 'worker', name: string, count: number, requests: Record<string, string>, extra: Partial<PodSpec> = {}): PodGroupDemand {
  return {role, group: name, count, spec: spec(requests, extra)};
}

export function demand(head: PodGroupDemand, workers: PodGroupDemand[], kind: RayDemand['kind'] = 'RayCluster'): RayDemand {
  return {kind, name: 'app', namespace: 'ml', autoscaling: false, head, workers};
}

export const tolerate = (key: string): Toleration => ({key, operator: 'Exists'});
