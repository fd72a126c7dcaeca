/**
 * What a kubelet does for the test clusters' Ray pods: it runs each pod's containers as real
 * processes, built from the pod object in the API server, in namespaces of the pod's own:
 *
 * - network: the pod IP the cluster gave it, on the test/env bridge (test/env/network.ts);
 * - mount: the kubelet's /etc/hosts, a resolv.conf naming the cluster's CoreDNS, a private /tmp
 *   (the pod folder's tmp/, kept after the pod ends), /dev/shm, /run and /home, and the pod's volumes (ConfigMap, Secret, emptyDir, projected with the
 *   ServiceAccount token the API server issues for this pod);
 * - UTS (the pod name as hostname) and pid: its first process reaps orphans and, when killed, takes
 *   every process of the pod with it. A pod is stopped by that pid alone: nothing here kills by name.
 *
 * Init containers run first, one at a time; then the containers, restarted as restartPolicy says.
 * Pods ignore `image:`: every container runs on the pinned Ray venv (build.sh). The containers of a
 * pod share its mount namespace, so they see each other's files as well as their shared volumes: a
 * simplification that Ray's own containers (the head and its autoscaler share /tmp/ray) never notice.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Pod} from '../../src/kube/types.js';
import {api, ApiError, type ApiTarget} from './kube-api.js';
import {addEndpointNetns, apiServiceIP, deleteNetns, dnsIP, netnsPrefix, unplugNetns} from './network.js';
import {containerArgv, containerEnv, fieldValue, hostsFile, resolvConf, type Container, type Lookups} from './pod-spec.js';

export interface RunnerCluster {
  name: string;
  index: number;
  target: ApiTarget;
}

interface ContainerRun {
  name: string;
  child?: ChildProcess;
  restarts: number;
  exitCode?: number;
  startedAt?: string;
}

interface PodRun {
  uid: string;
  cluster: RunnerCluster;
  namespace: string;
  name: string;
  ip: string;
  netns: string;
  dir: string;
  holder?: ChildProcess;
  initPid?: number;
  containers: Map<string, ContainerRun>;
  stopping: boolean;
  /** Taken off the network while it stops, its address given to another pod. */
  unplugged?: boolean;
  stopped: Promise<void>;
  markStopped: () => void;
}

/** Paths a pod's mounts may create: those on the pod's own tmpfs mounts, never the machine's disk. */
const POD_PRIVATE = ['/tmp', '/dev/shm', '/run', '/var/run', '/home'];

const REAPER = [
  'import os, signal, time',
  'signal.signal(signal.SIGTERM, lambda *a: os._exit(0))',
  'while True:',
  '    try:',
  '        os.wait()',
  '    except ChildProcessError:',
  '        time.sleep(0.5)',
].join('\n');

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} pod-runner: ${line}\n`);

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class PodRunner {
  private readonly pods = new Map<string, PodRun>();

  constructor(
    private readonly stateDir: string,
    private readonly rayVenv: string,
  ) {}

  /** Every pod this runner has started and not yet stopped, by UID. */
  running(): string[] {
    return [...this.pods.keys()];
  }

  /** Starts what is wanted and not running, stops what runs and is no longer wanted. */
  async reconcile(wanted: Array<{pod: Pod; cluster: RunnerCluster}>, unseenClusters: Set<string>): Promise<void> {
    const wantedUids = new Set(wanted.map((w) => w.pod.metadata!.uid!));
    for (const [uid, run] of this.pods) {
      if (!wantedUids.has(uid) && !run.stopping && !unseenClusters.has(run.cluster.name)) void this.stop(run);
    }
    for (const {pod, cluster} of wanted) {
      const uid = pod.metadata!.uid!;
      if (this.pods.has(uid)) continue;
      const ip = String((pod.status as {podIP?: string}).podIP);
      // KWOK gives a freed address to the next pod at once, where a CNI plugin keeps it until the old
      // sandbox is gone. The new pod's address is published already (DNS, Services), so the old pod,
      // still in its grace period, is taken off the network now, lest it answer for the new one (a
      // job submitted to the old head is lost); then it stops, and its namespace goes before the new
      // pod gets that address.
      const holder = [...this.pods.values()].find((r) => r.ip === ip && r.cluster.name === cluster.name);
      if (holder) {
        if (!holder.unplugged) {
          holder.unplugged = true;
          log(`${holder.cluster.name} ${holder.namespace}/${holder.name}: its address ${ip} is given to ${pod.metadata?.namespace}/${pod.metadata?.name}; taken off the network`);
          void unplugNetns(holder.netns);
        }
        if (!holder.stopping) void this.stop(holder);
        continue;
      }
      this.start(pod, cluster);
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.pods.values()].map((run) => this.stop(run)));
  }

  private start(pod: Pod, cluster: RunnerCluster): void {
    const meta = pod.metadata!;
    const uid = meta.uid!;
    let markStopped = () => {};
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    const run: PodRun = {
      uid,
      cluster,
      namespace: meta.namespace!,
      name: meta.name!,
      ip: String((pod.status as {podIP?: string}).podIP),
      netns: `${netnsPrefix(this.stateDir)}-${uid.slice(0, 8)}`,
      dir: path.join(this.stateDir, 'pods', cluster.name, `${meta.namespace}_${meta.name}_${uid.slice(0, 8)}`),
      containers: new Map(),
      stopping: false,
      stopped,
      markStopped,
    };
    this.pods.set(uid, run);
    log(`${cluster.name} ${run.namespace}/${run.name}: starting on ${run.ip}`);
    this.boot(run, pod).catch((err: Error) => {
      log(`${cluster.name} ${run.namespace}/${run.name}: ${err.message}`);
      void this.reportFailed(run, err.message);
    });
  }

  private async boot(run: PodRun, pod: Pod): Promise<void> {
    fs.mkdirSync(path.join(run.dir, 'logs'), {recursive: true});
    fs.mkdirSync(path.join(run.dir, 'tmp'), {recursive: true});
    fs.chmodSync(path.join(run.dir, 'tmp'), 0o1777);
    fs.writeFileSync(path.join(run.dir, 'hosts'), hostsFile(pod));
    fs.writeFileSync(path.join(run.dir, 'resolv.conf'), resolvConf(pod, dnsIP(run.cluster.index)));
    const mounts = await this.volumes(run, pod);
    await addEndpointNetns(this.stateDir, run.netns, run.ip);
    // Stopped while its namespace was being made: stop() found none to delete, so it goes here.
    if (run.stopping) return deleteNetns(run.netns);

    const ready = path.join(run.dir, 'ready');
    // The pod's folder and the venv may live under a path the pod's own tmpfs mounts hide (a state
    // folder in /tmp, a cache in /home): both are held open first and reached through those fds.
    const inPod = (file: string) => `/proc/self/fd/3/${path.relative(run.dir, file)}`;
    const venv = quote(this.rayVenv);
    const script = [
      'set -e',
      `exec 3< ${quote(run.dir)} 4< ${venv}`,
      `hostname ${quote(run.name.slice(0, 63))}`,
      `mount --bind ${quote(path.join(run.dir, 'hosts'))} /etc/hosts`,
      `mount --bind ${quote(path.join(run.dir, 'resolv.conf'))} /etc/resolv.conf`,
      // The pod's /tmp is its folder's tmp/, kept after it ends: Ray's own logs (raylet, GCS) are
      // there, or in the folder's volumes/ray-logs where KubeRay mounts that emptyDir at /tmp/ray
      // (a head with the autoscaler sidecar).
      `mount --bind ${quote(inPod(path.join(run.dir, 'tmp')))} /tmp`,
      'mount -t tmpfs -o mode=1777,size=4g tmpfs /dev/shm',
      'mount -t tmpfs tmpfs /run',
      'mount -t tmpfs tmpfs /home',
      'mkdir -p /home/ray',
      `if [ ! -d ${venv}/bin ]; then mkdir -p ${venv} && mount --bind /proc/self/fd/4 ${venv}; fi`,
      ...mounts.map((m) => `mkdir -p ${quote(m.target)} && mount --bind ${m.readOnly ? '-o ro ' : ''}${quote(inPod(m.source))} ${quote(m.target)}`),
      `touch ${quote(inPod(ready))}`,
      'exec 3<&- 4<&-',
      `exec ${quote(path.join(this.rayVenv, 'bin', 'python'))} -c ${quote(REAPER)}`,
    ].join('\n');
    const out = fs.openSync(path.join(run.dir, 'logs', 'pod.log'), 'a');
    run.holder = spawn(
      'nsenter',
      [`--net=/run/netns/${run.netns}`, 'unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', '--propagation', 'private', 'sh', '-c', script, run.dir],
      {detached: true, stdio: ['ignore', out, out]},
    );
    fs.closeSync(out);
    run.holder.on('error', () => {});
    run.holder.on('exit', () => {
      if (!run.stopping) log(`${run.cluster.name} ${run.namespace}/${run.name}: its sandbox exited`);
    });
    fs.writeFileSync(path.join(run.dir, 'holder.pid'), String(run.holder.pid));
    run.initPid = await this.firstProcess(run, ready);

    const spec = pod.spec as {initContainers?: Container[]; containers: Container[]; restartPolicy?: string};
    const restartPolicy = spec.restartPolicy ?? 'Always';
    for (const container of spec.initContainers ?? []) {
      for (let attempt = 0; ; attempt++) {
        if (run.stopping) return;
        const code = await this.runContainer(run, pod, container, true);
        if (code === 0) break;
        if (restartPolicy === 'Never') {
          await this.reportFailed(run, `init container ${container.name} exited with ${code}`);
          return;
        }
        await backoff(attempt, run);
      }
    }
    if (run.stopping) return;
    await Promise.all(spec.containers.map((container) => this.keepRunning(run, pod, container, restartPolicy)));
    if (!run.stopping) await this.reportEnded(run, spec.containers);
  }

  private async firstProcess(run: PodRun, ready: string): Promise<number> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const holderPid = run.holder?.pid;
      const children = holderPid ? readChildren(holderPid) : [];
      if (children[0] && fs.existsSync(ready)) return children[0];
      if (run.holder?.exitCode !== null || Date.now() > deadline) {
        throw new Error(`its sandbox did not start: ${lastLines(path.join(run.dir, 'logs', 'pod.log'))}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Runs a container until it ends, and resolves with its exit code (-1 when it could not start). */
  private async runContainer(run: PodRun, pod: Pod, container: Container, init: boolean): Promise<number> {
    const state = run.containers.get(container.name) ?? {name: container.name, restarts: -1};
    run.containers.set(container.name, state);
    state.restarts++;
    let argv: string[];
    let env: Record<string, string>;
    try {
      env = await containerEnv(pod, container, this.kubeletEnv(run), this.lookups(run));
      argv = containerArgv(container, env);
    } catch (err) {
      log(`${run.cluster.name} ${run.namespace}/${run.name} ${container.name}: ${(err as Error).message}`);
      return -1;
    }
    const out = fs.openSync(path.join(run.dir, 'logs', `${container.name}.log`), 'a');
    fs.writeSync(out, `--- ${new Date().toISOString()} ${init ? 'init container' : 'container'} ${container.name}, start ${state.restarts + 1}\n`);
    const child = spawn(
      'nsenter',
      // nsenter's own --wd opens the folder before it enters the pod's mounts.
      ['-t', String(run.initPid), '--net', '--mount', '--uts', '--pid', '--', '/bin/sh', '-c', 'cd -- "$0" && exec "$@"', container.workingDir ?? '/home/ray', ...argv],
      {detached: true, stdio: ['ignore', out, out], env},
    );
    fs.closeSync(out);
    state.child = child;
    state.startedAt = new Date().toISOString();
    return new Promise((resolve) => {
      child.on('error', () => resolve(-1));
      child.on('exit', (code, signal) => {
        state.child = undefined;
        state.exitCode = code ?? (signal ? 128 + 15 : -1);
        resolve(state.exitCode);
      });
    });
  }

  private async keepRunning(run: PodRun, pod: Pod, container: Container, restartPolicy: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const code = await this.runContainer(run, pod, container, false);
      if (run.stopping) return;
      log(`${run.cluster.name} ${run.namespace}/${run.name} ${container.name}: exited with ${code}`);
      if (restartPolicy === 'Never' || (restartPolicy === 'OnFailure' && code === 0)) return;
      await backoff(attempt, run);
      if (run.stopping) return;
      await this.reportRestart(run, container.name).catch((err: Error) => log(`status of ${run.name}: ${err.message}`));
    }
  }

  /** What the kubelet adds to every container's environment. */
  private kubeletEnv(run: PodRun): Record<string, string> {
    const host = apiServiceIP(run.cluster.index);
    return {
      PATH: `${path.join(this.rayVenv, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/home/ray',
      HOSTNAME: run.name.slice(0, 63),
      KUBERNETES_SERVICE_HOST: host,
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: `tcp://${host}:443`,
      KUBERNETES_PORT_443_TCP: `tcp://${host}:443`,
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: host,
    };
  }

  private lookups(run: PodRun): Lookups {
    const base = `/api/v1/namespaces/${run.namespace}`;
    const read = async (kind: string, name: string): Promise<Record<string, string> | undefined> => {
      try {
        const object = await api<{data?: Record<string, string>}>(run.cluster.target, 'GET', `${base}/${kind}/${name}`);
        if (kind === 'secrets') return Object.fromEntries(Object.entries(object.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        return object.data ?? {};
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      }
    };
    return {
      configMapData: (name) => read('configmaps', name),
      configMap: async (name, key) => (await read('configmaps', name))?.[key],
      secretData: (name) => read('secrets', name),
      secret: async (name, key) => (await read('secrets', name))?.[key],
    };
  }

  /** Writes the pod's volumes under its folder and says where each container mount goes. */
  private async volumes(run: PodRun, pod: Pod): Promise<Array<{source: string; target: string; readOnly: boolean}>> {
    const spec = pod.spec as {volumes?: Array<Record<string, any>>; containers: Container[]; initContainers?: Container[]; serviceAccountName?: string};
    const lookups = this.lookups(run);
    const written = new Map<string, string>();
    const writeFiles = (dir: string, files: Record<string, string>) => {
      for (const [file, content] of Object.entries(files)) {
        const target = path.join(dir, file);
        fs.mkdirSync(path.dirname(target), {recursive: true});
        fs.writeFileSync(target, content);
      }
    };
    const pick = (data: Record<string, string>, items?: Array<{key: string; path: string}>) =>
      items ? Object.fromEntries(items.filter((i) => i.key in data).map((i) => [i.path, data[i.key]!])) : data;
    for (const volume of spec.volumes ?? []) {
      const dir = path.join(run.dir, 'volumes', volume.name);
      fs.mkdirSync(dir, {recursive: true});
      if (volume.configMap) {
        writeFiles(dir, pick((await lookups.configMapData(volume.configMap.name)) ?? {}, volume.configMap.items));
      } else if (volume.secret) {
        writeFiles(dir, pick((await lookups.secretData(volume.secret.secretName)) ?? {}, volume.secret.items));
      } else if (volume.projected) {
        for (const source of volume.projected.sources ?? []) {
          if (source.serviceAccountToken) {
            writeFiles(dir, {[source.serviceAccountToken.path]: await this.token(run, pod, spec.serviceAccountName ?? 'default', source.serviceAccountToken)});
          } else if (source.configMap) {
            writeFiles(dir, pick((await lookups.configMapData(source.configMap.name)) ?? {}, source.configMap.items));
          } else if (source.secret) {
            writeFiles(dir, pick((await lookups.secretData(source.secret.name)) ?? {}, source.secret.items));
          } else if (source.downwardAPI) {
            for (const item of source.downwardAPI.items ?? []) if (item.fieldRef) writeFiles(dir, {[item.path]: fieldValue(pod, item.fieldRef.fieldPath)});
          }
        }
      } else if (volume.downwardAPI) {
        for (const item of volume.downwardAPI.items ?? []) if (item.fieldRef) writeFiles(dir, {[item.path]: fieldValue(pod, item.fieldRef.fieldPath)});
      } else if (!volume.emptyDir) {
        log(`${run.cluster.name} ${run.namespace}/${run.name}: volume ${volume.name} is of a kind the pod runner does not make; it is an empty folder`);
      }
      written.set(volume.name, dir);
    }
    const mounts: Array<{source: string; target: string; readOnly: boolean}> = [];
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const mount of container.volumeMounts ?? []) {
        const source = written.get(mount.name);
        if (!source) continue;
        // /dev/shm is already the pod's own tmpfs.
        if (mount.mountPath === '/dev/shm') continue;
        if (!POD_PRIVATE.some((p) => mount.mountPath === p || mount.mountPath.startsWith(`${p}/`))) {
          log(`${run.cluster.name} ${run.namespace}/${run.name}: ${container.name} mounts ${mount.name} at ${mount.mountPath}, outside ${POD_PRIVATE.join(', ')}: not mounted`);
          continue;
        }
        const from = mount.subPath ? path.join(source, mount.subPath) : source;
        if (mounts.some((m) => m.target === mount.mountPath)) continue;
        mounts.push({source: from, target: mount.mountPath, readOnly: Boolean(mount.readOnly)});
      }
    }
    return mounts;
  }

  /** The pod's own ServiceAccount token, bound to the pod, as the kubelet asks for it. */
  private async token(run: PodRun, pod: Pod, serviceAccount: string, source: {audience?: string; expirationSeconds?: number}): Promise<string> {
    const request = await api<{status: {token: string}}>(run.cluster.target, 'POST', `/api/v1/namespaces/${run.namespace}/serviceaccounts/${serviceAccount}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        ...(source.audience ? {audiences: [source.audience]} : {}),
        expirationSeconds: Math.max(source.expirationSeconds ?? 3607, 3600),
        boundObjectRef: {apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid},
      },
    });
    return request.status.token;
  }

  private async patchStatus(run: PodRun, change: (status: Record<string, any>) => Record<string, any>): Promise<void> {
    const url = `/api/v1/namespaces/${run.namespace}/pods/${run.name}`;
    const pod = await api<Pod>(run.cluster.target, 'GET', url);
    if (pod.metadata?.uid !== run.uid) return;
    await api(run.cluster.target, 'PATCH', `${url}/status`, {status: change((pod.status ?? {}) as Record<string, any>)}, 'application/merge-patch+json');
  }

  private reportRestart(run: PodRun, containerName: string): Promise<void> {
    return this.patchStatus(run, (status) => ({
      containerStatuses: ((status.containerStatuses as Array<Record<string, any>> | undefined) ?? []).map((c) =>
        c.name === containerName ? {...c, restartCount: run.containers.get(containerName)?.restarts ?? 0, state: {running: {startedAt: new Date().toISOString()}}} : c,
      ),
    }));
  }

  /** restartPolicy Never or OnFailure: every container has ended, so the pod has, as the kubelet reports it. */
  private reportEnded(run: PodRun, containers: Container[]): Promise<void> {
    const codes = containers.map((c) => run.containers.get(c.name)?.exitCode ?? -1);
    const phase = codes.every((code) => code === 0) ? 'Succeeded' : 'Failed';
    log(`${run.cluster.name} ${run.namespace}/${run.name}: ${phase} (exit codes ${codes.join(', ')})`);
    return this.patchStatus(run, (status) => ({
      phase,
      conditions: ((status.conditions as Array<Record<string, any>> | undefined) ?? []).map((c) => (c.type === 'Ready' || c.type === 'ContainersReady' ? {...c, status: 'False', reason: 'PodCompleted'} : c)),
      containerStatuses: ((status.containerStatuses as Array<Record<string, any>> | undefined) ?? []).map((c) => ({
        ...c,
        ready: false,
        started: false,
        state: {terminated: {exitCode: run.containers.get(c.name)?.exitCode ?? -1, reason: run.containers.get(c.name)?.exitCode === 0 ? 'Completed' : 'Error'}},
      })),
    })).catch((err: Error) => log(`status of ${run.name}: ${err.message}`));
  }

  private reportFailed(run: PodRun, message: string): Promise<void> {
    return this.patchStatus(run, () => ({phase: 'Failed', reason: 'PodRunner', message})).catch((err: Error) => log(`status of ${run.name}: ${err.message}`));
  }

  /**
   * As the kubelet stops a pod: SIGTERM to each container's process, the grace period (capped here at
   * 10 s), then the pod's first process is killed, and with it every process left in the pod.
   */
  private async stop(run: PodRun): Promise<void> {
    if (run.stopping) return run.stopped;
    run.stopping = true;
    log(`${run.cluster.name} ${run.namespace}/${run.name}: stopping`);
    for (const container of run.containers.values()) {
      const inner = container.child?.pid ? readChildren(container.child.pid) : [];
      for (const pid of inner) signal(pid, 'SIGTERM');
    }
    const deadline = Date.now() + 10_000;
    while ([...run.containers.values()].some((c) => c.child) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (run.holder?.pid && run.holder.exitCode === null) {
      signal(run.holder.pid, 'SIGKILL');
      await new Promise<void>((resolve) => (run.holder!.exitCode !== null ? resolve() : run.holder!.once('exit', () => resolve())));
    }
    await deleteNetns(run.netns);
    this.pods.delete(run.uid);
    log(`${run.cluster.name} ${run.namespace}/${run.name}: stopped`);
    run.markStopped();
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

function readChildren(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function lastLines(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return 'no log';
  }
}

/** The kubelet's crash-loop back-off, shortened: 1, 2, 4, 8, then 10 s. */
async function backoff(attempt: number, run: PodRun): Promise<void> {
  const until = Date.now() + Math.min(1000 * 2 ** attempt, 10_000);
  while (Date.now() < until && !run.stopping) await new Promise((resolve) => setTimeout(resolve, 100));
}
