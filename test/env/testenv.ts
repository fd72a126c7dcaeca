/**
 * The real local test clusters: per cluster a kube-apiserver, kube-controller-manager, kube-scheduler,
 * KWOK (fake nodes and pod lifecycle) and the KubeRay operator, all sharing one etcd under separate
 * prefixes. Everything listens on 127.0.0.1; every fake node and pod IP is in 127.0.0.0/8.
 *
 *   node --import tsx test/env/testenv.ts up|down|kubeconfig|status
 *
 * Binaries come from `npm run testenv:build` (test/env/build.sh). State, logs and the kubeconfig live
 * in a git-ignored folder (.testenv/, or SUPERSKYRAY_TESTENV_STATE).
 */
import {spawn, execFile} from 'node:child_process';
import {generateKeyPairSync, randomBytes} from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';
import yaml from 'js-yaml';
import {alive} from '../../src/sandbox/daemon.js';
import {profileFor, readProfile, type ClusterProfile} from '../../src/sandbox/profile.js';
import {UNPULLABLE_REGISTRY} from '../../src/sandbox/controllers.js';
import {waitFor} from '../support/poll.js';
import {
  addEndpointNetns,
  addHubAddress,
  apiServiceIP,
  clientIP,
  deleteAllNetns,
  dnsIP,
  ensureHub,
  fallbackPodCIDR,
  hubNetns,
  MAX_CLUSTER_INDEX,
  netnsList,
  netnsPrefix,
  nodePodCIDR,
  run,
  serviceCIDR,
} from './network.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const CACHE =
  process.env.SUPERSKYRAY_TESTENV_CACHE ??
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'superskyray-testenv');
export const STATE = process.env.SUPERSKYRAY_TESTENV_STATE ?? path.join(REPO, '.testenv');
const BIN = path.join(CACHE, 'bin');
const STATE_FILE = path.join(STATE, 'state.json');
export const KUBECONFIG = path.join(STATE, 'kubeconfig');

interface ProcessRecord {
  name: string;
  pid: number;
  binary: string;
  /** What it was started with, so that a test can restart it. */
  args?: string[];
  podNetwork?: {resolver: string};
  unwrapped?: boolean;
}

interface ClusterRecord {
  name: string;
  /** Picks the cluster's address ranges (network.ts). */
  index: number;
  apiPort: number;
  token: string;
  /** The data plane's own user (dataplane.ts), so that audit logs tell its requests apart. */
  dataPlaneToken: string;
  kubeconfig: string;
}

interface State {
  processes: ProcessRecord[];
  clusters: ClusterRecord[];
  etcdPort: number;
}

export type {ClusterProfile, NodePool} from '../../src/sandbox/profile.js';

const log = (line: string) => process.stderr.write(`testenv: ${line}\n`);

function clusterNames(): string[] {
  const names = (process.env.TESTENV_CLUSTERS ?? 'onprem,cloud').split(',').map((n) => n.trim()).filter(Boolean);
  for (const name of names) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) throw new Error(`TESTENV_CLUSTERS: "${name}" is not a valid cluster name`);
  }
  return names;
}

function profileOf(name: string): ClusterProfile {
  const file = process.env.TESTENV_PROFILE ?? path.join(REPO, 'test', 'env', 'profiles', 'default.yaml');
  return profileFor(readProfile(fs.readFileSync(file, 'utf8'), file), name);
}

export function binary(name: string): string {
  const file = path.join(BIN, name);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run "npm run testenv:build" first`);
  return file;
}

/**
 * A port for a server we are about to start. Taken below the kernel's ephemeral range: a port from
 * that range (what binding port 0 gives) can be taken, between our check and the server's bind, as
 * the local end of any outgoing connection, and the API servers and controllers make hundreds.
 */
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
  const [ephemeralLow] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  // A machine whose ephemeral range starts low leaves no such room: take a port above it instead.
  const [low, high] = (ephemeralLow ?? 0) >= 12_000 ? [10_000, ephemeralLow!] : [61_000, 65_536];
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${low} and ${high}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function readState(): State | undefined {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function writeState(state: State): void {
  // Whole or not at all: the data plane reads it twice a second.
  fs.writeFileSync(`${STATE_FILE}.tmp`, JSON.stringify(state, null, 2));
  fs.renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}

/** True when `pid` is alive and is still the binary we started (pids get reused). */
function isOurs(record: ProcessRecord): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    return cmdline.split('\0')[0] === record.binary;
  } catch {
    return false;
  }
}

/**
 * Every component runs in a mount namespace of its own whose /etc/resolv.conf names 127.0.0.1, where
 * nothing answers: KubeRay looks up a RayService's dashboard as <service>.<namespace>.svc.cluster.local,
 * and no lookup of a test cluster's names may leave this machine. Without root, a user namespace
 * grants the mount.
 */
const NAMESPACED = [
  'unshare',
  ...(process.getuid?.() === 0 ? [] : ['--map-root-user']),
  '--mount',
  '--propagation=private',
  'sh',
  '-c',
  'if [ -e /etc/resolv.conf ]; then mount --bind "$0" /etc/resolv.conf || exit 1; fi; exec "$@"',
];

function loopbackResolver(): string {
  const file = path.join(STATE, 'resolv.conf');
  fs.writeFileSync(file, 'nameserver 127.0.0.1\n');
  return file;
}

interface StartOptions {
  /** Runs it in the pod network (the hub namespace), resolving through this resolv.conf. */
  podNetwork?: {resolver: string};
  /** Our own code, which looks nothing up: it runs in the machine's namespaces, where it makes the pod network. */
  unwrapped?: boolean;
}

async function start(state: State, name: string, bin: string, args: string[], options: StartOptions = {}): Promise<ProcessRecord> {
  const logs = path.join(STATE, 'logs');
  fs.mkdirSync(logs, {recursive: true});
  const out = fs.openSync(path.join(logs, `${name}.log`), 'a');
  const argv = options.unwrapped
    ? [bin, ...args]
    : [
        ...(options.podNetwork ? ['nsenter', `--net=/run/netns/${hubNetns(STATE)}`] : []),
        ...NAMESPACED,
        options.podNetwork?.resolver ?? loopbackResolver(),
        bin,
        ...args,
      ];
  const [wrapper, ...wrapperArgs] = argv;
  const child = spawn(wrapper!, wrapperArgs, {detached: true, stdio: ['ignore', out, out]});
  child.on('error', () => {});
  child.unref();
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`${name} did not start: ${wrapper} (util-linux) runs each component, and it could not be run`);
  const record = {name, pid: child.pid, binary: bin, args, ...(options.podNetwork ? {podNetwork: options.podNetwork} : {}), ...(options.unwrapped ? {unwrapped: true} : {})};
  state.processes.push(record);
  writeState(state);
  // The wrapper execs the binary in the same pid; until it has, the pid is not yet "ours". One that
  // dies first is for the caller to notice, as any that dies later.
  await waitFor(`${name} to start`, () => (isOurs(record) || child.exitCode !== null || child.signalCode !== null ? true : undefined), {
    timeoutMs: 10_000,
    intervalMs: 20,
  });
  return record;
}

/** Waits for `check`, giving up at once if `component` has exited. */
function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, component?: ProcessRecord): Promise<T> {
  return waitFor(what, check, {
    timeoutMs,
    intervalMs: 250,
    giveUp: () =>
      component && !isOurs(component) ? `${component.name} exited (see ${path.join(STATE, 'logs', `${component.name}.log`)})` : undefined,
  });
}

/**
 * Starts a server on a port of its own and waits until `ready` says it serves. One that exits first is
 * started again on another port, twice at most, as its kubelet would restart it: a server that has
 * lost its port to another process in the moment after we picked it is not a broken cluster.
 */
async function startServing(
  state: State,
  name: string,
  bin: string,
  args: (port: number) => string[],
  ready: (port: number) => Promise<true | undefined>,
  timeoutMs: number,
  options: StartOptions = {},
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const record = await start(state, name, bin, args(port), options);
    try {
      await poll(`${name} to serve on 127.0.0.1:${port}`, timeoutMs, () => ready(port), record);
      return port;
    } catch (err) {
      if (isOurs(record) || attempt === 3) throw err;
      state.processes.splice(state.processes.indexOf(record), 1);
      writeState(state);
      log(`${name} exited before it served (${lastLogLine(name)}); starting it again`);
    }
  }
}

function lastLogLine(name: string): string {
  const file = path.join(STATE, 'logs', `${name}.log`);
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
  return lines[lines.length - 1]?.slice(0, 300) || `nothing in ${file}`;
}

function get(url: string, options: https.RequestOptions = {}): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, {...options, timeout: 5000}, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary('kubectl'), ['--kubeconfig', kubeconfig, ...args], {timeout: 120_000}, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * One `kubectl apply`, for a poll: an API server that has just said it is ready can still refuse a
 * first request while its own controllers settle, and applying again is harmless.
 */
async function applied(kubeconfig: string, args: string[], input?: string): Promise<true> {
  await kubectl(kubeconfig, ['apply', ...args], input);
  return true;
}

function kubeconfigYaml(clusters: Array<{name: string; apiPort: number; token: string; ca: string; server?: string}>): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: clusters.map((c) => ({name: c.name, cluster: {server: c.server ?? `https://127.0.0.1:${c.apiPort}`, 'certificate-authority': c.ca}})),
    users: clusters.map((c) => ({name: `${c.name}-admin`, user: {token: c.token}})),
    contexts: clusters.map((c) => ({name: c.name, context: {cluster: c.name, user: `${c.name}-admin`}})),
    'current-context': clusters[0]?.name ?? '',
  });
}

/** Whether every readiness gate of a pod has its condition True (jq, as KWOK's selectors take it). */
const GATES_PASS =
  '. as $pod | [.spec.readinessGates[]?.conditionType | . as $type | [$pod.status.conditions[]? | select(.type == $type and .status == "True")] | length > 0] | all';
const READY = '.status.conditions[]? | select(.type == "Ready") | .status';

/** A KWOK stage that sets a Running pod's Ready to `ready` when its readiness gates say so. */
function readinessGateStage(ready: boolean): Record<string, unknown> {
  return {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: {name: ready ? 'pod-gates-pass' : 'pod-gates-fail'},
    spec: {
      resourceRef: {apiGroup: 'v1', kind: 'Pod'},
      selector: {
        matchExpressions: [
          {key: '.metadata.deletionTimestamp', operator: 'DoesNotExist'},
          {key: '.status.phase', operator: 'In', values: ['Running']},
          {key: '.spec.readinessGates', operator: 'Exists'},
          {key: GATES_PASS, operator: 'In', values: [String(ready)]},
          {key: READY, operator: ready ? 'NotIn' : 'In', values: ['True']},
        ],
      },
      next: {statusTemplate: `conditions:\n- lastTransitionTime: {{ Now | Quote }}\n  status: "${ready ? 'True' : 'False'}"\n  type: Ready\n`},
    },
  };
}

/** jq: whether a pod runs an image of UNPULLABLE_REGISTRY, which no kubelet of the test clusters can pull. */
const UNPULLABLE = `[(.spec.initContainers[]?, .spec.containers[]) | .image | startswith("${UNPULLABLE_REGISTRY}")] | any`;

/**
 * A bound pod with an image that cannot be pulled stays Pending in ImagePullBackOff, as a kubelet
 * leaves it: its containers waiting, Initialized and Ready False. (The pod-ready stage skips it.)
 */
function unpullableStage(): Record<string, unknown> {
  const waiting = (list: string) =>
    `${list}:\n{{ range .spec.${list === 'initContainerStatuses' ? 'initContainers' : 'containers'} }}\n- name: {{ .name | Quote }}\n  image: {{ .image | Quote }}\n  imageID: ""\n  ready: false\n  restartCount: 0\n  started: false\n  state:\n    waiting:\n      reason: ImagePullBackOff\n      message: {{ printf "Back-off pulling image %q" .image | Quote }}\n{{ end }}\n`;
  return {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: {name: 'pod-image-unpullable'},
    spec: {
      resourceRef: {apiGroup: 'v1', kind: 'Pod'},
      selector: {
        matchExpressions: [
          {key: '.metadata.deletionTimestamp', operator: 'DoesNotExist'},
          {key: '.status.phase', operator: 'In', values: ['Pending']},
          {key: UNPULLABLE, operator: 'In', values: ['true']},
          {key: '.status.containerStatuses', operator: 'DoesNotExist'},
        ],
      },
      next: {
        statusTemplate:
          '{{ $now := Now }}\nconditions:\n- lastTransitionTime: {{ $now | Quote }}\n  status: "False"\n  type: Initialized\n- lastTransitionTime: {{ $now | Quote }}\n  status: "False"\n  type: Ready\n- lastTransitionTime: {{ $now | Quote }}\n  status: "False"\n  type: ContainersReady\n' +
          '{{ if .spec.initContainers }}' + waiting('initContainerStatuses') + '{{ end }}' + waiting('containerStatuses') +
          'phase: Pending\nstartTime: {{ $now | Quote }}\n',
      },
    },
  };
}

/**
 * The KWOK stages (node start and heartbeat, pod ready, complete and delete) that build.sh gathered,
 * with readiness gates as a kubelet has them: KWOK's own pod-ready stage sets every gate's condition
 * True itself, whereas a kubelet leaves them to whoever owns them and keeps a pod's Ready False
 * until they are all True. So that stage here sets no gate, and two more make Ready follow them.
 */
function kwokStages(): string {
  const source = path.join(CACHE, 'kwok', 'stages-fast.yaml');
  if (!fs.existsSync(source)) throw new Error(`${source} is missing: run "npm run testenv:build" first`);
  const stages = yaml.loadAll(fs.readFileSync(source, 'utf8')) as Array<{metadata: {name: string}; spec: {next?: {statusTemplate?: string}}}>;
  const podReady = stages.find((s) => s?.metadata?.name === 'pod-ready');
  const template = podReady?.spec.next?.statusTemplate ?? '';
  const gates = /\n *\{\{ range \.spec\.readinessGates \}\}[\s\S]*?\{\{ end \}\}/;
  const ready = /(\n *- lastTransitionTime: [^\n]*\n *)status: "True"(\n *type: Ready\n)/;
  if (!gates.test(template) || !ready.test(template)) throw new Error(`${source}: the pod-ready stage is not as expected (readiness gates, Ready); check kwok's kustomize/stage/pod/fast`);
  podReady!.spec.next!.statusTemplate = template.replace(gates, '').replace(ready, '$1status: {{ if .spec.readinessGates }}"False"{{ else }}"True"{{ end }}$2');
  (podReady!.spec as {selector: {matchExpressions: unknown[]}}).selector.matchExpressions.push({key: UNPULLABLE, operator: 'NotIn', values: ['true']});
  const file = path.join(STATE, 'kwok-stages.yaml');
  fs.writeFileSync(file, [...stages.filter(Boolean), readinessGateStage(true), readinessGateStage(false), unpullableStage()].map((s) => yaml.dump(s, {lineWidth: -1})).join('---\n'));
  return file;
}

function nodeManifests(cluster: string, clusterIndex: number, profile: ClusterProfile): string {
  const docs: unknown[] = [];
  let nodeIndex = 0;
  for (const pool of profile.nodes) {
    for (let i = 0; i < (pool.count ?? 1); i++, nodeIndex++) {
      const name = `${cluster}-${pool.name}-${i}`;
      const resources: Record<string, string> = {
        cpu: String(pool.cpu ?? '8'),
        memory: String(pool.memory ?? '32Gi'),
        pods: String(pool.pods ?? 110),
        'ephemeral-storage': '100Gi',
      };
      if (pool.gpu) resources['nvidia.com/gpu'] = String(pool.gpu);
      docs.push({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: {'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0'},
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            type: 'kwok',
            'superskyray.io/test-cluster': cluster,
            ...(pool.labels ?? {}),
          },
        },
        spec: {
          // Pod IPs come from here: the pod network (network.ts), one /24 per node.
          podCIDR: nodePodCIDR(clusterIndex, nodeIndex),
          podCIDRs: [nodePodCIDR(clusterIndex, nodeIndex)],
          taints: pool.taints ?? [],
        },
        status: {
          allocatable: resources,
          capacity: resources,
          // Both kinds, or KWOK's node-initialize stage rewrites the list without ours.
          addresses: [
            // Past the 254th node the third octet counts on, so that a fleet of a thousand still has addresses.
            {type: 'InternalIP', address: `127.${50 + clusterIndex}.${(nodeIndex + 1) >> 8}.${(nodeIndex + 1) & 255}`},
            {type: 'Hostname', address: name},
          ],
          nodeInfo: {architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake', containerRuntimeVersion: 'fake'},
          phase: 'Running',
        },
      });
    }
  }
  return docs.map((doc) => yaml.dump(doc)).join('---\n');
}

function auditPolicy(dir: string): string {
  const file = path.join(dir, 'audit-policy.yaml');
  fs.writeFileSync(file, yaml.dump({apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{level: 'Metadata'}]}));
  return file;
}

/** The API server's audit log of one test cluster: one JSON event per request. */
export function auditLog(cluster: string): string {
  return path.join(STATE, cluster, 'audit.log');
}

/** A GET on a test cluster's API server, as its administrator. */
function apiGet(cluster: {apiPort: number; token: string}, ca: Buffer, urlPath: string): Promise<{status: number; body: string}> {
  return get(`https://127.0.0.1:${cluster.apiPort}${urlPath}`, {ca, headers: {authorization: `Bearer ${cluster.token}`}});
}

async function apiReady(cluster: {apiPort: number; token: string}, ca: Buffer): Promise<true | undefined> {
  const res = await apiGet(cluster, ca, '/readyz');
  return res.status === 200 ? true : undefined;
}

async function startCluster(state: State, name: string, index: number, etcdPort: number, profile = profileOf(name)): Promise<ClusterRecord> {
  if (index > MAX_CLUSTER_INDEX) throw new Error(`cluster ${name}: index ${index} has no address range (at most ${MAX_CLUSTER_INDEX})`);
  const dir = path.join(STATE, name);
  fs.mkdirSync(dir, {recursive: true});
  const token = randomBytes(24).toString('hex');
  const dataPlaneToken = randomBytes(24).toString('hex');
  fs.writeFileSync(
    path.join(dir, 'tokens.csv'),
    `${token},admin,admin,"system:masters"\n${dataPlaneToken},testenv-dataplane,testenv-dataplane,"system:masters"\n`,
    {mode: 0o600},
  );
  const {privateKey, publicKey} = generateKeyPairSync('rsa', {modulusLength: 2048});
  fs.writeFileSync(path.join(dir, 'sa.key'), privateKey.export({type: 'pkcs8', format: 'pem'}), {mode: 0o600});
  fs.writeFileSync(path.join(dir, 'sa.pub'), publicKey.export({type: 'spki', format: 'pem'}));
  const certDir = path.join(dir, 'certs');
  const certFile = path.join(certDir, 'apiserver.crt');
  const apiPort = await startServing(state, `${name}-kube-apiserver`, binary('kube-apiserver'), (apiPort) => [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--etcd-prefix=/registry-${name}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // The endpoint reconciler refuses a loopback address; nothing here reaches the API through the
    // in-cluster "kubernetes" Service anyway.
    '--endpoint-reconciler-type=none',
    `--secure-port=${apiPort}`,
    `--cert-dir=${certDir}`,
    `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--anonymous-auth=false',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
    // The pod network's Service addresses: its first, the API server's own Service, is the way pods
    // reach it (the data plane relays it), and its self-signed certificate names it.
    `--service-cluster-ip-range=${serviceCIDR(index)}`,
    '--allow-privileged=true',
    // Every request, as metadata: tests count the tool's writes at the API from here.
    `--audit-policy-file=${auditPolicy(dir)}`,
    `--audit-log-path=${path.join(dir, 'audit.log')}`,
    '--audit-log-maxsize=0',
    '--profiling=false',
    '--v=1',
  ], async (apiPort) => (fs.existsSync(certFile) ? apiReady({apiPort, token}, fs.readFileSync(certFile)) : undefined), 120_000);

  const kubeconfig = path.join(dir, 'admin.kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigYaml([{name, apiPort, token, ca: certFile}]), {mode: 0o600});
  // The same, as seen from the pod network: through the cluster's `kubernetes` Service.
  const podKubeconfig = (user: string, userToken: string) => {
    const file = path.join(dir, `${user}.pod-network.kubeconfig`);
    fs.writeFileSync(file, kubeconfigYaml([{name, apiPort, token: userToken, ca: certFile, server: `https://${apiServiceIP(index)}:443`}]), {mode: 0o600});
    return file;
  };
  const record: ClusterRecord = {name, index, apiPort, token, dataPlaneToken, kubeconfig};
  // The data plane serves a cluster from the moment the state file names it.
  state.clusters = [...state.clusters.filter((c) => c.name !== name), record];
  writeState(state);

  // What the controller-manager and the scheduler share: the admin kubeconfig, serving on loopback.
  const controlPlane = async () => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${await freePort()}`,
    '--leader-elect=false',
    '--v=1',
  ];
  await start(state, `${name}-kube-controller-manager`, binary('kube-controller-manager'), [
    ...(await controlPlane()),
    '--use-service-account-credentials=false',
    `--service-account-private-key-file=${path.join(dir, 'sa.key')}`,
    `--root-ca-file=${certFile}`,
    '--controllers=*',
  ]);
  await start(state, `${name}-kube-scheduler`, binary('kube-scheduler'), await controlPlane());
  await start(state, `${name}-kwok`, binary('kwok'), [
    `--kubeconfig=${kubeconfig}`,
    `--config=${kwokStages()}`,
    '--manage-all-nodes=false',
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    // Without leases the node lifecycle controller marks the fake nodes NotReady after its grace period.
    '--node-lease-duration-seconds=40',
    `--cidr=${fallbackPodCIDR(index)}`,
    `--node-ip=127.${50 + index}.0.254`,
    `--server-address=127.0.0.1:${await freePort()}`,
  ]);

  // The cluster's DNS, in the pod network, as its kube-dns would be.
  const resolver = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolver, `search svc.cluster.local cluster.local\nnameserver ${dnsIP(index)}\noptions ndots:5\n`);
  await addHubAddress(STATE, dnsIP(index));
  const corefile = path.join(dir, 'Corefile');
  fs.writeFileSync(corefile, corefileFor(index, podKubeconfig('testenv-dataplane', dataPlaneToken), name));
  const coredns = await start(state, `${name}-coredns`, binary('coredns'), ['-conf', corefile], {podNetwork: {resolver}});
  await poll(`${name} CoreDNS ready (its kubernetes plugin has synced)`, 60_000, async () => ((await inPodNetwork(['curl', '-sf', `http://${dnsIP(index)}:8181/ready`]).catch(() => undefined)) !== undefined ? true : undefined), coredns);

  if (profile.kuberay !== false) {
    await poll(`${name} KubeRay CRDs applied`, 60_000, async () => applied(kubeconfig, ['--server-side', '-f', path.join(CACHE, 'crds')]));
    await poll(`${name} KubeRay CRDs established`, 60_000, async () => {
      const jsonpath = '{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}';
      const lines = (await kubectl(kubeconfig, ['get', 'crd', '-o', `jsonpath=${jsonpath}`])).split('\n');
      const established = ['rayclusters.ray.io', 'rayservices.ray.io', 'rayjobs.ray.io'].every((crd) => lines.includes(`${crd}=True`));
      return established ? true : undefined;
    });
    // The operator's controllers need their kinds in discovery when they start, which can trail the
    // CRDs' Established condition.
    await poll(`${name} ray.io/v1 in discovery`, 60_000, async () => {
      const res = await apiGet({apiPort, token}, fs.readFileSync(certFile), '/apis/ray.io/v1');
      const served = res.status === 200 ? (JSON.parse(res.body) as {resources: Array<{name: string}>}).resources.map((r) => r.name) : [];
      return ['rayclusters', 'rayservices', 'rayjobs'].every((r) => served.includes(r)) ? true : undefined;
    });
    // In the pod network, as in a cluster: its calls to a Ray head's dashboard go to the head
    // Service's name, which the cluster's CoreDNS resolves.
    await startServing(state, `${name}-kuberay-operator`, binary('kuberay-operator'), (healthPort) => [
      `--kubeconfig=${podKubeconfig('admin', token)}`,
      '--metrics-addr=0',
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      '--enable-leader-election=false',
    ], async (healthPort) => ((await inPodNetwork(['curl', '-sf', `http://127.0.0.1:${healthPort}/readyz`]).catch(() => undefined)) !== undefined ? true : undefined), 60_000, {podNetwork: {resolver}});
  }
  // In chunks, a few side by side: one apply takes the objects one after another, and a benchmark's
  // thousand nodes would take it minutes.
  const docs = nodeManifests(name, index, profile).split(/^---\n/m);
  const chunks = Array.from({length: Math.ceil(docs.length / 100)}, (_, i) => docs.slice(i * 100, (i + 1) * 100).join('---\n'));
  let nextChunk = 0;
  const applyChunks = async () => {
    for (let i = nextChunk++; i < chunks.length; i = nextChunk++) {
      await poll(`${name} fake nodes applied (${i + 1}/${chunks.length})`, 60_000, async () => applied(kubeconfig, ['-f', '-'], chunks[i]));
    }
  };
  await Promise.all(Array.from({length: 4}, applyChunks));
  // One list a second, not `kubectl wait node --all`, which waits on the nodes one after another: a
  // benchmark's thousand take it minutes. Ready is not enough: the node lifecycle controller lifts
  // each new node's not-ready taint after it, a thousand of them a minute or more later, and until
  // then the scheduler and the tool see no room there.
  const nodeCount = profile.nodes.reduce((n, pool) => n + (pool.count ?? 1), 0);
  await waitFor(`${name} fake nodes Ready, untainted`, async () => {
    const jsonpath = '{range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}{"\\n"}{end}';
    const lines = (await kubectl(kubeconfig, ['get', 'nodes', '-o', `jsonpath=${jsonpath}`])).split('\n');
    const ready = lines.filter((l) => l.startsWith('True') && !l.includes('node.kubernetes.io/')).length;
    return ready >= nodeCount ? true : undefined;
  }, {timeoutMs: 120_000 + 200 * nodeCount, intervalMs: 1000});
  // Pods cannot be created in a namespace until its default ServiceAccount exists.
  await poll(`${name} default ServiceAccount`, 60_000, async () =>
    (await kubectl(kubeconfig, ['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']).catch(() => '')).trim() || undefined,
  );
  // Nothing waits on the scheduler or the controller-manager directly: one that died would show only
  // later, as a test that times out.
  const dead = state.processes.filter((p) => p.name.startsWith(`${name}-`) && !isOurs(p));
  if (dead.length > 0) throw new Error(`${dead.map((p) => `${p.name} exited (${lastLogLine(p.name)})`).join('; ')}`);
  return record;
}

/**
 * CoreDNS for one cluster: its kubernetes plugin answers cluster.local from the cluster's Services and
 * EndpointSlices. There is no forward plugin: a name outside the cluster has no answer.
 */
function corefileFor(index: number, kubeconfig: string, context: string): string {
  return [
    'cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {',
    `  bind ${dnsIP(index)}`,
    '  errors',
    `  ready ${dnsIP(index)}:8181`,
    '  kubernetes cluster.local in-addr.arpa ip6.arpa {',
    `    kubeconfig ${kubeconfig} ${context}`,
    '    pods insecure',
    '    ttl 5',
    '  }',
    '}',
    '.:53 {',
    `  bind ${dnsIP(index)}`,
    '  errors',
    '}',
    '',
  ].join('\n');
}

/** A command in the hub namespace, where the pod network's servers listen. */
function inPodNetwork(argv: string[]): Promise<string> {
  return run('nsenter', [`--net=/run/netns/${hubNetns(STATE)}`, ...argv]);
}

async function healthy(state: State): Promise<boolean> {
  if (!state.processes.every(isOurs)) return false;
  for (const cluster of state.clusters) {
    const ca = fs.readFileSync(path.join(STATE, cluster.name, 'certs', 'apiserver.crt'));
    if (!(await apiReady(cluster, ca).catch(() => undefined))) return false;
  }
  return state.clusters.length > 0;
}

/**
 * One `up` or `down` at a time per state folder: two at once would each record only their own
 * processes, and the others would outlive every `down`. The lock sits beside the folder, which `down`
 * removes.
 */
async function exclusively<T>(work: () => Promise<T>): Promise<T> {
  const lock = `${STATE}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), {flag: 'wx'});
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = Number(fs.readFileSync(lock, 'utf8'));
      if (holder > 0 && alive(holder)) {
        throw new Error(`another testenv up or down (pid ${holder}) is working on ${STATE}: wait for it to end`);
      }
      fs.rmSync(lock, {force: true});
    }
  }
  try {
    return await work();
  } finally {
    fs.rmSync(lock, {force: true});
  }
}

export function up(): Promise<string> {
  return exclusively(startAll);
}

async function startAll(): Promise<string> {
  const existing = readState();
  const wanted = clusterNames();
  if (existing && (await healthy(existing)) && existing.clusters.map((c) => c.name).join(',') === wanted.join(',')) {
    log('already up');
    return KUBECONFIG;
  }
  if (existing) await stopAll();
  fs.mkdirSync(STATE, {recursive: true});
  const state: State = {processes: [], clusters: [], etcdPort: await freePort()};
  writeState(state);
  try {
    const etcd = await start(state, 'etcd', binary('etcd'), [
      '--name=testenv',
      `--data-dir=${path.join(STATE, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${state.etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${state.etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${await freePort()}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await poll('etcd /health', 60_000, async () => ((await get(`http://127.0.0.1:${state.etcdPort}/health`)).status === 200 ? true : undefined), etcd);
    log(`etcd up on 127.0.0.1:${state.etcdPort}`);
    await ensureHub(STATE);
    const dataplane = await start(state, 'dataplane', process.execPath, ['--import', 'tsx', path.join(REPO, 'test', 'env', 'dataplane.ts'), STATE, CACHE], {unwrapped: true});
    await poll('the data plane', 30_000, async () => (fs.existsSync(path.join(STATE, 'dataplane', 'ready')) ? true : undefined), dataplane);
    // Every cluster's start-up runs to its end before anything is stopped, so that none goes on
    // starting processes after the stop.
    const started = await Promise.allSettled(wanted.map((name, index) => startCluster(state, name, index, state.etcdPort)));
    const failures = started.flatMap((r, i) => (r.status === 'rejected' ? [`${wanted[i]}: ${(r.reason as Error).message}`] : []));
    if (failures.length > 0) throw new Error(failures.join('; '));
    state.clusters = started.map((r) => (r as PromiseFulfilledResult<ClusterRecord>).value);
    writeState(state);
    const clusters = state.clusters.map((c) => ({...c, ca: path.join(STATE, c.name, 'certs', 'apiserver.crt')}));
    fs.writeFileSync(KUBECONFIG, kubeconfigYaml(clusters), {mode: 0o600});
    log(`clusters up: ${state.clusters.map((c) => `${c.name} (https://127.0.0.1:${c.apiPort})`).join(', ')}`);
    return KUBECONFIG;
  } catch (err) {
    await stopProcesses(state);
    await removePodNetwork();
    log(`start-up failed; everything it started is stopped; the logs are in ${path.join(STATE, 'logs')}`);
    throw err;
  }
}

/** Stops what we started, by pid: operators and controllers first, etcd last. */
async function stopProcesses(state: State): Promise<void> {
  const ordered = [...state.processes].reverse();
  for (const record of ordered) if (isOurs(record)) process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (ordered.some(isOurs) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const record of ordered) if (isOurs(record)) process.kill(record.pid, 'SIGKILL');
  log(`stopped ${ordered.length} processes`);
}

/** The components running now, by name and pid, for tests that look at them through /proc. */
export function components(): Array<{name: string; pid: number}> {
  return (readState()?.processes ?? []).filter(isOurs).map(({name, pid}) => ({name, pid}));
}

/**
 * Takes one cluster's API server away (as an outage would) and brings it back, for tests of how the
 * tool behaves when a cluster does not answer. Its other components keep running and reconnect.
 */
export async function stopApiserver(cluster: string): Promise<void> {
  const state = readState();
  const record = state?.processes.find((p) => p.name === `${cluster}-kube-apiserver`);
  if (!state || !record || !isOurs(record)) throw new Error(`the kube-apiserver of ${cluster} is not running`);
  // Killed, as in a crash: a graceful stop waits for every open watch to end.
  process.kill(record.pid, 'SIGKILL');
  await poll(`${cluster} kube-apiserver to stop`, 30_000, async () => (isOurs(record) ? undefined : true));
}

export async function startApiserver(cluster: string): Promise<void> {
  const state = readState();
  const index = state?.processes.findIndex((p) => p.name === `${cluster}-kube-apiserver`) ?? -1;
  const clusterRecord = state?.clusters.find((c) => c.name === cluster);
  if (!state || index < 0 || !clusterRecord) throw new Error(`no kube-apiserver of ${cluster} to start`);
  const old = state.processes[index]!;
  if (isOurs(old)) return;
  state.processes.splice(index, 1);
  const record = await start(state, old.name, old.binary, old.args ?? []);
  const ca = fs.readFileSync(path.join(STATE, cluster, 'certs', 'apiserver.crt'));
  await poll(`${cluster} kube-apiserver /readyz`, 120_000, () => apiReady(clusterRecord, ca).catch(() => undefined), record);
}

/**
 * Starts one more cluster beside the running ones, for a test that needs a different kind (one
 * without KubeRay, say). It is not in the shared kubeconfig: the returned file holds its one context,
 * named as the cluster. removeCluster stops it.
 */
export async function addCluster(name: string, profile: ClusterProfile): Promise<string> {
  const state = readState();
  if (!state) throw new Error('the test clusters are not up: run "npm run testenv:up"');
  if (state.clusters.some((c) => c.name === name)) throw new Error(`the test cluster ${name} is already up`);
  // Address ranges of their own: the shared clusters take the first indexes.
  const record = await startCluster(state, name, Math.max(7, ...state.clusters.map((c) => c.index)) + 1, state.etcdPort, profile);
  const after = readState() ?? state;
  writeState({...after, clusters: [...after.clusters.filter((c) => c.name !== name), record]});
  return record.kubeconfig;
}

/** Stops a cluster that addCluster started, by the pids it recorded, and forgets it. */
export async function removeCluster(name: string): Promise<void> {
  const state = readState();
  if (!state) return;
  const mine = state.processes.filter((p) => p.name.startsWith(`${name}-`));
  await stopProcesses({...state, processes: mine});
  const after = readState() ?? state;
  writeState({...after, processes: after.processes.filter((p) => !mine.includes(p) && !mine.some((m) => m.pid === p.pid)), clusters: after.clusters.filter((c) => c.name !== name)});
  fs.rmSync(path.join(STATE, name), {recursive: true, force: true});
}

/**
 * Runs a command as a client of the pod network (a load generator, a probe of a Ray head): in a
 * namespace of its own on the bridge, resolving through `cluster`'s CoreDNS. Resolves with its
 * output; `detached` returns the running process instead, for the caller to stop by its pid.
 */
export async function clientNetns(cluster: string): Promise<{netns: string; resolver: string}> {
  const state = readState();
  const record = state?.clusters.find((c) => c.name === cluster);
  if (!record) throw new Error(`the test cluster ${cluster} is not up`);
  const netns = `${netnsPrefix(STATE)}-client${record.index}`;
  if (!(await netnsList()).includes(netns)) await addEndpointNetns(STATE, netns, clientIP(record.index + 1));
  return {netns, resolver: path.join(STATE, cluster, 'resolv.conf')};
}

export function clientArgv(client: {netns: string; resolver: string}, argv: string[]): string[] {
  return ['nsenter', `--net=/run/netns/${client.netns}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', client.resolver, ...argv];
}

/** Every network namespace of this test environment: the hub, the pods' and the clients'. */
export async function podNetworkNamespaces(): Promise<string[]> {
  const prefix = `${netnsPrefix(STATE)}-`;
  return (await netnsList()).filter((name) => name.startsWith(prefix));
}

/** The running pods of the data plane: each pod's folder, and the pid of its first process (pid 1 inside it). */
export function podSandboxes(): Array<{cluster: string; pod: string; dir: string; initPid: number}> {
  const pods = path.join(STATE, 'pods');
  if (!fs.existsSync(pods)) return [];
  return fs.readdirSync(pods).flatMap((cluster) =>
    fs.readdirSync(path.join(pods, cluster)).flatMap((pod) => {
      const dir = path.join(pods, cluster, pod);
      const holder = Number(readOr(path.join(dir, 'holder.pid'), '0'));
      const initPid = Number(readOr(`/proc/${holder}/task/${holder}/children`, '').split(/\s+/)[0] || 0);
      return holder > 0 && initPid > 0 && readOr(`/proc/${holder}/cmdline`, '').split('\0').includes(dir) ? [{cluster, pod, dir, initPid}] : [];
    }),
  );
}

/** The Ray venv's python, which every Ray pod here runs. */
export const RAY_PYTHON = path.join(CACHE, 'ray', 'bin', 'python');

export function down(): Promise<void> {
  return exclusively(stopAll);
}

async function stopAll(): Promise<void> {
  const state = readState();
  if (state) await stopProcesses(state);
  await removePodNetwork();
  fs.rmSync(STATE, {recursive: true, force: true});
}

function readOr(file: string, otherwise: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return otherwise;
  }
}

/**
 * What the data plane leaves if it was killed: the pods it ran (each stopped by its sandbox's pid,
 * which it recorded, once /proc says that pid still runs that pod), then every namespace of ours.
 */
async function removePodNetwork(): Promise<void> {
  const pods = path.join(STATE, 'pods');
  const holders = fs.existsSync(pods)
    ? fs.readdirSync(pods).flatMap((cluster) => fs.readdirSync(path.join(pods, cluster)).map((pod) => path.join(pods, cluster, pod)))
    : [];
  for (const dir of holders) {
    const pid = Number(readOr(path.join(dir, 'holder.pid'), '0'));
    if (pid > 0 && readOr(`/proc/${pid}/cmdline`, '').split('\0').includes(dir)) process.kill(pid, 'SIGKILL');
  }
  await deleteAllNetns(STATE);
}

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case 'up':
      process.stdout.write(`${await up()}\n`);
      return;
    case 'down':
      await down();
      return;
    case 'kubeconfig':
      if (!fs.existsSync(KUBECONFIG)) throw new Error('the test clusters are not up: run "npm run testenv:up"');
      process.stdout.write(`${KUBECONFIG}\n`);
      return;
    default:
      throw new Error('usage: testenv.ts up|down|kubeconfig');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv[2]).catch((err: Error) => {
    log(`error: ${err.message}`);
    process.exit(1);
  });
}
