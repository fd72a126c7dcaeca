import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {cli, REPO, RUN_JS} from '../../support/cli.js';
import {TestApiServer} from '../../support/api-server.js';
import {tempDir, writeKubeconfig} from '../../support/kubeconfig.js';

// No cluster is contacted: the kubeconfig named here does not exist.
const nowhere = ['--kubeconfig', '/nonexistent/kubeconfig'];

describe('kubectl superskyray runbook run, with no cluster', () => {
  it('--dry-run checks the runbook and prints its steps with the variables filled in', async () => {
    const result = await cli(['runbook', 'run', path.join(REPO, 'examples/runbooks/manual-scale.yaml'), '--dry-run', '--set', 'home=dc1', '--set', 'namespace=ml', ...nowhere]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(0, 3)).toEqual([
      'runbook "manual scale 2 -> 3 -> 2 with spanning": 10 step(s) in namespace ml, fleet dc1, cloud (dry run: nothing was run)',
      '  1. namespace ml on dc1',
      '  2. place manual-demo (a head and two 3-cpu workers) on dc1',
    ]);
    expect(result.stdout).toContain('  6. the third worker runs on cloud, joined to the same head (at most 120s)\n');
  });

  it('-o json --dry-run prints the steps as data', async () => {
    const result = await cli(['runbook', 'run', path.join(REPO, 'examples/runbooks/autoscaler-gpu.yaml'), '--dry-run', '-o', 'json', ...nowhere]);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout) as {namespace: string; steps: Array<{kind: string; text?: string}>};
    expect(doc.namespace).toBe('ray-gpu-demo');
    expect(doc.steps.map((s) => s.kind)).toEqual(['apply', 'place', 'wait', 'watch', 'patch', 'wait', 'patch', 'wait', 'status']);
    expect(doc.steps.some((s) => s.text !== undefined)).toBe(false);
  });

  it.each([
    {name: 'a missing runbook', file: () => '/nonexistent/book.yaml', message: /^error: cannot read runbook \/nonexistent\/book\.yaml: ENOENT; pass the path of a runbook YAML file\n$/},
    {
      name: 'a mistake in a late step, before any step runs',
      file: () => {
        const file = path.join(tempDir(), 'book.yaml');
        fs.writeFileSync(file, 'steps:\n  - sleep: 1s\n  - scale: {group: app, replicas: many}\n');
        return file;
      },
      message: /^error: step 2: replicas must be a whole number, 0 or more; write replicas: 2\n$/,
    },
  ])('refuses $name with one line and exit 2', async ({file, message}) => {
    const result = await cli(['runbook', 'run', file(), ...nowhere]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});

describe('kubectl superskyray runbook run, stopped', () => {
  // Sleep steps need no cluster: these runbooks never open the fleet.
  const sleepy = () => {
    const file = path.join(tempDir(), 'sleepy.yaml');
    fs.writeFileSync(file, 'name: sleepy\nsteps:\n  - sleep: 100ms\n  - sleep: 60s\n  - sleep: 1s\n');
    return file;
  };

  it('exits 3 at --timeout, naming the step that was running', async () => {
    const result = await cli(['runbook', 'run', sleepy(), '--timeout', '1s', ...nowhere]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^\[1\/3\] sleep 0\.1s: slept 0\.1s \(0\.\ds\)\n\[2\/3\] sleep 60s: FAILED after \d\.\ds: /);
    expect(result.stderr).toMatch(/\nerror: runbook "sleepy" did not finish within --timeout 1s: step 2 \(sleep 60s\) was running\n$/);
  });

  it('stops on Ctrl-C with exit 130, and runs no step after the one it stopped', async () => {
    const child = spawn(process.execPath, [RUN_JS, 'runbook', 'run', sleepy(), ...nowhere], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1'}});
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      // The first step has ended, so the second one is running: one Ctrl-C.
      if (stderr.includes('[1/3]') && !interrupted) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/\[2\/3\] sleep 60s: FAILED after \d\.\ds: interrupted\nerror: runbook "sleepy" was interrupted: step 2 \(sleep 60s\) was running\n$/);
    expect(stderr).not.toContain('[3/3]');
  });
});

describe('kubectl superskyray runbook run, checked against the fleet first', () => {
  it('refuses a step that names a context outside the fleet, with exit 2 and no request to any cluster', async () => {
    // The contexts' servers record every request: there must be none.
    const servers = await Promise.all([0, 1].map(() => TestApiServer.start((_req, res) => void res.writeHead(500).end())));
    try {
      const kubeconfig = writeKubeconfig([{name: 'onprem', server: servers[0]!.url}, {name: 'cloud', server: servers[1]!.url}]);
      const file = path.join(tempDir(), 'book.yaml');
      fs.writeFileSync(file, 'contexts: [onprem, cloud]\nsteps:\n  - sleep: 1s\n  - patch: {context: edge, object: raycluster/a, patch: {spec: {}}}\n');
      const result = await cli(['runbook', 'run', file, '--kubeconfig', kubeconfig]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('error: step 2 (patch raycluster/a in edge) names context "edge", which is not in the fleet (onprem, cloud); add it to the fleet, or fix the runbook\n');
      expect(servers.flatMap((s) => s.requests)).toEqual([]);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});
