/**
 * The test clusters' data plane, one process beside their control planes (testenv.ts starts it):
 *
 * - relays each API server's loopback port to a Unix socket, which the hub namespace's Service proxy
 *   passes the cluster's `kubernetes` Service to, so pods, CoreDNS and the KubeRay operator reach
 *   their API server as in a real cluster;
 * - keeps the Service proxy (test/env/service-proxy.ts) serving every ClusterIP Service of every
 *   cluster, from its EndpointSlices;
 * - stands in for Cilium Cluster Mesh's EndpointSlice synchronisation of global Services
 *   (test/env/cilium-standin.ts);
 * - runs the Ray pods of data-plane namespaces as real processes (test/env/pod-runner.ts).
 *
 * It reads the clusters from testenv's state file, so that a cluster added later is served too. It
 * ends on SIGTERM, stopping every pod it started.
 *
 *   node --import tsx test/env/dataplane.ts <state-dir> <cache-dir>
 */
import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {ciliumSlices, type ClusterServices} from './cilium-standin.js';
import {api} from './kube-api.js';
import {hubNetns} from './network.js';
import {PodRunner, type RunnerCluster} from './pod-runner.js';
import type {ServedPort} from './service-proxy.js';

/** A namespace whose Ray pods run as real processes carries this label. */
export const DATA_PLANE_LABEL = 'testenv.superskyray.io/data-plane';

interface ClusterEntry {
  name: string;
  index: number;
  apiPort: number;
  dataPlaneToken: string;
}

interface Service extends KubeObject {
  spec?: {clusterIP?: string; type?: string; ports?: Array<{name?: string; port: number; targetPort?: number | string; protocol?: string}>; selector?: Record<string, string>};
}

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: Array<{addresses: string[]; conditions?: {ready?: boolean; serving?: boolean; terminating?: boolean}; hostname?: string}>;
  ports?: Array<{name?: string; port?: number; protocol?: string}>;
}

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} dataplane: ${line}\n`);

class DataPlane {
  private readonly relays = new Map<string, net.Server>();
  private readonly targets = new Map<string, RunnerCluster>();
  private clusters: ClusterEntry[] = [];
  private readonly lastSeen = new Map<string, Look>();
  private readonly unanswered = new Set<string>();
  private readonly lastLogged = new Map<string, number>();
  private proxy?: ChildProcess;
  private readonly runner: PodRunner;
  private stopping = false;

  constructor(
    private readonly stateDir: string,
    cacheDir: string,
  ) {
    this.runner = new PodRunner(stateDir, path.join(cacheDir, 'ray'));
  }

  socketOf(cluster: string): string {
    return path.join(this.stateDir, 'dataplane', `api-${cluster}.sock`);
  }

  /** The clusters of the state file; the last ones read when it cannot be read (it is being replaced). */
  private readClusters(): ClusterEntry[] {
    try {
      const state = JSON.parse(fs.readFileSync(path.join(this.stateDir, 'state.json'), 'utf8')) as {clusters?: ClusterEntry[]};
      this.clusters = (state.clusters ?? []).filter((c) => c.dataPlaneToken);
    } catch {
      // Kept.
    }
    return this.clusters;
  }

  private ensureRelay(cluster: ClusterEntry): void {
    const existing = this.relays.get(cluster.name);
    if (existing && (existing as net.Server & {apiPort?: number}).apiPort === cluster.apiPort) return;
    existing?.close();
    const socket = this.socketOf(cluster.name);
    fs.rmSync(socket, {force: true});
    const server = net.createServer((client) => {
      const upstream = net.connect(cluster.apiPort, '127.0.0.1');
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    });
    (server as net.Server & {apiPort?: number}).apiPort = cluster.apiPort;
    server.listen(socket);
    this.relays.set(cluster.name, server);
  }

  private startProxy(): void {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'service-proxy.ts');
    const out = fs.openSync(path.join(this.stateDir, 'logs', 'service-proxy.log'), 'a');
    this.proxy = spawn('nsenter', [`--net=/run/netns/${hubNetns(this.stateDir)}`, process.execPath, '--import', 'tsx', script], {
      stdio: ['ignore', out, out, 'ipc'],
    });
    fs.closeSync(out);
    this.proxy.on('exit', (code) => {
      if (this.stopping) return;
      log(`the Service proxy exited (${code}); starting it again`);
      this.startProxy();
    });
  }

  async tick(): Promise<void> {
    const clusters = this.readClusters();
    for (const cluster of clusters) {
      this.ensureRelay(cluster);
      if (!this.targets.has(cluster.name) || this.targets.get(cluster.name)!.target.apiPort !== cluster.apiPort) {
        const ca = fs.readFileSync(path.join(this.stateDir, cluster.name, 'certs', 'apiserver.crt'));
        this.targets.set(cluster.name, {name: cluster.name, index: cluster.index, target: {apiPort: cluster.apiPort, token: cluster.dataPlaneToken, ca}});
      }
    }
    const looks = await Promise.all(
      clusters.map(async (entry) => {
        const cluster = this.targets.get(entry.name)!;
        try {
          return await this.look(cluster);
        } catch (err) {
          // An API server a test has stopped: its pods keep running, as a kubelet's would.
          return {cluster, failed: (err as Error).message};
        }
      }),
    );
    const seen = looks.filter((l): l is Look => !('failed' in l));
    // A cluster that left the state file is forgotten, so that one added again under its name starts afresh.
    for (const name of [...this.lastSeen.keys(), ...this.unanswered]) {
      if (!clusters.some((c) => c.name === name)) {
        this.lastSeen.delete(name);
        this.unanswered.delete(name);
      }
    }
    for (const look of looks) {
      const name = look.cluster.name;
      if ('failed' in look) {
        if (!this.unanswered.has(name)) log(`${name} did not answer (${look.failed}); ${this.lastSeen.has(name) ? 'serving what it last said' : 'it has not answered yet'}`);
        this.unanswered.add(name);
      } else {
        if (this.unanswered.delete(name)) log(`${name} answers again`);
        this.lastSeen.set(name, look);
      }
    }
    // A cluster that did not answer is not empty: kube-proxy keeps its rules, and Cilium its remote
    // clusters' endpoints, until they hear otherwise.
    const known = clusters.map((c) => this.lastSeen.get(c.name)).filter((l): l is Look => l !== undefined);
    this.proxy?.send({ports: this.servedPorts(known)});
    await this.syncCilium(known, seen);
    const wanted = seen.flatMap((look) =>
      look.pods.filter((pod) => runnable(pod, look.dataPlaneNamespaces)).map((pod) => ({pod, cluster: look.cluster})),
    );
    // Pods of a cluster that did not answer are kept.
    await this.runner.reconcile(wanted, this.unanswered);
  }

  private async look(cluster: RunnerCluster): Promise<Look> {
    const [pods, services, slices, namespaces] = await Promise.all([
      // Only Ray pods can be runnable: a benchmark's clusters hold tens of thousands of other pods,
      // which listing twice a second would cost whole cores.
      api<{items: Pod[]}>(cluster.target, 'GET', `/api/v1/pods?labelSelector=${encodeURIComponent('ray.io/is-ray-node=yes')}`),
      api<{items: Service[]}>(cluster.target, 'GET', '/api/v1/services'),
      api<{items: EndpointSlice[]}>(cluster.target, 'GET', '/apis/discovery.k8s.io/v1/endpointslices'),
      api<{items: KubeObject[]}>(cluster.target, 'GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(DATA_PLANE_LABEL)}`),
    ]);
    return {
      cluster,
      pods: pods.items,
      services: services.items,
      slices: slices.items,
      dataPlaneNamespaces: new Set(namespaces.items.map((n) => n.metadata!.name!)),
    };
  }

  /** What kube-proxy would serve: every ClusterIP and TCP port, to the ready endpoints of its slices. */
  private servedPorts(looks: Look[]): ServedPort[] {
    const ports: ServedPort[] = [];
    for (const look of looks) {
      for (const service of look.services) {
        const ip = service.spec?.clusterIP;
        if (!ip || ip === 'None') continue;
        const ns = service.metadata!.namespace!;
        const name = service.metadata!.name!;
        if (ns === 'default' && name === 'kubernetes') {
          ports.push({address: ip, port: 443, backends: [{socket: this.socketOf(look.cluster.name)}]});
          continue;
        }
        const slices = look.slices.filter((s) => s.metadata?.namespace === ns && s.metadata?.labels?.['kubernetes.io/service-name'] === name);
        for (const port of service.spec?.ports ?? []) {
          if ((port.protocol ?? 'TCP') !== 'TCP') continue;
          const backends = slices.flatMap((slice) => {
            const target = (slice.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? ''));
            if (!target?.port) return [];
            return (slice.endpoints ?? [])
              .filter((e) => e.conditions?.ready !== false)
              .flatMap((e) => e.addresses.map((host) => ({host, port: target.port!})));
          });
          ports.push({address: ip, port: port.port, backends});
        }
      }
    }
    return ports;
  }

  /** A write retried every tick (into a namespace being deleted, say) is logged once a minute, not twice a second. */
  private logRepeated(line: string): void {
    const now = Date.now();
    if ((this.lastLogged.get(line) ?? 0) > now - 60_000) return;
    this.lastLogged.set(line, now);
    for (const [l, at] of this.lastLogged) if (at <= now - 60_000) this.lastLogged.delete(l);
    log(line);
  }

  /** Writes the stand-in's slices into each cluster that answered, from what every cluster last said. */
  private async syncCilium(known: Look[], answered: Look[]): Promise<void> {
    const clusters: ClusterServices[] = known.map((l) => ({cluster: l.cluster.name, services: l.services, slices: l.slices}));
    for (const look of answered) {
      const {create, update, remove} = ciliumSlices(look.cluster.name, clusters);
      const slicePath = (slice: EndpointSlice) => `/apis/discovery.k8s.io/v1/namespaces/${slice.metadata!.namespace}/endpointslices`;
      for (const slice of update) {
        await api(look.cluster.target, 'PUT', `${slicePath(slice)}/${slice.metadata!.name}`, slice).catch((err: Error) => this.logRepeated(`${look.cluster.name}: cilium stand-in: ${err.message}`));
      }
      for (const slice of create) {
        await api(look.cluster.target, 'POST', `/apis/discovery.k8s.io/v1/namespaces/${slice.metadata!.namespace}/endpointslices`, slice).catch((err: Error) =>
          this.logRepeated(`${look.cluster.name}: cilium stand-in: ${err.message}`),
        );
      }
      for (const slice of remove) {
        await api(look.cluster.target, 'DELETE', `/apis/discovery.k8s.io/v1/namespaces/${slice.metadata!.namespace}/endpointslices/${slice.metadata!.name}`).catch(
          (err: Error) => this.logRepeated(`${look.cluster.name}: cilium stand-in: ${err.message}`),
        );
      }
    }
  }

  async run(): Promise<void> {
    fs.mkdirSync(path.join(this.stateDir, 'dataplane'), {recursive: true});
    this.startProxy();
    const stop = async () => {
      if (this.stopping) return;
      this.stopping = true;
      log('stopping');
      await this.runner.stopAll();
      this.proxy?.disconnect();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop());
    process.on('SIGINT', () => void stop());
    fs.writeFileSync(path.join(this.stateDir, 'dataplane', 'ready'), String(process.pid));
    while (!this.stopping) {
      const started = Date.now();
      await this.tick().catch((err: Error) => log(`tick: ${err.message}`));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 500 - (Date.now() - started))));
    }
  }
}

interface Look {
  cluster: RunnerCluster;
  pods: Pod[];
  services: Service[];
  slices: EndpointSlice[];
  dataPlaneNamespaces: Set<string>;
}

/** A Ray pod of a data-plane namespace, bound, with its IP, and neither being deleted nor ended. */
export function runnable(pod: Pod, dataPlaneNamespaces: Set<string>): boolean {
  const status = (pod.status ?? {}) as {podIP?: string; phase?: string};
  return (
    dataPlaneNamespaces.has(pod.metadata?.namespace ?? '') &&
    pod.metadata?.labels?.['ray.io/is-ray-node'] === 'yes' &&
    Boolean((pod.spec as {nodeName?: string} | undefined)?.nodeName) &&
    Boolean(status.podIP) &&
    !pod.metadata?.deletionTimestamp &&
    status.phase !== 'Succeeded' &&
    status.phase !== 'Failed'
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [stateDir, cacheDir] = process.argv.slice(2);
  if (!stateDir || !cacheDir) {
    process.stderr.write('usage: dataplane.ts <state-dir> <cache-dir>\n');
    process.exit(2);
  }
  void new DataPlane(stateDir, cacheDir).run();
}
