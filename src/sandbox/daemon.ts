/**
 * `sandbox up` / `sandbox down`: the sandbox fleet runs in a background process of its own (started
 * detached, stopped by its pid), so that it outlives the command that started it. Its folder holds the
 * kubeconfig, the state (pid, clusters) and the log.
 */
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {SandboxFleet} from './cluster.js';
import {DEFAULT_CLUSTERS, DEFAULT_PROFILE, readProfile, type FleetProfile} from './profile.js';

export interface SandboxState {
  pid: number;
  kubeconfig: string;
  clusters: Array<{name: string; url: string}>;
  startedAt: string;
}

/** Where the sandbox keeps its kubeconfig, state and log: $XDG_STATE_HOME, else ~/.local/state. */
export function defaultSandboxDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(env.HOME ?? os.homedir(), '.local', 'state');
  return path.join(base, 'kubectl-superskyray', 'sandbox');
}

const stateFile = (dir: string) => path.join(dir, 'state.json');

export function readState(dir: string): SandboxState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

/** Whether a process runs with this pid (one of another user's counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running sandbox of `dir`: its recorded process is alive and its first API server answers. */
export async function runningSandbox(dir: string): Promise<SandboxState | undefined> {
  const state = readState(dir);
  if (!state || !alive(state.pid)) return undefined;
  try {
    const res = await fetch(`${state.clusters[0]!.url}/version`, {signal: AbortSignal.timeout(2000)});
    return res.ok ? state : undefined;
  } catch {
    return undefined;
  }
}

export interface UpOptions {
  dir: string;
  clusters: string[];
  /** A profile file; else the test clusters' default. */
  profileFile?: string;
  /** The CLI entry to run `sandbox serve` with (this process's script). */
  entry: string;
}

export type UpResult = {started: boolean; state: SandboxState; log: string};

/** Starts the sandbox in the background unless it runs already; returns once it answers. */
export async function sandboxUp(options: UpOptions): Promise<UpResult> {
  const log = path.join(options.dir, 'sandbox.log');
  const running = await runningSandbox(options.dir);
  if (running) return {started: false, state: running, log};
  if (options.profileFile) loadProfile(options.profileFile);
  fs.mkdirSync(options.dir, {recursive: true, mode: 0o700});
  fs.rmSync(stateFile(options.dir), {force: true});
  const out = fs.openSync(log, 'a');
  const args = [options.entry, 'sandbox', 'serve', '--dir', options.dir, '--clusters', options.clusters.join(','), ...(options.profileFile ? ['--profile', options.profileFile] : [])];
  const child = spawn(process.execPath, args, {detached: true, stdio: ['ignore', out, out], env: process.env});
  child.unref();
  fs.closeSync(out);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const state = await runningSandbox(options.dir);
    if (state && state.pid === child.pid) return {started: true, state, log};
    if (child.exitCode !== null || !alive(child.pid!)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the sandbox did not start; see ${log}`);
}

/** Stops the sandbox of `dir` by its recorded pid; false when none was running. */
export async function sandboxDown(dir: string): Promise<boolean> {
  const state = readState(dir);
  if (!state || !alive(state.pid)) {
    fs.rmSync(stateFile(dir), {force: true});
    return false;
  }
  // Only a process that is this sandbox: it answers at the recorded address.
  if (!(await runningSandbox(dir))) throw new Error(`process ${state.pid} in ${stateFile(dir)} is not a running sandbox; remove the file if the sandbox is gone`);
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(state.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (alive(state.pid)) process.kill(state.pid, 'SIGKILL');
  fs.rmSync(stateFile(dir), {force: true});
  return true;
}

function loadProfile(file: string): FleetProfile {
  return readProfile(fs.readFileSync(file, 'utf8'), file);
}

/** The background process itself: runs the fleet until SIGTERM or SIGINT. */
export async function serveSandbox(options: {dir: string; clusters: string[]; profileFile?: string}): Promise<void> {
  const profile = options.profileFile ? loadProfile(options.profileFile) : DEFAULT_PROFILE;
  const fleet = new SandboxFleet(options.clusters.length > 0 ? options.clusters : DEFAULT_CLUSTERS, profile);
  await fleet.start();
  const kubeconfig = fleet.writeKubeconfig(options.dir);
  const state: SandboxState = {pid: process.pid, kubeconfig, clusters: fleet.clusters.map((c) => ({name: c.name, url: c.url})), startedAt: new Date().toISOString()};
  fs.writeFileSync(stateFile(options.dir), JSON.stringify(state, null, 2), {mode: 0o600});
  process.stdout.write(`sandbox: ${state.clusters.map((c) => `${c.name} ${c.url}`).join(', ')}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await fleet.stop();
  const now = readState(options.dir);
  if (now?.pid === process.pid) fs.rmSync(stateFile(options.dir), {force: true});
}
