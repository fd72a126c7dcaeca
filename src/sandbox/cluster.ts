/**
 * A sandbox fleet: per cluster a Store, its API server on 127.0.0.1 and its control plane (scheduler,
 * kubelet, controllers, KubeRay), with fake nodes from a profile. Pod, node and Service addresses are
 * loopback addresses, as on the local test clusters.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {SandboxApiServer} from './apiserver.js';
import {AuditLog} from './audit.js';
import {endpointSlices, garbageCollect, kubelet, Loop, namespaces, podGc, pvcProtection, schedule} from './controllers.js';
import {KubeRayOperator} from './kuberay.js';
import {profileFor, type ClusterProfile, type FleetProfile} from './profile.js';
import {syncQuotaStatus} from './quota.js';
import {SANDBOX_RESOURCES, storeName, type SandboxResource} from './resources.js';
import {Store} from './store.js';
import {type Json, type JsonMap, now} from './json.js';
import {nodePodCIDR} from './addresses.js';



function nodeObjects(cluster: string, index: number, profile: ClusterProfile): JsonMap[] {
  const nodes: JsonMap[] = [];
  let n = 0;
  for (const pool of profile.nodes) {
    for (let i = 0; i < (pool.count ?? 1); i++, n++) {
      const name = `${cluster}-${pool.name}-${i}`;
      const resources: JsonMap = {cpu: String(pool.cpu ?? '8'), memory: String(pool.memory ?? '32Gi'), pods: String(pool.pods ?? 110), 'ephemeral-storage': '100Gi'};
      if (pool.gpu) resources['nvidia.com/gpu'] = String(pool.gpu);
      const time = now();
      nodes.push({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: {'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'sandbox', 'superskyray.io/test-cluster': cluster, ...(pool.labels ?? {})},
        },
        spec: {podCIDR: nodePodCIDR(index, n), podCIDRs: [nodePodCIDR(index, n)], ...(pool.taints ? {taints: pool.taints as Json} : {})},
        status: {
          capacity: resources,
          allocatable: resources,
          addresses: [
            {type: 'InternalIP', address: `127.${50 + index}.0.${n + 1}`},
            {type: 'Hostname', address: name},
          ],
          conditions: [{type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'sandbox node', lastHeartbeatTime: time, lastTransitionTime: time}],
          nodeInfo: {architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'sandbox', containerRuntimeVersion: 'sandbox'},
          phase: 'Running',
        },
      });
    }
  }
  return nodes;
}

export class SandboxCluster {
  readonly store = new Store();
  readonly server: SandboxApiServer;
  private loops: Loop[] = [];
  private operator?: KubeRayOperator;
  private readonly resources: SandboxResource[];
  port = 0;

  constructor(
    readonly name: string,
    private readonly index: number,
    private readonly profile: ClusterProfile,
    /** Where to write the API server's audit log, if anywhere. */
    auditFile?: string,
  ) {
    const audit = auditFile ? new AuditLog(auditFile) : undefined;
    if (audit) this.store.onComponentWrite = (actor, event, before) => audit.component(actor, event, before);
    // Without KubeRay there are no ray.io CRDs: the API has no ray.io group at all.
    this.resources = profile.kuberay === false ? SANDBOX_RESOURCES.filter((r) => r.group !== 'ray.io') : SANDBOX_RESOURCES;
    this.server = new SandboxApiServer(this.store, {audit, resources: this.resources});
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.server.createAs('kube-apiserver', 'namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name}});
    }
    for (const node of nodeObjects(this.name, this.index, this.profile)) this.server.createAs('kwok', 'nodes', node);
    const create = (manager: string) => (resource: string, object: JsonMap) => this.server.createAs(manager, resource, object);
    const controllerManager = 'kube-controller-manager/v1.37.0-sandbox';
    const namespaced = this.resources.filter((r) => r.namespaced && !r.createOnly).map(storeName);
    const all = this.resources.filter((r) => !r.createOnly).map(storeName);
    this.loops = [
      new Loop(this.store, 'kube-scheduler/v1.37.0-sandbox', () => schedule(this.store)),
      new Loop(this.store, 'kwok/v0.8.0-sandbox', () => kubelet(this.store)),
      new Loop(this.store, controllerManager, () => podGc(this.store)),
      new Loop(this.store, controllerManager, () => namespaces(this.store, namespaced, create('kube-controller-manager'))),
      new Loop(this.store, controllerManager, () => garbageCollect(this.store, all)),
      new Loop(this.store, controllerManager, () => endpointSlices(this.store, create('kube-controller-manager'))),
      // Writes by the components (the kubelet's deletes, pod GC's Failed) change quota usage too.
      new Loop(this.store, controllerManager, () => syncQuotaStatus(this.store)),
      new Loop(this.store, controllerManager, () => pvcProtection(this.store)),
    ];
    if (this.profile.kuberay !== false) this.operator = new KubeRayOperator(this.store, create('ray-operator'));
    this.port = await this.server.listen(port);
  }

  async stop(): Promise<void> {
    for (const loop of this.loops) loop.stop();
    this.operator?.stop();
    await this.server.close();
  }

  /** Takes the API server away, as an outage would; the cluster's components and state stay. */
  async stopApiserver(): Promise<void> {
    await this.server.close();
  }

  /** Brings the API server back on the same address; one that is up stays as it is. */
  async startApiserver(): Promise<void> {
    if (!this.server.listening) await this.server.listen(this.port);
  }
}

/** The kubeconfig of a sandbox fleet: one context per cluster, named as the cluster. */
export function sandboxKubeconfig(clusters: Array<{name: string; url: string}>): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: clusters.map((c) => ({name: `sandbox-${c.name}`, cluster: {server: c.url}})),
    // No credentials: kubectl sends none over plain HTTP, and the servers listen on 127.0.0.1 only.
    users: [{name: 'sandbox', user: {}}],
    contexts: clusters.map((c) => ({name: c.name, context: {cluster: `sandbox-${c.name}`, user: 'sandbox'}})),
    'current-context': clusters[0]?.name ?? '',
  });
}

export class SandboxFleet {
  readonly clusters: SandboxCluster[];

  /** `auditDir`: each cluster writes its API server's audit log to <auditDir>/<cluster>/audit.log. */
  constructor(names: string[], profile: FleetProfile, auditDir?: string) {
    this.clusters = names.map((name, index) => new SandboxCluster(name, index, profileFor(profile, name), auditDir ? path.join(auditDir, name, 'audit.log') : undefined));
  }

  async start(): Promise<void> {
    try {
      for (const c of this.clusters) await c.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clusters.map((c) => c.stop()));
  }

  /** Writes the fleet's kubeconfig (owner-only) and returns its path. */
  writeKubeconfig(dir: string): string {
    fs.mkdirSync(dir, {recursive: true});
    const file = path.join(dir, 'kubeconfig');
    fs.writeFileSync(file, sandboxKubeconfig(this.clusters.map((c) => ({name: c.name, url: c.url}))), {mode: 0o600});
    return file;
  }
}
