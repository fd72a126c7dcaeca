import * as fs from 'node:fs';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {execFile} from 'node:child_process';
import {DATA_PLANE_LABEL} from '../env/dataplane.js';
import {dnsIP, HUB_IP, inRange, isPodAddress, macOf, POD_NETWORK, SERVICE_NETWORK} from '../env/network.js';
import {components, podNetworkNamespaces, podSandboxes} from '../env/testenv.js';
import {rayNodes} from '../support/ray.js';
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

  it('runs the KubeRay operator: a RayCluster gets a head and its workers, which KWOK gives pod-network IPs', async () => {
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
    for (const pod of pods) expect(isPodAddress(pod.status!.podIP!), pod.status?.podIP).toBe(true);
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

  // What the span's swap is built on (docs/span-mechanism.md), asserted on this KubeRay: once KubeRay
  // has deleted a pod that a finalizer keeps, it leaves that worker group alone until the pod is gone,
  // even with one counted pod too many; without that, it deletes one of them. A second group, scaled
  // up after each change, shows that KubeRay has reconciled the cluster since.
  it('KubeRay holds a worker group while a pod it deleted is kept, and otherwise trims a group with one counted pod too many', async () => {
    const onprem = fleet.cluster('onprem');
    const [node] = (await onprem.list<KubeObject>(RESOURCES.nodes)).items;
    type Spec = {headGroupSpec: {template: {spec: {containers: Array<{resources: unknown}>}}}; workerGroupSpecs: Array<{groupName: string; replicas: number; minReplicas: number; maxReplicas: number; rayStartParams: object; template: {spec: {containers: Array<{resources: unknown}>}}}>};
    const create = async (name: string) => {
      const rc = fixture<KubeObject & {metadata: {name: string}; spec: Spec}>('raycluster-small.yaml');
      rc.metadata.name = name;
      // A small head: the tests after this one need onprem's CPUs.
      rc.spec.headGroupSpec.template.spec.containers[0]!.resources = {requests: {cpu: '10m'}, limits: {cpu: '10m'}};
      const cpu = rc.spec.workerGroupSpecs[0]!;
      cpu.template.spec.containers[0]!.resources = {requests: {cpu: '500'}, limits: {cpu: '500'}};
      rc.spec.workerGroupSpecs.push({...structuredClone(cpu), groupName: 'probe', replicas: 0});
      return onprem.create(RESOURCES.rayclusters, rc, {namespace});
    };
    const groupPods = async (cluster: string, group: string) =>
      (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${cluster},ray.io/group=${group}`})).items;
    const counted = (owner: KubeObject, name: string): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: {'ray.io/cluster': owner.metadata!.name!, 'ray.io/group': 'cpu', 'ray.io/node-type': 'worker', 'ray.io/is-ray-node': 'yes'},
        ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: owner.metadata!.name!, uid: owner.metadata!.uid!, controller: true, blockOwnerDeletion: true}],
      },
      spec: {nodeName: node!.metadata!.name!, containers: [{name: 'placeholder', image: 'registry.k8s.io/pause:3.10', resources: {requests: {cpu: '1m', memory: '4Mi'}}}]},
    });
    /** Scales the probe group to n and waits for its pods: KubeRay has reconciled the cluster since. */
    const reconciled = async (cluster: string, n: number) => {
      const rc = await onprem.get<KubeObject & {spec: Spec}>(RESOURCES.rayclusters, cluster, namespace);
      const groups = rc.spec.workerGroupSpecs.map((g) => (g.groupName === 'probe' ? {...g, replicas: n} : g));
      await onprem.patch(RESOURCES.rayclusters, cluster, namespace, {spec: {workerGroupSpecs: groups}}, 'merge');
      await waitFor(`${cluster}'s probe group at ${n}`, async () => ((await groupPods(cluster, 'probe')).length === n ? true : undefined));
    };
    const names = (pods: Pod[]) => pods.map((p) => p.metadata!.name!).sort();
    const lockedPlaceholder = 'locked-cpu-worker-zzzzz';
    const openPlaceholder = 'open-cpu-worker-zzzzz';

    const locked = await create('locked');
    const [w, other] = await waitFor('2 Pending workers', async () => {
      const pods = await groupPods('locked', 'cpu');
      return pods.length === 2 ? pods : undefined;
    });
    await onprem.patch(RESOURCES.pods, w!.metadata!.name!, namespace, {metadata: {finalizers: ['superskyray.io/swap']}}, 'merge');
    await onprem.patch(RESOURCES.pods, w!.metadata!.name!, namespace, {status: {phase: 'Failed', reason: 'Spanned'}}, 'merge', {subresource: 'status'});
    await waitFor('KubeRay to delete the Failed worker', async () => ((await onprem.get<Pod>(RESOURCES.pods, w!.metadata!.name!, namespace)).metadata?.deletionTimestamp ? true : undefined));
    await onprem.create(RESOURCES.pods, counted(locked, lockedPlaceholder), {namespace});
    await reconciled('locked', 1);
    const whileLocked = await groupPods('locked', 'cpu');
    expect(names(whileLocked)).toEqual([w!.metadata!.name!, other!.metadata!.name!, lockedPlaceholder].sort());
    expect(whileLocked.filter((p) => p.metadata?.deletionTimestamp).map((p) => p.metadata?.name)).toEqual([w!.metadata!.name]);
    await onprem.patch(RESOURCES.pods, w!.metadata!.name!, namespace, {metadata: {finalizers: null}}, 'merge');
    await waitFor('the kept worker gone', async () => ((await groupPods('locked', 'cpu')).length === 2 ? true : undefined));
    await reconciled('locked', 2);
    const after = await groupPods('locked', 'cpu');
    expect(names(after)).toEqual([other!.metadata!.name!, lockedPlaceholder].sort());
    expect(after.every((p) => !p.metadata?.deletionTimestamp)).toBe(true);

    // The control: the same counted pod, with no lock.
    const open = await create('open');
    const before = await waitFor('2 Pending workers', async () => {
      const pods = await groupPods('open', 'cpu');
      return pods.length === 2 ? pods : undefined;
    });
    await onprem.create(RESOURCES.pods, counted(open, openPlaceholder), {namespace});
    await reconciled('open', 1);
    // KubeRay's cache may see the counted pod a pass after the one that scaled the probe group.
    const trimmed = await waitFor('KubeRay to trim the group back to 2', async () => {
      const live = (await groupPods('open', 'cpu')).filter((p) => !p.metadata?.deletionTimestamp);
      return live.length === 2 ? live : undefined;
    });
    expect([...names(before), openPlaceholder]).toEqual(expect.arrayContaining(names(trimmed)));
    await Promise.all(['locked', 'open'].map((name) => onprem.delete(RESOURCES.rayclusters, name, namespace)));
    await waitFor('both RayClusters\' pods gone', async () => {
      const left = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster in (locked,open)'});
      return left.items.length === 0 ? true : undefined;
    });
  });

  it('keeps a pod with a readiness gate Running but not Ready until its condition is True, as a kubelet does, and Ready follows it both ways', async () => {
    const onprem = fleet.cluster('onprem');
    const [node] = (await onprem.list<KubeObject>(RESOURCES.nodes)).items;
    const gate = 'example.com/gate';
    const name = 'gated';
    await onprem.create(
      RESOURCES.pods,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {name},
        spec: {nodeName: node!.metadata!.name!, readinessGates: [{conditionType: gate}], containers: [{name: 'c', image: 'registry.k8s.io/pause:3.10'}]},
      },
      {namespace},
    );
    const condition = (p: Pod, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;
    const running = await waitFor('the gated pod Running', async () => {
      const p = await onprem.get<Pod>(RESOURCES.pods, name, namespace);
      return p.status?.phase === 'Running' && condition(p, 'ContainersReady') === 'True' ? p : undefined;
    });
    expect(condition(running, 'Ready')).toBe('False');
    // KWOK's own stage would have written the gate itself: here nobody but its owner does.
    expect(condition(running, gate)).toBeUndefined();
    const setGate = (status: string) =>
      onprem.patch(RESOURCES.pods, name, namespace, {status: {conditions: [{type: gate, status, lastTransitionTime: new Date().toISOString()}]}}, 'strategic', {subresource: 'status'});
    const readyIs = (want: string) => waitFor(`Ready ${want}`, async () => {
      const p = await onprem.get<Pod>(RESOURCES.pods, name, namespace);
      return condition(p, 'Ready') === want ? p : undefined;
    });
    await setGate('True');
    expect(condition(await readyIs('True'), gate)).toBe('True');
    await setGate('False');
    expect(condition(await readyIs('False'), gate)).toBe('False');
    await onprem.delete(RESOURCES.pods, name, namespace);
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

  it('keeps every component\'s name lookups in the test clusters: the pod network\'s see only their CoreDNS, the others a resolver on 127.0.0.1', () => {
    const running = components();
    expect(running.map((c) => c.name)).toEqual(
      expect.arrayContaining(['etcd', 'dataplane', 'onprem-kube-apiserver', 'onprem-coredns', 'onprem-kuberay-operator', 'cloud-coredns', 'cloud-kuberay-operator']),
    );
    const clusterIndex: Record<string, number> = {onprem: 0, cloud: 1};
    // The data plane connects to addresses only (loopback ports, Unix sockets, netlink): it runs in
    // the machine's namespaces because it makes the pod network there.
    for (const component of running.filter((c) => c.name !== 'dataplane')) {
      const resolvConf = fs.readFileSync(`/proc/${component.pid}/root/etc/resolv.conf`, 'utf8');
      const [cluster, part] = [component.name.split('-')[0]!, component.name.split('-').slice(1).join('-')];
      const inPodNetwork = part === 'coredns' || part === 'kuberay-operator';
      expect(resolvConf.match(/^\s*nameserver\s+\S+/gm), component.name).toEqual([`nameserver ${inPodNetwork ? dnsIP(clusterIndex[cluster]!) : '127.0.0.1'}`]);
    }
  });

  it('runs the Ray pods of a data-plane namespace as real Ray, on a pod network that routes nowhere else', async () => {
    const onprem = fleet.cluster('onprem');
    const ns = `${namespace}-ray`;
    await onprem.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns, labels: {[DATA_PLANE_LABEL]: 'ray'}}});
    try {
      const head = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: unknown[]}}>('../real-ray/fixtures/raycluster-real.yaml');
      head.metadata.name = 'probe';
      head.spec.workerGroupSpecs = [];
      await onprem.create(RESOURCES.rayclusters, head, {namespace: ns});
      const pod = await waitFor('the head pod with an IP', async () => {
        const list = await onprem.list<Pod>(RESOURCES.pods, {namespace: ns, labelSelector: 'ray.io/cluster=probe'});
        return list.items.find((p) => p.status?.podIP);
      });
      // The GCS of the real head process, reached by the head Service's name through CoreDNS.
      const nodes = await waitFor('the head in its own node table', async () => {
        const table = await rayNodes('onprem', `probe-head-svc.${ns}.svc.cluster.local:6379`).catch(() => []);
        return table.find((n) => n.state === 'ALIVE') ? table : undefined;
      }, {timeoutMs: 120_000, intervalMs: 1000});
      expect(nodes).toEqual([expect.objectContaining({state: 'ALIVE', instanceId: pod.metadata?.name, ip: pod.status?.podIP, nodeType: 'headgroup'})]);

      const sandbox = podSandboxes().find((s) => s.pod.startsWith(`${ns}_${pod.metadata?.name}_`));
      expect(sandbox, 'the head pod runs in a sandbox of its own').toBeDefined();
      const root = `/proc/${sandbox!.initPid}/root`;
      expect(fs.readFileSync(`${root}/etc/resolv.conf`, 'utf8')).toMatch(new RegExp(`^nameserver ${dnsIP(0).replace(/\./g, '\\.')}$`, 'm'));
      expect(fs.readFileSync(`${root}/etc/hosts`, 'utf8')).toContain(`${pod.status?.podIP}\t${pod.metadata?.name}`);
      expect(fs.readFileSync(`${root}/run/secrets/kubernetes.io/serviceaccount/namespace`, 'utf8')).toBe(ns);

      // Safety: every namespace of the pod network routes only the pod network and the Service range;
      // an address anywhere else, private or public, has no route.
      const namespaces = await podNetworkNamespaces();
      expect(namespaces.some((n) => n.endsWith('-hub'))).toBe(true);
      expect(namespaces.length).toBeGreaterThanOrEqual(2);
      const outside = ['8.8.8.8', '1.1.1.1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '100.64.0.1', await defaultGateway()];
      for (const netns of namespaces) {
        for (const address of outside) {
          await expect(ip(['-n', netns, 'route', 'get', address]), `${netns} -> ${address}`).rejects.toThrow(/unreachable/i);
        }
        for (const route of (await ip(['-n', netns, '-4', 'route', 'show'])).trim().split('\n').filter(Boolean)) {
          const [destination] = route.split(' ');
          expect([POD_NETWORK, SERVICE_NETWORK].includes(destination!) || (destination !== 'default' && inRange(destination!.split('/')[0]!, POD_NETWORK)), `${netns}: ${route}`).toBe(true);
        }
      }
      // The hub's MAC stays put as pods come and go (a bridge otherwise takes its lowest port's), and
      // an address always comes with the same MAC (KWOK hands freed ones to the next pod at once).
      const hub = namespaces.find((n) => n.endsWith('-hub'))!;
      expect((await ip(['-n', hub, '-br', 'link', 'show', 'br0'])).split(/\s+/)[2]).toBe(macOf(HUB_IP));
      for (const netns of namespaces.filter((n) => n !== hub)) {
        const address = (await ip(['-n', netns, '-4', '-br', 'addr', 'show', 'eth0'])).split(/\s+/)[2]!.split('/')[0]!;
        expect((await ip(['-n', netns, '-br', 'link', 'show', 'eth0'])).split(/\s+/)[2], `${netns} (${address})`).toBe(macOf(address));
      }
      // And this machine's own namespace has no route of its own into those ranges.
      for (const route of (await ip(['-4', 'route', 'show'])).trim().split('\n')) {
        const destination = route.split(' ')[0]!;
        if (destination === 'default') continue;
        expect(inRange(destination.split('/')[0]!, POD_NETWORK) || inRange(destination.split('/')[0]!, SERVICE_NETWORK), route).toBe(false);
      }
    } finally {
      await removeNamespace(testFleet(kubeconfig, ['onprem']), ns);
    }
  });
});

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, (err, stdout, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve(stdout)));
  });
}

/** The machine's own gateway, which no test namespace may reach; a private address when it has none. */
async function defaultGateway(): Promise<string> {
  const route = (await ip(['-4', 'route', 'show', 'default'])).trim();
  return /via (\S+)/.exec(route)?.[1] ?? '192.168.1.1';
}
