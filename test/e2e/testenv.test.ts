import * as fs from 'node:fs';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {components} from '../env/testenv.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const GiB = 2 ** 30;

describe('the local test clusters are real', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'testenv');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('runs the KubeRay operator: a RayCluster gets a head and its workers, which KWOK runs on loopback IPs', async () => {
    const onprem = fleet.cluster('onprem');
    await onprem.create(RESOURCES.rayclusters, fixture('raycluster-small.yaml'), {namespace});
    const pods = await waitFor('the head and 2 workers Running', async () => {
      const list = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=small'});
      const running = list.items.filter((p) => p.status?.phase === 'Running' && p.status.podIP);
      return running.length === 3 ? running : undefined;
    });
    const byType = (type: string) => pods.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === type);
    expect(byType('head')).toHaveLength(1);
    expect(byType('worker')).toHaveLength(2);
    for (const worker of byType('worker')) {
      expect(worker.metadata?.generateName).toBe('small-cpu-worker-');
      expect(worker.metadata?.ownerReferences?.[0]).toMatchObject({kind: 'RayCluster', name: 'small', controller: true});
    }
    for (const pod of pods) expect(pod.status?.podIP).toMatch(/^127\./);
    const service = await onprem.get<KubeObject & {spec?: {clusterIP?: string}}>(RESOURCES.services, 'small-head-svc', namespace);
    expect(service.spec?.clusterIP).toBe('None');
  });

  it('leaves a worker that fits no node Pending, because the real scheduler said so', async () => {
    const onprem = fleet.cluster('onprem');
    const big = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}}>(
      'raycluster-small.yaml',
    );
    big.metadata.name = 'too-big';
    const group = big.spec.workerGroupSpecs[0]!;
    group.replicas = 1;
    group.template.spec.containers[0]!.resources = {requests: {cpu: '4', 'nvidia.com/gpu': '2'}, limits: {cpu: '4', 'nvidia.com/gpu': '2'}};
    await onprem.create(RESOURCES.rayclusters, big, {namespace});

    const worker = await waitFor('the worker to be found unschedulable', async () => {
      const list = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=too-big,ray.io/node-type=worker'});
      return list.items.find((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
    });
    expect(worker.status?.phase).toBe('Pending');
    expect(worker.spec?.nodeName).toBeUndefined();
    const condition = worker.status?.conditions?.find((c) => c.type === 'PodScheduled');
    expect(condition).toMatchObject({status: 'False', reason: 'Unschedulable'});
    expect(condition?.message).toMatch(/Insufficient nvidia\.com\/gpu/);

    const event = await waitFor('the FailedScheduling event', async () => {
      const events = await onprem.list<KubeObject & {reason?: string; source?: {component?: string}; reportingComponent?: string; involvedObject?: {name?: string}}>(
        RESOURCES.events,
        {namespace, fieldSelector: `involvedObject.name=${worker.metadata?.name}`},
      );
      return events.items.find((e) => e.reason === 'FailedScheduling');
    });
    expect(event.reportingComponent ?? event.source?.component).toBe('default-scheduler');
  });

  it('kubectl superskyray status reports both clusters and their capacity', async () => {
    const result = await cli(['status', '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud', '-o', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [onprem, cloud] = JSON.parse(result.stdout).clusters;

    // What the profile gives each cluster, and what the pods bound in onprem request right now.
    const bound = await fleet.cluster('onprem').list<Pod>(RESOURCES.pods, {fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed'});
    const onpremCpu = bound.items.filter((p) => p.spec?.nodeName).length;
    expect(onprem).toMatchObject({
      context: 'onprem',
      state: 'Ready',
      version: expect.stringMatching(/^v1\.\d+\.\d+/),
      clusterId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      nodes: {total: 1, ready: 1, schedulable: 1},
      resources: {cpu: {allocatable: 8}, memory: {allocatable: 32 * GiB}, 'nvidia.com/gpu': {allocatable: 1}},
    });
    expect(onprem.pods.bound).toBe(onpremCpu);
    expect(onprem.pods.pending).toBeGreaterThanOrEqual(1);
    // The small RayCluster: head 1 cpu + 2 workers of 2 cpu, 2 + 2*4 GiB.
    expect(onprem.resources.cpu.requested).toBeGreaterThanOrEqual(5);
    expect(onprem.resources.memory.requested).toBeGreaterThanOrEqual(10 * GiB);
    expect(cloud).toMatchObject({
      context: 'cloud',
      state: 'Ready',
      nodes: {total: 2, ready: 2, schedulable: 2},
      resources: {cpu: {allocatable: 16, requested: 0}, memory: {allocatable: 64 * GiB}, 'nvidia.com/gpu': {allocatable: 2, requested: 0}},
    });
    expect(cloud.clusterId).not.toBe(onprem.clusterId);
  });

  it('keeps every component\'s name lookups on this machine: each one sees only a resolver on 127.0.0.1', () => {
    const running = components();
    expect(running.map((c) => c.name)).toEqual(expect.arrayContaining(['etcd', 'onprem-kube-apiserver', 'onprem-kuberay-operator', 'cloud-kuberay-operator']));
    for (const component of running) {
      const resolvConf = fs.readFileSync(`/proc/${component.pid}/root/etc/resolv.conf`, 'utf8');
      expect(resolvConf.match(/^\s*nameserver\s+\S+/gm), component.name).toEqual(['nameserver 127.0.0.1']);
    }
  });
});
