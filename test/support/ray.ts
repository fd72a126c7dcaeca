/**
 * Clients of the real Ray processes that test/env's data plane runs: each runs in a client namespace
 * of the pod network (test/env/testenv.ts clientNetns), resolving through one cluster's CoreDNS, as a
 * pod of that cluster would. Only for the real clusters: the sandbox runs no Ray.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {clientArgv, clientNetns, podSandboxes, RAY_PYTHON} from '../env/testenv.js';
import {waitFor} from './poll.js';

const PY = new URL('../e2e/real-ray/py/', import.meta.url).pathname;

/** Runs one of the Python probes in test/e2e/real-ray/py as a client in `cluster`, and parses its JSON. */
export async function probe<T>(cluster: string, script: string, args: string[]): Promise<T> {
  const [command, ...rest] = clientArgv(await clientNetns(cluster), [RAY_PYTHON, path.join(PY, script), ...args]);
  return new Promise((resolve, reject) => {
    execFile(command!, rest, {timeout: 60_000, maxBuffer: 16 * 2 ** 20}, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${script} ${args.join(' ')} in ${cluster}: ${pythonRootCause(stderr) || err.message}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`${script}: not JSON: ${stdout.slice(0, 300)}`));
      }
    });
  });
}

/**
 * A Python failure in one line: the first and last exception of its traceback chain (a Ray
 * ConnectionError names the refused connection or the failed lookup only in the exception beneath it).
 */
function pythonRootCause(stderr: string): string {
  const exceptions = stderr.split('\n').filter((line) => /^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:/.test(line));
  if (exceptions.length === 0) return stderr.trim().split('\n').slice(-3).join(' | ');
  // The first is the root cause, the last what the script saw.
  return [...new Set([exceptions[0]!, exceptions.at(-1)!])].join(' | ');
}

export interface RayNode {
  nodeId: string;
  state: 'ALIVE' | 'DEAD' | string;
  instanceId: string;
  ip: string;
  nodeType: string;
}

/** The node table in the head's GCS; `gcs` is host:port as a pod of `cluster` names it. */
export function rayNodes(cluster: string, gcs: string): Promise<RayNode[]> {
  return probe<RayNode[]>(cluster, 'nodes.py', [gcs]);
}

/** Waits until `count` nodes are ALIVE in the head's node table (the head counts), and returns the table. */
export function aliveNodes(cluster: string, gcs: string, count: number, timeoutMs = 180_000): Promise<RayNode[]> {
  return waitFor(`${count} node(s) ALIVE in the node table of ${gcs}`, async () => {
    const nodes = await rayNodes(cluster, gcs).catch(() => []);
    return nodes.filter((n) => n.state === 'ALIVE').length >= count ? nodes : undefined;
  }, {timeoutMs, intervalMs: 1000});
}

export interface ServeApps {
  [app: string]: {status: string; deployments: Record<string, {status: string; replicas: Array<{state: string; nodeId: string; nodeIp: string}>}>};
}

/** Serve's applications, from the head's dashboard (host:port). */
export function serveApps(cluster: string, dashboard: string): Promise<ServeApps> {
  return probe<ServeApps>(cluster, 'serve_status.py', [dashboard]);
}

export interface LoadResult {
  n: number;
  at: number;
  ms: number;
  status?: number;
  body?: string;
  error?: string;
}

/** A load loop against a URL, from a client of `cluster`, until stop(). */
export class LoadLoop {
  private constructor(
    private readonly child: ChildProcess,
    private readonly file: string,
  ) {}

  static async start(cluster: string, url: string, perSecond: number): Promise<LoadLoop> {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'superskyray-load-')), 'results.jsonl');
    const out = fs.openSync(file, 'a');
    const [command, ...rest] = clientArgv(await clientNetns(cluster), [RAY_PYTHON, path.join(PY, 'load.py'), url, String(perSecond)]);
    const child = spawn(command!, rest, {stdio: ['ignore', out, 'inherit']});
    fs.closeSync(out);
    return new LoadLoop(child, file);
  }

  results(): LoadResult[] {
    return fs
      .readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as LoadResult);
  }

  /** Stops the loop (its own pid; the namespace wrappers exec into it) and returns every result. */
  async stop(): Promise<LoadResult[]> {
    if (this.child.exitCode === null && this.child.pid) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    const results = this.results();
    fs.rmSync(path.dirname(this.file), {recursive: true, force: true});
    return results;
  }
}

/**
 * The memory of each running pod of `namespace`, in MiB: the PSS of every process in the pod's pid
 * namespace (Ray's raylet, GCS, dashboard, workers and all), from /proc.
 */
export function podMemory(namespace: string): Record<string, number> {
  const out: Record<string, number> = {};
  const pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const pidNs = (pid: string | number) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/ns/pid`);
    } catch {
      return '';
    }
  };
  for (const sandbox of podSandboxes().filter((s) => s.pod.startsWith(`${namespace}_`))) {
    const ns = pidNs(sandbox.initPid);
    let kib = 0;
    for (const pid of pids) {
      if (!ns || pidNs(pid) !== ns) continue;
      try {
        kib += Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      } catch {
        // The process has ended.
      }
    }
    out[sandbox.pod.split('_')[1]!] = Math.round(kib / 1024);
  }
  return out;
}

