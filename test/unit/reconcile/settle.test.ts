import {describe, expect, it} from 'vitest';
import type {GroupState} from '../../../src/reconcile/group.js';
import {kubeRayNotReady} from '../../../src/reconcile/settle.js';

type Status = {state?: string; readyWorkerReplicas?: number; desiredWorkerReplicas?: number};

/** Only what kubeRayNotReady reads: the live RayCluster's worker groups and KubeRay's status of it. */
function state(groups: Array<Record<string, unknown>>, status?: Status, suspend?: boolean): GroupState {
  return {rayCluster: {metadata: {name: 'app', uid: 'u'}, spec: {workerGroupSpecs: groups, ...(suspend ? {suspend} : {})}, ...(status ? {status} : {})}} as unknown as GroupState;
}

describe('kubeRayNotReady: the whole group waits for KubeRay to count it ready', () => {
  const cpu3 = {groupName: 'cpu', replicas: 3};
  it.each<{name: string; groups: Array<Record<string, unknown>>; status?: Status; suspend?: boolean; waits: boolean}>([
    {name: 'a suspended RayCluster, never ready by design', groups: [cpu3], status: {state: 'suspended', readyWorkerReplicas: 0, desiredWorkerReplicas: 3}, suspend: true, waits: false},
    {name: 'no status yet', groups: [cpu3], waits: true},
    {name: 'ready, every worker counted', groups: [cpu3], status: {state: 'ready', readyWorkerReplicas: 3, desiredWorkerReplicas: 3}, waits: false},
    {name: 'pods ready, status one reconcile behind', groups: [cpu3], status: {state: 'ready', readyWorkerReplicas: 2, desiredWorkerReplicas: 3}, waits: true},
    {name: 'never ready yet', groups: [cpu3], status: {readyWorkerReplicas: 3, desiredWorkerReplicas: 3}, waits: true},
    {name: 'status of an older spec (2 wanted then)', groups: [cpu3], status: {state: 'ready', readyWorkerReplicas: 3, desiredWorkerReplicas: 2}, waits: true},
    {name: 'a multi-host group counts each host', groups: [{groupName: 'tpu', replicas: 1, numOfHosts: 2}], status: {state: 'ready', readyWorkerReplicas: 2, desiredWorkerReplicas: 2}, waits: false},
    {name: 'a suspended group counts none', groups: [cpu3, {groupName: 'gpu', replicas: 2, suspend: true}], status: {state: 'ready', readyWorkerReplicas: 3, desiredWorkerReplicas: 3}, waits: false},
    {name: 'replicas held within min and max', groups: [{groupName: 'cpu', replicas: 9, maxReplicas: 4}], status: {state: 'ready', readyWorkerReplicas: 4, desiredWorkerReplicas: 4}, waits: false},
  ])('$name', ({groups, status, suspend, waits}) => {
    const out = kubeRayNotReady(state(groups, status, suspend));
    expect(out.length > 0).toBe(waits);
    if (waits) expect(out[0]).toMatch(/^KubeRay to count the RayCluster ready \(its status: .+, \d+ of \d+ worker\(s\) ready\)$/);
  });
});
