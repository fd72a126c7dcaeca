/**
 * How a worker group is resized, as JSON patches (the worker groups are a list, which a merge patch
 * would replace whole). Every patch first tests the group's name at its index, so a list reordered
 * since it was read makes the patch fail instead of resizing the wrong group.
 */

export interface WorkerGroupBounds {
  groupName?: string;
  replicas?: number;
  minReplicas?: number;
  maxReplicas?: number;
  numOfHosts?: number;
  scaleStrategy?: {workersToDelete?: string[]};
}

export type JsonPatchOp = {op: 'test' | 'add' | 'replace'; path: string; value: unknown};

/** The number of worker pods KubeRay wants for a group: replicas held within min and max, as KubeRay does. */
export function desiredReplicas(group: WorkerGroupBounds): number {
  const min = group.minReplicas ?? 0;
  const max = group.maxReplicas ?? 2_147_483_647;
  if (min > max) return max;
  const replicas = group.replicas ?? min;
  return Math.min(Math.max(replicas, min), max);
}

export interface ScaleChange {
  replicas?: number;
  minReplicas?: number;
  maxReplicas?: number;
  workersToDelete?: string[];
}

/**
 * The fields to write so that KubeRay wants `n` workers. Without the autoscaler: replicas, with min
 * and max widened when `n` lies outside them. With it, the autoscaler owns replicas, so `n` becomes a
 * bound: the new minimum when growing, the new maximum when shrinking.
 */
export function scaleChange(group: WorkerGroupBounds, n: number, autoscaling: boolean): ScaleChange {
  const min = group.minReplicas ?? 0;
  const max = group.maxReplicas ?? 2_147_483_647;
  const change: ScaleChange = {};
  if (autoscaling) {
    if (n >= desiredReplicas(group)) {
      if (min !== n) change.minReplicas = n;
      if (max < n) change.maxReplicas = n;
    } else {
      if (max !== n) change.maxReplicas = n;
      if (min > n) change.minReplicas = n;
    }
    return change;
  }
  if (group.replicas !== n) change.replicas = n;
  if (min > n) change.minReplicas = n;
  if (max < n) change.maxReplicas = n;
  return change;
}

/** The JSON patch that writes `change` into the worker group at `base` (e.g. /spec/workerGroupSpecs/0). */
export function workerGroupPatch(base: string, groupName: string, change: ScaleChange): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [{op: 'test', path: `${base}/groupName`, value: groupName}];
  for (const field of ['replicas', 'minReplicas', 'maxReplicas'] as const) {
    if (change[field] !== undefined) ops.push({op: 'add', path: `${base}/${field}`, value: change[field]});
  }
  if (change.workersToDelete) ops.push({op: 'add', path: `${base}/scaleStrategy`, value: {workersToDelete: change.workersToDelete}});
  return ops.length > 1 ? ops : [];
}
