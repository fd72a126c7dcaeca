import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {ClusterClient} from '../../../src/kube/client.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import {SandboxFleet} from '../../../src/sandbox/cluster.js';
import {DEFAULT_PROFILE} from '../../../src/sandbox/profile.js';
import {cli, REPO, RUN_JS, type CliResult} from '../../support/cli.js';
import {tempDir, writeKubeconfig} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';

/**
 * The exit codes the README documents, for every command that talks to clusters:
 * 0 done; 1 failed; 2 bad usage, nothing changed; 3 --timeout ran out; 130 interrupted.
 * "done" runs on a sandbox fleet; "failed" on a cluster that refuses connections; "timed out" and
 * "interrupted" on one that accepts connections and never answers.
 */
const COMMANDS: Record<string, {args: (file: string) => string[]; failed?: number; interrupted?: number}> = {
  status: {args: () => ['status']},
  'status GROUP': {args: () => ['status', 'app']},
  place: {args: (file) => ['place', '-f', file]},
  scale: {args: () => ['scale', 'app', '--replicas', '1']},
  span: {args: () => ['span', 'app']},
  delete: {args: () => ['delete', 'app', '--dry-run']},
  doctor: {args: () => ['doctor']},
  'watch --once': {args: () => ['watch', '--once']},
  // watch runs until it is stopped: Ctrl-C and SIGTERM are how it ends, after the pass in flight.
  watch: {args: () => ['watch', '--no-tui'], interrupted: 0},
  'runbook run': {args: (file) => ['runbook', 'run', path.join(path.dirname(file), 'book.yaml')]},
};

const OUTCOMES = ['done', 'usage', 'failed', 'timed out', 'interrupted'] as const;
type Outcome = (typeof OUTCOMES)[number];
const EXPECTED: Record<Outcome, number> = {done: 0, usage: 2, failed: 1, 'timed out': 3, interrupted: 130};

describe('exit codes: every command x every outcome', () => {
  const fleet = new SandboxFleet(['onprem', 'cloud'], DEFAULT_PROFILE);
  const sockets = new Set<net.Socket>();
  /** Connections the silent cluster has taken: a run that reached it is waiting on it. */
  let reached = 0;
  const silent = net.createServer((s) => {
    reached++;
    sockets.add(s);
    s.on('data', () => undefined);
  });
  let kubeconfig: string;
  let file: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await fleet.start();
    const dir = tempDir();
    const sandbox = fleet.writeKubeconfig(dir);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const refused = net.createServer();
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const refusedPort = (refused.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => refused.close(() => resolve()));
    const others = writeKubeconfig([
      {name: 'silent', server: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`},
      {name: 'down', server: `http://127.0.0.1:${refusedPort}`},
    ]);
    kubeconfig = `${sandbox}:${others}`;
    env = {KUBECONFIG: kubeconfig};
    const agent = new http.Agent();
    for (const c of fleet.clusters) {
      const client = new ClusterClient({context: c.name, server: c.url, credentials: {prepare: async () => ({agent, headers: {}})}});
      await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'codes'}});
    }
    file = path.join(dir, 'app.yaml');
    fs.copyFileSync(path.join(REPO, 'examples', 'raycluster-manual.yaml'), file);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/name: manual-demo/, 'name: app'));
    fs.writeFileSync(path.join(dir, 'book.yaml'), 'name: codes\nsteps:\n  - wait: {group: raycluster/app, mode: single, timeout: 2s}\n');
    const placed = await cli(['place', '-f', file, '-n', 'codes', '--context', 'onprem', '--context', 'cloud'], env);
    expect(placed.code, placed.stderr).toBe(0);
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    await fleet.stop();
  });

  function fleetFor(outcome: Outcome): string[] {
    switch (outcome) {
      case 'done':
        return ['--context', 'onprem', '--context', 'cloud'];
      case 'usage':
        return ['--context', 'onprem', '--context', 'cloud', '--bogus'];
      case 'failed':
        return ['--context', 'down'];
      case 'timed out':
        return ['--context', 'silent', '--timeout', '1s', '--request-timeout', '30s'];
      case 'interrupted':
        return ['--context', 'silent', '--request-timeout', '30s'];
    }
  }

  async function runInterrupted(args: string[]): Promise<CliResult> {
    const child = spawn(process.execPath, [RUN_JS, ...args], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env}, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    // Interrupted while it waits for the silent cluster: once it has reached it (its Ctrl-C handler is
    // set before its first request), well before any timeout.
    const before = reached;
    await waitFor('the command to reach the silent cluster', () => (reached > before ? true : undefined), {
      timeoutMs: 20_000,
      giveUp: () => (child.exitCode !== null ? `it exited ${child.exitCode} first: ${stderr}` : undefined),
    });
    child.kill('SIGINT');
    const code = await exited;
    return {code, stdout, stderr};
  }

  const cases = Object.entries(COMMANDS).flatMap(([name, command]) =>
    OUTCOMES.filter((outcome) => !(name === 'watch' && (outcome === 'done' || outcome === 'timed out' || outcome === 'failed'))).map((outcome) => ({
      name,
      outcome,
      command,
      want: outcome === 'interrupted' && command.interrupted !== undefined ? command.interrupted : outcome === 'failed' && command.failed !== undefined ? command.failed : EXPECTED[outcome],
    })),
  );

  it.each(cases)('$name, $outcome: exit $want', async ({outcome, command, want}) => {
    const args = [...command.args(file), '-n', 'codes', ...fleetFor(outcome)];
    const started = Date.now();
    const result = outcome === 'interrupted' ? await runInterrupted(args) : await cli(args, env);
    expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(want);
    if (want === 2) expect(result.stderr).toMatch(/^error: [^\n]+\n$/);
    if (want === 3) {
      expect(result.stderr).toMatch(/\nerror: [^\n]*within --timeout 1s[^\n]*\n$|^error: [^\n]*within --timeout 1s[^\n]*\n$/);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    if (want === 130) expect(result.stderr).toMatch(/error: [^\n]*interrupted[^\n]*\n$/);
    // A stop is never blamed on a cluster.
    if (want === 3 || want === 130) expect(result.stderr).not.toMatch(/did not answer|unreachable|timed out/);
  });
});
