// npm run bench:fleet: watch at fleet scale, on the real local test clusters (test/env). Starts N
// clusters of KWOK nodes and filler pods, runs `watch`, grows a group under it one worker at a time
// (home is full, the other clusters have room, so each new worker is spanned), and prints, per size of
// the clusters: reaction time, the tool's API requests, watch's RSS and CPU, and `status` against a
// kubectl loop. Prints figures beside their targets; asserts nothing. Progress goes to stderr, the
// results to stdout. Whatever it started is stopped at the end, on an error or on Ctrl-C.
//
//   npm run bench:fleet -- [--clusters 3] [--nodes 1000] [--pods 1000,10000] [--steps 10] [--batch 5]
//                          [--quiet 60] [--status-runs 5] [--concurrency 32] [--cli PATH/bin/run.js]
//                          [--state /tmp/superskyray-bench-fleet] [--keep] [--profile DIR]
//
// --profile writes a V8 CPU profile of each size's watch into DIR (open it in Chrome's DevTools).
import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import yaml from 'js-yaml';
import {Fleet} from '../src/kube/fleet.js';
import {RESOURCES} from '../src/kube/resources.js';
import type {KubeObject, Pod} from '../src/kube/types.js';
import {isInSwap} from '../src/kuberay/swap.js';
import {informerSpecs} from '../src/reconcile/informed.js';
import {OVERFLOW_FROM, OVERFLOW_NODES} from '../src/sandbox/addresses.js';
import {REPO, run} from '../test/support/cli.js';
import {fixture, isDryRun} from '../test/support/e2e.js';
import {waitFor} from '../test/support/poll.js';

interface Options {
  clusters: number;
  nodes: number;
  pods: number[];
  steps: number;
  batch: number;
  quiet: number;
  statusRuns: number;
  concurrency: number;
  cli: string;
  state: string;
  keep: boolean;
  profile?: string;
}

const USAGE = `usage: npm run bench:fleet -- [--clusters 3] [--nodes 1000] [--pods 1000,10000] [--steps 10] [--batch 5]
  [--quiet 60] [--status-runs 5] [--concurrency 32] [--cli PATH/bin/run.js] [--state DIR] [--keep] [--profile DIR]`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    clusters: 3,
    nodes: 1000,
    pods: [1000, 10_000],
    steps: 10,
    batch: 5,
    quiet: 60,
    statusRuns: 5,
    concurrency: 32,
    cli: path.join(REPO, 'bin', 'run.js'),
    state: path.join(os.tmpdir(), 'superskyray-bench-fleet'),
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    const count = (min: number) => {
      const n = Number(value());
      return Number.isInteger(n) && n >= min ? n : fail(`${flag} takes a whole number >= ${min}`);
    };
    switch (flag) {
      case '--clusters': o.clusters = count(2); break;
      case '--nodes': o.nodes = count(1); break;
      case '--pods': o.pods = value().split(',').map((s) => Number(s.trim())); break;
      case '--steps': o.steps = count(1); break;
      case '--batch': o.batch = count(0); break;
      case '--quiet': o.quiet = count(1); break;
      case '--status-runs': o.statusRuns = count(1); break;
      case '--concurrency': o.concurrency = count(1); break;
      case '--cli': o.cli = path.resolve(value()); break;
      case '--state': o.state = path.resolve(value()); break;
      case '--keep': o.keep = true; break;
      case '--profile': o.profile = path.resolve(value()); break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: fail(`unknown argument ${flag}`);
    }
  }
  if (o.pods.some((n) => !Number.isInteger(n) || n < 0)) fail('--pods takes sizes like 1000,10000');
  o.pods = [...new Set(o.pods)].sort((a, b) => a - b);
  if (o.nodes > OVERFLOW_FROM + OVERFLOW_NODES) fail(`--nodes: test/env gives pod addresses to at most ${OVERFLOW_FROM + OVERFLOW_NODES} nodes per cluster`);
  // Nodes past the 240th have a /27 (30 pod addresses): more fillers per node would run KWOK past it.
  if (o.nodes > OVERFLOW_FROM && Math.max(...o.pods) / o.nodes > 25) fail('--pods: at most 25 filler pods per node when --nodes is over 240');
  if (!fs.existsSync(o.cli)) fail(`--cli ${o.cli}: no such file (build that tree first)`);
  if (o.state.startsWith(path.join(REPO, '.testenv'))) fail('--state: give the bench a folder of its own, not the tests\' .testenv');
  return o;
}

function fail(message: string): never {
  process.stderr.write(`bench-fleet: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`bench-fleet: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const secondsSince = (t: number) => (Date.now() - t) / 1000;

const APP_NS = 'bench';
const FILL_NS = 'bench-fill';
/** The group's workers: more cpu than any node at home has, so the scheduler leaves each new one Pending. */
const WORKER = {cpu: '2', memory: '2Gi'};
const FILLER = {cpu: '50m', memory: '32Mi'};

/**
 * Home: one node with room for the head only, and filler nodes of 1 cpu, where no worker ever fits.
 * The others: filler nodes of 8 cpu, with room for three workers each beside their fillers.
 */
function profile(nodes: number): string {
  const fill = (cpu: string, memory: string) => ({name: 'fill', count: nodes, cpu, memory, pods: 110});
  return yaml.dump({
    home: {nodes: [{name: 'ray', count: 1, cpu: '2', memory: '8Gi'}, fill('1', '4Gi')]},
    default: {nodes: [fill('8', '32Gi')]},
  });
}

// ---------------------------------------------------------------------------------------------------
// The test environment, as child processes: a Ctrl-C during `up` must leave a lock and a state that
// `down` (from this process) can take over, which an `up` running in this very process would not.

let current: ChildProcess | undefined;
let tearingDown = false;
/** Set on Ctrl-C: what fails after it (a request to an API server being stopped) is no news. */
let interrupted = false;

function testenv(command: 'up' | 'down', env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test', 'env', 'testenv.ts'), command], {cwd: REPO, env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'inherit']});
    current = child;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (current === child) current = undefined;
      if (code === 0) resolve();
      else reject(new Error(`testenv ${command} exited ${code ?? signal}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// The API servers' audit logs, streamed: at a thousand nodes per cluster their leases alone add a
// hundred events a second, far too much to read whole.

interface Audited {
  auditID: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  stage: string;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  objectRef?: {resource?: string; namespace?: string; name?: string; subresource?: string};
}

/** A timestamp of the audit log in microseconds since the epoch (Date.parse keeps only milliseconds). */
function micros(ts: string): number {
  const fraction = /\.(\d+)Z$/.exec(ts)?.[1] ?? '0';
  return Date.parse(ts) * 1000 + Number(fraction.padEnd(6, '0').slice(3, 6));
}

const TOOL = 'kubectl-superskyray';

/** The events from `offset` on made by the tool or the scheduler, once per request (a watch logs two stages). */
async function auditFrom(file: string, offset: number): Promise<Audited[]> {
  const out: Audited[] = [];
  const seen = new Set<string>();
  const lines = readline.createInterface({input: fs.createReadStream(file, {start: offset}), crlfDelay: Infinity});
  for await (const line of lines) {
    if (!line.includes(`"userAgent":"${TOOL}`) && !line.includes('"userAgent":"kube-scheduler/')) continue;
    let e: Audited;
    try {
      e = JSON.parse(line) as Audited;
    } catch {
      continue; // the last line, half written
    }
    if (seen.has(e.auditID)) continue;
    seen.add(e.auditID);
    out.push(e);
  }
  return out;
}

const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const byTool = (e: Audited) => (e.userAgent ?? '').startsWith(TOOL);

interface Counts {
  list: number;
  watch: number;
  get: number;
  writes: number;
  dryRuns: number;
}

function count(events: Audited[], fromUs: number, toUs: number): Counts {
  const c: Counts = {list: 0, watch: 0, get: 0, writes: 0, dryRuns: 0};
  for (const e of events) {
    const at = micros(e.requestReceivedTimestamp);
    if (!byTool(e) || at < fromUs || at >= toUs) continue;
    if (e.verb === 'list') c.list++;
    else if (e.verb === 'watch') c.watch++;
    else if (e.verb === 'get') c.get++;
    else if (WRITES.has(e.verb)) {
      if (isDryRun(e)) c.dryRuns++;
      else c.writes++;
    }
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------
// watch's process, sampled through /proc.

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts cpu time in these on Linux

interface Sample {
  at: number;
  cpuSeconds: number;
  rssMB: number;
  hwmMB: number;
}

function sample(pid: number): Sample | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return {at: Date.now(), cpuSeconds, rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024};
  } catch {
    return undefined;
  }
}

interface Watch {
  child: ChildProcess;
  lines: string[];
  samples: Sample[];
  stop: () => Promise<void>;
}

function startWatch(cli: string, fleetArgs: string[], profile?: string): Watch {
  const profiling = profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
  const child = spawn(process.execPath, [...profiling, cli, 'watch', '--no-tui', '-o', 'json', '-n', APP_NS, ...fleetArgs], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']});
  current = child;
  const lines: string[] = [];
  const samples: Sample[] = [];
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (buffer + chunk.toString('utf8')).split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr!.on('data', (chunk: Buffer) => lines.push(`stderr: ${chunk.toString('utf8').trimEnd()}`));
  const timer = setInterval(() => {
    const s = child.pid === undefined ? undefined : sample(child.pid);
    if (s) samples.push(s);
  }, 1000);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    child,
    lines,
    samples,
    stop: async () => {
      clearInterval(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      if (current === child) current = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------------

/** Creates pods `from`..`to`-1 of the fillers in one cluster, `concurrency` at a time, bound to its filler nodes. */
async function createFillers(fleet: Fleet, cluster: string, nodes: number, from: number, to: number, concurrency: number): Promise<void> {
  const client = fleet.cluster(cluster);
  let next = from;
  let done = 0;
  let reported = Date.now();
  const worker = async () => {
    for (let i = next++; i < to; i = next++) {
      const pod: Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {name: `fill-${i}`, namespace: FILL_NS, labels: {app: 'bench-fill'}},
        // Bound by name: the scheduler never sees them, and KWOK makes them Running.
        spec: {nodeName: `${cluster}-fill-${i % nodes}`, containers: [{name: 'pause', image: 'registry.k8s.io/pause:3.10', resources: {requests: FILLER, limits: FILLER}}]},
      } as Pod;
      await client.create(RESOURCES.pods, pod).catch((err: Error & {code?: number}) => {
        if (err.code !== 409) throw err; // a run taken up again: it is there already
      });
      done++;
      if (Date.now() - reported > 10_000) {
        reported = Date.now();
        log(`  ${cluster}: ${from + done}/${to} filler pods created`);
      }
    }
  };
  await Promise.all(Array.from({length: concurrency}, worker));
}

/** Whether every pod of a namespace is Running, from a one-item page, not a list of them all. */
async function allRunning(fleet: Fleet, cluster: string, namespace: string): Promise<boolean> {
  const page = await fleet.cluster(cluster).request<{items: unknown[]; metadata?: {continue?: string}}>({
    path: `/api/v1/namespaces/${namespace}/pods`,
    query: {fieldSelector: 'status.phase!=Running', limit: 1},
  });
  return page.items.length === 0 && !page.metadata?.continue;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const median = (values: number[]) => percentile(values, 50);

async function timed(argv: [string, ...string[]]): Promise<number> {
  const started = process.hrtime.bigint();
  const result = await run(argv[0], argv.slice(1), {KUBECONFIG: process.env.KUBECONFIG});
  if (result.code !== 0) throw new Error(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim().slice(0, 500)}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

interface Row {
  pods: number;
  setupSeconds: number;
  syncSeconds: number;
  syncCpuSeconds: number;
  reactions: number[];
  batchMs: number;
  steady: Counts & {seconds: number};
  perSpan: Counts[];
  batch?: Counts;
  rssMB: number;
  peakMB: number;
  steadyCpuPercent: number;
  stepsCpuSeconds: number;
  statusMs: number;
  kubectlMs: number;
  notes: string[];
}

type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<Record<string, unknown> & {replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const clusters = ['home', ...Array.from({length: o.clusters - 1}, (_, i) => `remote-${i + 1}`)];
  const [home, ...remotes] = clusters as [string, ...string[]];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'superskyray-bench-'));
  const profileFile = path.join(scratch, 'profile.yaml');
  fs.writeFileSync(profileFile, profile(o.nodes));
  const env = {SUPERSKYRAY_TESTENV_STATE: o.state, TESTENV_CLUSTERS: clusters.join(','), TESTENV_PROFILE: profileFile};
  // testenv.ts reads the state folder when it is loaded.
  Object.assign(process.env, env);
  const {auditLog, KUBECONFIG, CACHE} = await import('../test/env/testenv.js');

  const teardown = async () => {
    if (tearingDown) return;
    tearingDown = true;
    if (current && current.exitCode === null) {
      current.kill('SIGTERM');
      await new Promise((resolve) => current?.once('close', resolve) ?? resolve(undefined));
    }
    if (o.keep) {
      log(`--keep: the clusters stay up; stop them with SUPERSKYRAY_TESTENV_STATE=${o.state} npm run testenv:down`);
      return;
    }
    log('stopping the test clusters');
    await testenv('down', env).catch((err: Error) => log(`testenv down: ${err.message}`));
    fs.rmSync(scratch, {recursive: true, force: true});
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      interrupted = true;
      log(`${signal}: tearing down`);
      void teardown().finally(() => process.exit(130));
    });
  }

  const rows: Row[] = [];
  const started = Date.now();
  let upSeconds = NaN;
  try {
    log(`starting ${clusters.length} clusters x ${o.nodes} KWOK nodes in ${o.state}`);
    const upStarted = Date.now();
    await testenv('up', env);
    upSeconds = secondsSince(upStarted);
    log(`clusters up in ${upSeconds.toFixed(0)} s`);
    process.env.KUBECONFIG = KUBECONFIG;
    const fleetArgs = ['--kubeconfig', KUBECONFIG, ...clusters.flatMap((c) => ['--context', c])];
    // Its own user agent: the audit log tells its requests from the tool's.
    const fleet = Fleet.open({contexts: clusters, kubeconfig: KUBECONFIG, env: {}, userAgent: 'superskyray-bench', maxInFlight: o.concurrency * 2});
    for (const c of clusters) {
      for (const ns of [APP_NS, FILL_NS]) await fleet.cluster(c).create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns}}).catch(() => undefined);
    }
    await waitFor('the bench namespaces\' default ServiceAccounts', async () => {
      const found = await Promise.all(clusters.flatMap((c) => [APP_NS, FILL_NS].map((ns) => fleet.cluster(c).find(RESOURCES.serviceaccounts, 'default', ns))));
      return found.every(Boolean) ? true : undefined;
    });

    let filled = 0;
    for (const pods of o.pods) {
      const notes: string[] = [];
      const setupStarted = Date.now();
      if (pods > filled) {
        log(`creating filler pods ${filled}..${pods - 1} in each cluster (${o.concurrency} at a time per cluster)`);
        await Promise.all(clusters.map((c) => createFillers(fleet, c, o.nodes, filled, pods, o.concurrency)));
        await waitFor('every filler pod Running', async () => ((await Promise.all(clusters.map((c) => allRunning(fleet, c, FILL_NS)))).every(Boolean) ? true : undefined), {timeoutMs: 30 * 60_000, intervalMs: 2000});
        filled = pods;
      }
      const setupSeconds = secondsSince(setupStarted) + (rows.length === 0 ? upSeconds : 0);
      log(`${pods} filler pods per cluster Running (${secondsSince(setupStarted).toFixed(0)} s)`);

      // A group of its own per size, placed at home with no workers yet.
      const name = `bench-${pods}`;
      const app = fixture<RayClusterObject>('raycluster-small.yaml');
      app.metadata.name = name;
      Object.assign(app.spec.workerGroupSpecs[0]!, {replicas: 0, minReplicas: 0, maxReplicas: o.steps + o.batch});
      app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: WORKER, limits: WORKER};
      const appFile = path.join(scratch, `${name}.yaml`);
      fs.writeFileSync(appFile, yaml.dump(app));
      await timed([process.execPath, o.cli, 'place', '-f', appFile, '-n', APP_NS, '--skip-capacity-relocate', ...fleetArgs]);
      const homeClient = fleet.cluster(home);
      await waitFor(`the head of ${name} Running at home`, async () => {
        const pods = await homeClient.list<Pod>(RESOURCES.pods, {namespace: APP_NS, labelSelector: `ray.io/cluster=${name},ray.io/node-type=head`});
        return pods.items.some((p) => p.status?.phase === 'Running') ? true : undefined;
      });

      const offsets = new Map(clusters.map((c) => [c, size(auditLog(c))]));
      log(`starting watch (${o.cli})`);
      const watchStarted = Date.now();
      const watch = startWatch(o.cli, fleetArgs, o.profile);
      let syncSeconds = 0;
      let syncCpuSeconds = 0;
      const windows: Array<{from: number; to: number}> = [];
      let batchWindow: {from: number; to: number} | undefined;
      let quiet: {from: number; to: number; cpu: number} = {from: 0, to: 0, cpu: 0};
      let stepsCpu = 0;
      try {
        await waitFor('watch to watch the group', () => (watch.lines.some((l) => l.includes('"type":"groups"') && l.includes(name)) ? true : undefined), {
          timeoutMs: 10 * 60_000,
          intervalMs: 50,
          giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.slice(-20).join('\n')}` : undefined),
        });
        // In sync once every informer of every cluster has listed and is watching: before that, a
        // pass waits for the lists of tens of thousands of pods, which is start-up, not reaction.
        const informers = informerSpecs(APP_NS).length;
        const watching = async (cluster: string) =>
          new Set((await auditFrom(auditLog(cluster), offsets.get(cluster)!)).filter((e) => byTool(e) && e.verb === 'watch').map((e) => e.requestURI.split('?')[0])).size;
        await waitFor(`watch's ${informers} informers watching in every cluster`, async () => ((await Promise.all(clusters.map(watching))).every((n) => n >= informers) ? true : undefined), {
          timeoutMs: 10 * 60_000,
          intervalMs: 500,
          giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.slice(-20).join('\n')}` : undefined),
        });
        syncSeconds = secondsSince(watchStarted);
        syncCpuSeconds = sample(watch.child.pid!)?.cpuSeconds ?? NaN;
        log(`watch watches ${name}, its informers in sync, after ${syncSeconds.toFixed(1)} s (${syncCpuSeconds.toFixed(1)} cpu-s)`);

        const remoteWorkers = async () =>
          (await Promise.all(remotes.map((c) => fleet.cluster(c).list<Pod>(RESOURCES.pods, {namespace: APP_NS, labelSelector: `superskyray.io/group=${name},superskyray.io/role=remote-worker`})))).reduce((n, l) => n + l.items.length, 0);
        const grow = async (to: number) => {
          const from = Date.now() * 1000;
          await homeClient.patch(RESOURCES.rayclusters, name, APP_NS, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: to}], 'json');
          await waitFor(`${to} remote worker(s) of ${name}`, async () => ((await remoteWorkers()) >= to ? true : undefined), {
            timeoutMs: 5 * 60_000,
            intervalMs: 100,
            giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.slice(-20).join('\n')}` : undefined),
          });
          // The swap's last writes (the placeholder's label, the unlock) follow the remote create.
          await waitFor(`the swaps of ${name} done at home`, async () => {
            const pods = (await homeClient.list<Pod>(RESOURCES.pods, {namespace: APP_NS, labelSelector: `ray.io/cluster=${name},ray.io/node-type=worker`})).items;
            const placeholders = pods.filter((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder');
            return placeholders.length >= to && !pods.some(isInSwap) ? true : undefined;
          }, {timeoutMs: 5 * 60_000, intervalMs: 100});
          return {from, to: Date.now() * 1000};
        };
        const cpuBefore = sample(watch.child.pid!)?.cpuSeconds ?? 0;
        for (let i = 1; i <= o.steps; i++) {
          windows.push(await grow(i));
          log(`  worker ${i}/${o.steps} spanned`);
        }
        if (o.batch > 0) {
          batchWindow = await grow(o.steps + o.batch);
          log(`  a batch of ${o.batch} workers spanned`);
        }
        stepsCpu = (sample(watch.child.pid!)?.cpuSeconds ?? 0) - cpuBefore;

        await sleep(5000);
        log(`a quiet ${o.quiet} s: watch running, nothing changing`);
        const a = sample(watch.child.pid!);
        const from = Date.now() * 1000;
        await sleep(o.quiet * 1000);
        const b = sample(watch.child.pid!);
        if (!a || !b) notes.push(`watch was not running through the quiet window (exit ${watch.child.exitCode ?? watch.child.signalCode})`);
        quiet = {from, to: Date.now() * 1000, cpu: a && b ? (b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000) : NaN};
      } finally {
        if (watch.child.exitCode !== null || watch.child.signalCode !== null) notes.push(`watch exited by itself: ${watch.child.exitCode ?? watch.child.signalCode}`);
        await watch.stop();
      }
      // Kept beside the state folder, which teardown removes: what watch said explains an odd figure.
      const watchLog = `${o.state}.watch-${pods}.log`;
      fs.writeFileSync(watchLog, `${watch.lines.join('\n')}\n`);
      notes.push(`watch's output: ${watchLog}`);
      const last = watch.samples[watch.samples.length - 1];
      const errors = watch.lines.filter((l) => l.startsWith('stderr:') || l.includes('"type":"error"'));
      if (errors.length > 0) notes.push(`watch said: ${errors.slice(0, 3).join(' | ').slice(0, 400)}`);

      log('reading the audit logs');
      const audit = new Map<string, Audited[]>();
      for (const c of clusters) audit.set(c, await auditFrom(auditLog(c), offsets.get(c)!));
      const placeholders = (await homeClient.list<Pod>(RESOURCES.pods, {namespace: APP_NS, labelSelector: `ray.io/cluster=${name},superskyray.io/role=placeholder`})).items;
      const reactionOf = (placeholder: Pod) => {
        const replaced = placeholder.metadata?.annotations?.['superskyray.io/replaces'];
        const verdict = audit.get(home)!.find((e) => e.objectRef?.name === replaced && e.objectRef?.namespace === APP_NS && e.objectRef?.subresource === 'status' && (e.userAgent ?? '').startsWith('kube-scheduler/'));
        const created = remotes
          .flatMap((c) => audit.get(c)!)
          .find((e) => byTool(e) && e.verb === 'create' && !isDryRun(e) && e.objectRef?.resource === 'pods' && !e.objectRef.subresource && e.objectRef.name === placeholder.metadata?.name);
        return verdict && created ? {pending: micros(verdict.stageTimestamp), created: micros(created.requestReceivedTimestamp)} : undefined;
      };
      const measured = placeholders.map((p) => ({p, r: reactionOf(p)}));
      const missing = measured.filter((m) => !m.r).length;
      if (missing > 0) notes.push(`${missing} spanned worker(s) without both audit events`);
      const inWindow = (w: {from: number; to: number}) => measured.flatMap((m) => (m.r && m.r.created >= w.from && m.r.created < w.to ? [m.r] : []));
      const reactions = windows.flatMap((w) => inWindow(w).map((r) => (r.created - r.pending) / 1000));
      const batchReactions = batchWindow ? inWindow(batchWindow) : [];
      const batchMs = batchReactions.length > 0 ? (Math.max(...batchReactions.map((r) => r.created)) - Math.min(...batchReactions.map((r) => r.pending))) / 1000 : NaN;
      const all = clusters.flatMap((c) => audit.get(c)!);
      const steady = {...count(all, quiet.from, quiet.to), seconds: (quiet.to - quiet.from) / 1e6};

      log(`status ${name} against the kubectl loop, ${o.statusRuns} runs each, interleaved`);
      const kubectlBin = path.join(CACHE, 'bin', 'kubectl');
      const loop = `for C in ${clusters.join(' ')}; do "${kubectlBin}" --kubeconfig "${KUBECONFIG}" --context "$C" get pods,svc,rayclusters -n ${APP_NS} -l ray.io/cluster=${name} >/dev/null; done`;
      const statusMs: number[] = [];
      const kubectlMs: number[] = [];
      for (let i = 0; i < o.statusRuns; i++) {
        statusMs.push(await timed([process.execPath, o.cli, 'status', `raycluster/${name}`, '-n', APP_NS, ...fleetArgs]));
        kubectlMs.push(await timed(['bash', '-c', loop]));
      }

      // The next size's group gets the clusters' room back.
      await timed([process.execPath, o.cli, 'delete', `raycluster/${name}`, '-n', APP_NS, ...fleetArgs]);

      rows.push({
        pods,
        setupSeconds,
        syncSeconds,
        syncCpuSeconds,
        reactions,
        batchMs,
        steady,
        perSpan: windows.map((w) => count(all, w.from, w.to)),
        ...(batchWindow ? {batch: count(all, batchWindow.from, batchWindow.to)} : {}),
        rssMB: last?.rssMB ?? NaN,
        peakMB: last?.hwmMB ?? NaN,
        steadyCpuPercent: quiet.cpu * 100,
        stepsCpuSeconds: stepsCpu,
        statusMs: median(statusMs),
        kubectlMs: median(kubectlMs),
        notes,
      });
      printRow(rows[rows.length - 1]!, o, true);
    }
  } finally {
    await teardown();
  }
  printTable(rows, o, clusters.length, upSeconds);
  log(`done in ${secondsSince(started).toFixed(0)} s`);
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const perMinute = (n: number, seconds: number) => (n * 60) / seconds;
const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** One size's figures as they come, on stderr, so that a long run shows its results before the end. */
function printRow(r: Row, o: Options, progress: boolean): void {
  if (!progress) return;
  log(
    `${r.pods} pods/cluster: reaction p50 ${f0(percentile(r.reactions, 50))} ms p99 ${f0(percentile(r.reactions, 99))} ms; steady ${f1(perMinute(r.steady.list, r.steady.seconds))} lists/min; RSS ${f0(r.rssMB)} MB; status ${f0(r.statusMs)} ms vs kubectl ${f0(r.kubectlMs)} ms (${o.steps} spans)`,
  );
}

function printTable(rows: Row[], o: Options, clusters: number, upSeconds: number): void {
  const out: string[] = [];
  out.push(`superskyray bench:fleet: ${clusters} clusters x ${o.nodes} KWOK nodes (testenv up in ${f0(upSeconds)} s); ${o.steps} single spans and a batch of ${o.batch} per size; a quiet window of ${o.quiet} s; ${o.statusRuns} status runs`);
  out.push(`cli: ${o.cli}`);
  out.push('');
  const header = ['pods/cluster', 'setup s', 'sync s', 'sync cpu-s', 'react p50 ms', 'react p99 ms', `batch ${o.batch} ms`, 'steady req/min', 'steady list/min', 'steady watch/min', 'span writes', 'span lists', `batch writes`, `batch lists`, 'RSS MB', 'peak MB', 'steady cpu %', 'spans cpu-s', 'status ms', 'kubectl ms'];
  const targets = ['', '', '', '', '', '< 1000', '', 'O(events)', '0', '', 'O(1)', '0', `O(${o.batch})`, '0', '< 400', '< 400', '', '', '', ''];
  const cells = rows.map((r) => {
    const total = r.steady.list + r.steady.watch + r.steady.get + r.steady.writes + r.steady.dryRuns;
    return [
      String(r.pods),
      f0(r.setupSeconds),
      f1(r.syncSeconds),
      f1(r.syncCpuSeconds),
      f0(percentile(r.reactions, 50)),
      f0(percentile(r.reactions, 99)),
      f0(r.batchMs),
      f1(perMinute(total, r.steady.seconds)),
      f1(perMinute(r.steady.list, r.steady.seconds)),
      f1(perMinute(r.steady.watch, r.steady.seconds)),
      f1(mean(r.perSpan.map((c) => c.writes))),
      f1(mean(r.perSpan.map((c) => c.list))),
      r.batch ? String(r.batch.writes) : '-',
      r.batch ? String(r.batch.list) : '-',
      f0(r.rssMB),
      f0(r.peakMB),
      f1(r.steadyCpuPercent),
      f1(r.stepsCpuSeconds),
      f0(r.statusMs),
      f0(r.kubectlMs),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, targets[i]!.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padStart(widths[i]!)).join('  ');
  out.push(line(header));
  out.push(line(targets.map((t, i) => (i === 0 ? 'target' : t))));
  for (const c of cells) out.push(line(c));
  out.push('');
  out.push('setup: creating the filler pods up to this size until all are Running (the first row adds testenv up); sync: from starting watch to its first report of the group with every informer watching.');
  out.push('reaction: from the scheduler\'s status write leaving the worker Pending at home (stageTimestamp) to the remote worker\'s create (requestReceivedTimestamp), per single span; batch: from the first Pending to the last create.');
  out.push('steady: the tool\'s requests during the quiet window, all clusters; span: the tool\'s writes (not dry runs) and lists per single span, mean; RSS at the end, peak = VmHWM.');
  out.push('status: median wall time of `status raycluster/NAME` over the fleet; kubectl: median of `kubectl get pods,svc,rayclusters -l ray.io/cluster=NAME` per context in a loop.');
  for (const r of rows) {
    const spans = r.perSpan.map((c) => `${c.writes}w/${c.list}l/${c.get}g/${c.watch}W`).join(' ');
    out.push(`${r.pods} pods/cluster: reactions ${r.reactions.map(f0).join(' ')} ms; per span (writes/lists/gets/watches) ${spans}; steady in ${f0(r.steady.seconds)} s: ${r.steady.list} list, ${r.steady.watch} watch, ${r.steady.get} get, ${r.steady.writes} writes`);
    for (const n of r.notes) out.push(`  note: ${n}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: Error) => {
  if (!interrupted) log(`error: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
