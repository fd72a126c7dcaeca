// npm run soak: the chaos soak. On real local clusters of its own (test/env, test/soak/profile.yaml),
// four groups live at home in onprem and grow past it into cloud, under two `watch` processes of the
// tool: two RayClusters sized by hand, one sized by the Ray autoscaler (the soak stands in for it),
// and a RayService. At random (from --seed): their sizes change, the tool's own `scale` runs and is
// killed mid-way, a watch is killed and started again, the tool's requests to each cluster fail
// (--faults of them: 429, 500, 503, 504, 409), cloud is cut off from the tool for 30-120 s, a head
// pod is deleted, a node at home is drained. An independent checker (test/soak/invariants.ts) reads
// the clusters through kubectl every second, and at the end judges every write of the tool in the
// API servers' audit logs (test/soak/writers.ts). When the time is up the faults stop, and every
// group must be converged within 60 s.
//
//   npm run soak -- [--minutes 5] [--seed 1] [--faults 0.15] [--state /tmp/superskyray-soak] [--keep]
//
// Prints the seed, the operations and faults made, each violation with its times, and a final table.
// Exits 0 only with no violation and every group converged. What it started is stopped at the end.
import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {createInterface} from 'node:readline';
import yaml from 'js-yaml';
import {Checker, type ClusterLook, type Deliberate, type Faults, type KubeItem, type Violation} from '../test/soak/invariants.js';
import {REPO, run} from '../test/support/cli.js';
import {seeded, throughFaultProxy, type FaultProxy, type FaultRule} from '../test/support/fault-proxy.js';
import type {Toxiproxy} from '../test/support/toxiproxy.js';
import {writersOf, type AuditEvent, type WritersReport} from '../test/soak/writers.js';

interface Options {
  minutes: number;
  seed: number;
  faults: number;
  state: string;
  keep: boolean;
}

const USAGE = 'usage: npm run soak -- [--minutes 5] [--seed 1] [--faults 0.15] [--state DIR] [--keep]';

function parseArgs(argv: string[]): Options {
  const o: Options = {minutes: 5, seed: 1, faults: 0.15, state: path.join(os.tmpdir(), 'superskyray-soak'), keep: false};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    const number = (min: number, max: number) => {
      const n = Number(value());
      return Number.isFinite(n) && n >= min && n <= max ? n : fail(`${flag} takes a number from ${min} to ${max}`);
    };
    switch (flag) {
      case '--minutes': o.minutes = number(0.5, 24 * 60); break;
      case '--seed': o.seed = Math.trunc(number(0, 2 ** 32 - 1)); break;
      case '--faults': o.faults = number(0, 0.9); break;
      case '--state': o.state = path.resolve(value()); break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: fail(`unknown argument ${flag}`);
    }
  }
  if (o.state.startsWith(path.join(REPO, '.testenv'))) fail('--state: give the soak a folder of its own, not the tests\' .testenv');
  return o;
}

function fail(message: string): never {
  process.stderr.write(`soak: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`soak: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const NS = 'soak';
/**
 * The groups: two RayClusters sized by hand, one the Ray autoscaler sizes (the soak stands in for
 * it, writing what autoscaler v2 writes), and a RayService.
 */
interface SoakGroup {
  name: string;
  kind: 'RayCluster' | 'RayService';
  autoscaled: boolean;
}
const GROUPS: SoakGroup[] = [
  {name: 'alpha', kind: 'RayCluster', autoscaled: false},
  {name: 'beta', kind: 'RayCluster', autoscaled: false},
  {name: 'gamma', kind: 'RayCluster', autoscaled: true},
  {name: 'delta', kind: 'RayService', autoscaled: false},
];
const HOME = 'onprem';
const AWAY = 'cloud';
const CONVERGE_MS = 60_000;
/** Per group: with four groups, all the fleet has room for (see the sizes where they are placed). */
const MAX_WORKERS = 4;
const PROFILE = path.join(REPO, 'test', 'soak', 'profile.yaml');

function testenv(command: 'up' | 'down', env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test', 'env', 'testenv.ts'), command], {cwd: REPO, env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'inherit']});
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`testenv ${command} exited ${code ?? signal}`))));
  });
}

/** A `watch` of the tool, started again after it is killed. */
class Watcher {
  child?: ChildProcess;
  starts = 0;
  constructor(private readonly argv: string[], private readonly logFile: string) {}

  start(): void {
    this.starts++;
    const out = fs.openSync(this.logFile, 'a');
    this.child = spawn(process.execPath, [path.join(REPO, 'bin', 'run.js'), ...this.argv], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1'}, stdio: ['ignore', out, out]});
    fs.closeSync(out);
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.kill(signal);
    return gone;
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const random = seeded(o.seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (low: number, high: number) => low + random() * (high - low);
  const env = {SUPERSKYRAY_TESTENV_STATE: o.state, TESTENV_PROFILE: PROFILE};
  Object.assign(process.env, env);
  // testenv.ts reads the state folder when it is loaded: only now, and so is what imports it.
  const {KUBECONFIG, CACHE, auditLog} = await import('../test/env/testenv.js');
  const {throughToxiproxy, Toxiproxy} = await import('../test/support/toxiproxy.js');
  const kubectl = path.join(CACHE, 'bin', 'kubectl');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'superskyray-soak-'));
  const k = (context: string, args: string[]) => run(kubectl, ['--kubeconfig', KUBECONFIG, '--context', context, '--request-timeout', '5s', ...args]);

  const proxies: FaultProxy[] = [];
  let toxiproxy: Toxiproxy | undefined;
  const watchers: Watcher[] = [];
  let up = false;
  const teardown = async () => {
    for (const w of watchers) await w.kill('SIGTERM');
    for (const p of proxies) await p.stop();
    await toxiproxy?.stop();
    if (up && !o.keep) await testenv('down', env).catch((err: Error) => log(`testenv down: ${err.message}`));
    if (o.keep) log(`--keep: the clusters stay up; stop them with SUPERSKYRAY_TESTENV_STATE=${o.state} npm run testenv:down`);
  };
  process.on('SIGINT', () => void teardown().finally(() => process.exit(130)));

  const did: Deliberate[] = [];
  const ops = new Map<string, number>();
  const count = (op: string) => ops.set(op, (ops.get(op) ?? 0) + 1);
  const violations: Violation[] = [];
  let converged: number | undefined;
  try {
    log(`seed ${o.seed}; starting the test clusters in ${o.state}`);
    up = true;
    await testenv('up', env);
    for (const c of [HOME, AWAY]) await k(c, ['create', 'namespace', NS]);

    // The tool reaches each cluster through the fault proxy (HTTP faults), and that through Toxiproxy
    // (cut-offs): the checker and the soak's own writes go straight to the clusters.
    toxiproxy = await Toxiproxy.start();
    let toolConfig = KUBECONFIG;
    const cut: Record<string, string> = {};
    for (const c of [HOME, AWAY]) {
      const t = await throughToxiproxy(toxiproxy, toolConfig, c, {dir: scratch});
      cut[c] = t.proxy.name;
      toolConfig = t.kubeconfig;
    }
    const faultRules = (rate: number): FaultRule[] =>
      rate === 0
        ? []
        : [
            {verbs: ['get', 'list'], status: 503, rate: rate / 3},
            {verbs: ['get', 'list'], status: 429, retryAfterSeconds: 1, rate: rate / 3},
            {verbs: ['create', 'patch', 'delete', 'update'], status: 500, rate: rate / 3, after: true},
            {verbs: ['patch', 'update'], status: 409, rate: rate / 3},
            {status: 504, rate: rate / 3},
          ];
    for (const [i, c] of [HOME, AWAY].entries()) {
      const f = await throughFaultProxy(toolConfig, c, {dir: scratch, seed: o.seed * 10 + i});
      proxies.push(f.proxy);
      toolConfig = f.kubeconfig;
    }
    const fleetArgs = ['--kubeconfig', toolConfig, '--context', HOME, '--context', AWAY, '-n', NS];

    // The groups at home, placed with one worker each. Sized (test/soak/profile.yaml) so that
    // everything asked fits somewhere, and a worker that waits at the end is one the tool failed to
    // span: 4 heads of 1 cpu (and 0.1 for gamma's autoscaler) and workers of 2 cpu leave onprem
    // (2 x 8 cpu) room for 5 workers however they fall, and every placeholder; cloud (2 x 12) takes
    // 12; each group asks for 4 at most.
    for (const g of GROUPS) {
      const file = path.join(scratch, `${g.name}.yaml`);
      fs.writeFileSync(file, yaml.dump(manifest(g)));
      const placed = await run(process.execPath, [path.join(REPO, 'bin', 'run.js'), 'place', '-f', file, '--kubeconfig', KUBECONFIG, '--context', HOME, '--context', AWAY, '-n', NS]);
      if (placed.code !== 0) throw new Error(`place ${g.name}: ${placed.stderr}`);
      if ((await k(HOME, ['get', g.kind.toLowerCase(), g.name, '-n', NS])).code !== 0) throw new Error(`place put ${g.name} elsewhere than ${HOME}: ${placed.stdout}`);
    }
    for (const i of [1, 2]) {
      const w = new Watcher(['watch', '--no-tui', '-o', 'json', '--request-timeout', '5s', ...fleetArgs], path.join(scratch, `watch-${i}.log`));
      w.start();
      watchers.push(w);
    }

    // The checker: every second, straight through kubectl.
    const ids: Record<string, string> = {};
    for (const c of [HOME, AWAY]) ids[c] = (await k(c, ['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}'])).stdout.trim();
    const checker = new Checker({settleMs: 30_000, passMs: 10_000});
    // Chaos is a fault whatever its API fault rate: cut-offs and kills too.
    const faults: Faults = {active: true, partitioned: []};
    const lookAt = async (): Promise<ClusterLook[]> =>
      Promise.all(
        [HOME, AWAY].map(async (c) => {
          const got = await k(c, ['get', 'pods,rayclusters', '-n', NS, '-o', 'json']);
          const items = got.code === 0 ? ((JSON.parse(got.stdout) as {items: KubeItem[]}).items ?? []) : [];
          return {context: c, id: ids[c]!, answered: got.code === 0, pods: items.filter((i) => i.kind === 'Pod'), rayClusters: items.filter((i) => i.kind === 'RayCluster')};
        }),
      );
    let checking = true;
    let last: ClusterLook[] = [];
    const checking$ = (async () => {
      while (checking) {
        const started = Date.now();
        last = await lookAt();
        for (const v of checker.look({at: Date.now(), clusters: last}, did, faults)) {
          violations.push(v);
          log(`VIOLATION ${v.invariant}: ${v.what} (since ${new Date(v.since).toISOString()})`);
        }
        await sleep(Math.max(0, 1000 - (Date.now() - started)));
      }
    })();

    // The chaos acts on what the checker last saw: not before its first look.
    while (last.length === 0) await sleep(200);
    for (const p of proxies) p.setRules(faultRules(o.faults));
    const chaosFrom = Date.now();
    const end = chaosFrom + o.minutes * 60_000;
    let healAt: number | undefined;
    let uncordonAt: number | undefined;
    let drained = `${HOME}-node-0`;
    log(`chaos for ${o.minutes} min, ${Math.round(o.faults * 100)}% of the tool's requests failing`);
    while (Date.now() < end) {
      if (healAt && Date.now() >= healAt) {
        await toxiproxy.setEnabled(cut[AWAY]!, true);
        faults.partitioned = [];
        healAt = undefined;
        log('cloud is back');
      }
      if (uncordonAt && Date.now() >= uncordonAt) {
        await k(HOME, ['uncordon', drained]);
        uncordonAt = undefined;
      }
      const group = pick(GROUPS);
      const homeLook = last.find((c) => c.context === HOME);
      // A RayService's RayCluster is KubeRay's, named <service>-<5 chars>: the one it runs, as last seen.
      const rc = homeLook?.rayClusters.find((r) => (group.kind === 'RayService' ? nameOf(r).startsWith(`${group.name}-`) : nameOf(r) === group.name));
      const rayCluster = rc ? nameOf(rc) : group.name;
      const spec = ((rc?.spec?.workerGroupSpecs as Array<{replicas?: number; scaleStrategy?: {workersToDelete?: string[]}}> | undefined) ?? [])[0];
      const was = spec?.replicas ?? 0;
      let op = pick(['resize', 'resize', 'resize', 'tool-scale', 'kill-watch', 'partition', 'delete-head', 'drain']);
      // An autoscaled group is sized by its autoscaler, not by hand.
      if (group.autoscaled && (op === 'resize' || op === 'tool-scale')) op = 'autoscale';
      switch (op) {
        case 'resize': {
          // By hand, as the Ray autoscaler would: on the RayCluster (a RayService's included).
          const to = Math.floor(between(1, MAX_WORKERS + 1));
          await k(HOME, ['patch', 'raycluster', rayCluster, '-n', NS, '--type', 'json', '-p', JSON.stringify([{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: to}])]);
          if (to < was) did.push({at: Date.now(), kind: 'shrink', namespace: NS, rayCluster});
          count(`resize ${to < was ? 'down' : 'up'}`);
          break;
        }
        case 'autoscale': {
          // What autoscaler v2 writes: more replicas; or one worker fewer, named in workersToDelete
          // (an idle Ray node: a local worker, or a placeholder whose remote worker is the Ray node).
          // Names of workers already gone are cleared first, as it does.
          const workers = (homeLook?.pods ?? []).filter((p) => p.metadata?.labels?.['ray.io/cluster'] === rayCluster && p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata?.deletionTimestamp);
          const doomed = (spec?.scaleStrategy?.workersToDelete ?? []).filter((n) => workers.some((p) => nameOf(p) === n));
          const candidates = workers.filter((p) => !doomed.includes(nameOf(p)) && p.status?.phase === 'Running');
          const down = random() < 0.5 && was > 0 && candidates.length > 0;
          const to = down ? was - 1 : Math.min(MAX_WORKERS, was + Math.floor(between(1, 3)));
          const toDelete = down ? [...doomed, nameOf(pick(candidates))] : doomed;
          const patch = [
            {op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: to},
            {op: 'add', path: '/spec/workerGroupSpecs/0/scaleStrategy', value: {workersToDelete: toDelete}},
          ];
          await k(HOME, ['patch', 'raycluster', rayCluster, '-n', NS, '--type', 'json', '-p', JSON.stringify(patch)]);
          if (down) did.push({at: Date.now(), kind: 'shrink', namespace: NS, rayCluster});
          count(`autoscaler ${down ? 'down' : 'up'}`);
          break;
        }
        case 'tool-scale': {
          // Kept at home: moving a whole group to a cluster where it fits is place's and scale's
          // other feature, tested on its own; here it would only move the home the checker judges.
          const to = Math.floor(between(1, MAX_WORKERS + 1));
          did.push({at: Date.now(), kind: 'shrink', namespace: NS, rayCluster});
          const scaleLog = fs.openSync(path.join(scratch, 'scale.log'), 'a');
          const child = spawn(process.execPath, [path.join(REPO, 'bin', 'run.js'), 'scale', `${group.kind.toLowerCase()}/${group.name}`, '--replicas', String(to), '--skip-capacity-relocate', '--timeout', '60s', ...fleetArgs], {cwd: REPO, stdio: ['ignore', scaleLog, scaleLog]});
          const killed = random() < 0.4;
          if (killed) setTimeout(() => child.kill('SIGKILL'), between(200, 3000)).unref();
          await new Promise((resolve) => child.once('close', resolve));
          fs.closeSync(scaleLog);
          count(killed ? 'scale (SIGKILL)' : 'scale');
          break;
        }
        case 'kill-watch': {
          const w = pick(watchers);
          await w.kill('SIGKILL');
          await sleep(between(500, 5000));
          w.start();
          count('watch SIGKILL');
          break;
        }
        case 'partition': {
          if (healAt) continue;
          await toxiproxy.setEnabled(cut[AWAY]!, false);
          faults.partitioned = [AWAY];
          healAt = Date.now() + between(30_000, 120_000);
          count('cloud cut off');
          log(`cloud cut off for ${Math.round((healAt - Date.now()) / 1000)} s`);
          break;
        }
        case 'delete-head': {
          did.push({at: Date.now(), kind: 'delete-head', namespace: NS, rayCluster});
          await k(HOME, ['delete', 'pod', '-n', NS, '-l', `ray.io/cluster=${rayCluster},ray.io/node-type=head`, '--wait=false']);
          count('head deleted');
          break;
        }
        case 'drain': {
          if (uncordonAt) continue;
          drained = pick([`${HOME}-node-0`, `${HOME}-node-1`]);
          did.push({at: Date.now(), kind: 'drain', context: HOME, node: drained});
          // An autoscaled group's placeholders hold it up (their PodDisruptionBudget): it gives up
          // after 20 s, and the node stays cordoned until it is uncordoned.
          await k(HOME, ['drain', drained, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout', '20s']);
          uncordonAt = Date.now() + between(20_000, 60_000);
          count('node drained at home');
          break;
        }
      }
      await sleep(between(3000, 10_000));
    }

    // The faults stop: every group converges within a minute.
    for (const p of proxies) p.setRules([]);
    if (healAt) await toxiproxy.setEnabled(cut[AWAY]!, true);
    if (uncordonAt) await k(HOME, ['uncordon', drained]);
    faults.active = false;
    faults.partitioned = [];
    faults.stoppedAt = Date.now();
    log('faults stopped; waiting for every group to converge');
    const settledBy = Date.now() + CONVERGE_MS;
    while (Date.now() < settledBy) {
      if (unsettled(last).length === 0) {
        converged = Date.now() - faults.stoppedAt;
        break;
      }
      await sleep(1000);
    }
    checking = false;
    await checking$;

    // One writer per group at a time, from what the API servers recorded of every write: once the
    // watches are stopped, so that the logs are whole.
    for (const w of watchers) await w.kill('SIGTERM');
    const logs: Record<string, AuditEvent[]> = {};
    for (const c of [HOME, AWAY]) logs[c] = await toolAuditEvents(auditLog(c));
    const writers = writersOf(logs, NS, GROUPS, chaosFrom);
    if (writers.groups.every((g) => g.writes === 0)) throw new Error('the one-writer check judged no write: does the tool still name its run in its User-Agent?');
    for (const v of writers.violations) {
      violations.push({invariant: v.invariant, at: v.at, since: v.at, what: v.what});
      log(`VIOLATION ${v.invariant}: ${v.what} (at ${new Date(v.at).toISOString()})`);
    }

    const injected = proxies.flatMap((p) => p.injected);
    const byStatus = new Map<string, number>();
    for (const i of injected) byStatus.set(`${i.status}${i.after ? ' after the write' : ''}`, (byStatus.get(`${i.status}${i.after ? ' after the write' : ''}`) ?? 0) + 1);
    const out = [
      `soak: seed ${o.seed}, ${o.minutes} min, ${Math.round(o.faults * 100)}% API faults`,
      `operations: ${[...ops].map(([op, n]) => `${op} ${n}`).join(', ') || 'none'}; watch starts ${watchers.map((w) => w.starts).join(' and ')}`,
      `API faults injected: ${injected.length} (${[...byStatus].map(([s, n]) => `${s}: ${n}`).join(', ') || 'none'})`,
      `one writer at a time: ${writersLine(writers)}`,
      `violations: ${violations.length}`,
      ...violations.map((v) => `  ${new Date(v.since).toISOString()} .. ${new Date(v.at).toISOString()} ${v.invariant}: ${v.what}`),
      converged !== undefined ? `converged ${(converged / 1000).toFixed(1)} s after the faults stopped` : `NOT converged within ${CONVERGE_MS / 1000} s: ${unsettled(last).join('; ')}`,
      '',
      table(last),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    process.exitCode = violations.length === 0 && converged !== undefined ? 0 : 1;
  } finally {
    // The watches' output, the kubeconfigs and the API servers' audit logs: kept when the soak
    // failed, to see why.
    if (process.exitCode !== 0) for (const c of [HOME, AWAY]) if (fs.existsSync(auditLog(c))) fs.copyFileSync(auditLog(c), path.join(scratch, `audit-${c}.log`));
    await teardown();
    if (process.exitCode === 0) fs.rmSync(scratch, {recursive: true, force: true});
    else log(`the watches' output, the kubeconfigs and the audit logs are in ${scratch}`);
  }
}

/** A group as its user writes it: raycluster-small.yaml's cluster, with one worker of 2 cpu. */
function manifest(g: SoakGroup): KubeItem {
  const app = yaml.load(fs.readFileSync(path.join(REPO, 'test', 'e2e', 'fixtures', 'raycluster-small.yaml'), 'utf8')) as KubeItem & {
    spec: {workerGroupSpecs: Array<{replicas: number; maxReplicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>};
  };
  const worker = app.spec.workerGroupSpecs[0]!;
  worker.replicas = 1;
  worker.maxReplicas = MAX_WORKERS;
  worker.template.spec.containers[0]!.resources = {requests: {cpu: '2', memory: '2Gi'}, limits: {cpu: '2', memory: '2Gi'}};
  if (g.autoscaled) {
    const small = {cpu: '100m', memory: '256Mi'};
    Object.assign(app.spec, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2', resources: {requests: small, limits: small}}});
  }
  if (g.kind === 'RayCluster') return {...app, metadata: {name: g.name}};
  return {
    apiVersion: 'ray.io/v1',
    kind: 'RayService',
    metadata: {name: g.name},
    spec: {
      serveConfigV2: yaml.dump({applications: [{name: 'app', import_path: 'app:graph', route_prefix: '/', deployments: [{name: 'Model', num_replicas: 1}]}]}),
      rayClusterConfig: app.spec,
    },
  } as KubeItem;
}

/** The audit events of the tool's requests in one cluster's log: a line is parsed only when the tool made it. */
async function toolAuditEvents(file: string): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let torn = 0;
  for await (const line of createInterface({input: fs.createReadStream(file), crlfDelay: Infinity})) {
    if (!line.includes('"kubectl-superskyray/')) continue;
    try {
      events.push(JSON.parse(line) as AuditEvent);
    } catch (err) {
      // The API server may be writing its last line as it is read; one anywhere else is a broken log.
      if (++torn > 1) throw new Error(`${file}: more than one line is not JSON: ${(err as Error).message}`);
    }
  }
  return events;
}

function writersLine(r: WritersReport): string {
  return r.groups.map((g) => `${g.group}: ${g.writes} writes judged, the Lease taken ${g.takes} times by ${g.runs} runs`).join('; ');
}

const nameOf = (o: KubeItem) => o.metadata?.name ?? '';
const role = (o: KubeItem) => o.metadata?.labels?.['superskyray.io/role'];

/** What keeps the fleet from being converged, from one look: nothing when it is. */
function unsettled(look: ClusterLook[]): string[] {
  const home = look.find((c) => c.context === HOME);
  const away = look.find((c) => c.context === AWAY);
  if (!home?.answered || !away?.answered) return ['a cluster did not answer the checker'];
  const why: string[] = [];
  for (const rc of home.rayClusters) {
    const group = nameOf(rc);
    const want = ((rc.spec?.workerGroupSpecs as Array<{replicas?: number}> | undefined) ?? [])[0]?.replicas ?? 0;
    const workers = home.pods.filter((p) => p.metadata?.labels?.['ray.io/cluster'] === group && p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata?.deletionTimestamp);
    if (workers.length !== want) why.push(`${group}: ${workers.length} worker pods for ${want} replicas`);
    const swapping = workers.filter((p) => p.metadata?.finalizers?.includes('superskyray.io/swap'));
    if (swapping.length > 0) why.push(`${group}: ${swapping.map(nameOf).join(', ')} still in a swap`);
    const pending = workers.filter((p) => !role(p) && p.status?.phase === 'Pending');
    if (pending.length > 0) why.push(`${group}: ${pending.map(nameOf).join(', ')} Pending`);
    const placeholders = workers.filter((p) => role(p) === 'placeholder');
    const remotes = away.pods.filter((p) => role(p) === 'remote-worker' && p.metadata?.labels?.['ray.io/cluster'] === group && !p.metadata?.deletionTimestamp);
    for (const p of placeholders) if (!remotes.some((r) => nameOf(r) === nameOf(p))) why.push(`${group}: placeholder ${nameOf(p)} without its remote worker`);
    for (const r of remotes) if (!placeholders.some((p) => nameOf(p) === nameOf(r))) why.push(`${group}: remote worker ${nameOf(r)} without its placeholder`);
  }
  return why;
}

function table(look: ClusterLook[]): string {
  const home = look.find((c) => c.context === HOME);
  const away = look.find((c) => c.context === AWAY);
  const rows = [['GROUP', 'REPLICAS', 'LOCAL', 'PENDING', 'PLACEHOLDERS', 'REMOTE']];
  for (const rc of home?.rayClusters ?? []) {
    const group = nameOf(rc);
    const workers = (home?.pods ?? []).filter((p) => p.metadata?.labels?.['ray.io/cluster'] === group && p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata?.deletionTimestamp);
    rows.push([
      group,
      String(((rc.spec?.workerGroupSpecs as Array<{replicas?: number}> | undefined) ?? [])[0]?.replicas ?? 0),
      String(workers.filter((p) => !role(p) && p.spec?.nodeName).length),
      String(workers.filter((p) => !role(p) && !p.spec?.nodeName).length),
      String(workers.filter((p) => role(p) === 'placeholder').length),
      String((away?.pods ?? []).filter((p) => role(p) === 'remote-worker' && p.metadata?.labels?.['ray.io/cluster'] === group).length),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

await main();
