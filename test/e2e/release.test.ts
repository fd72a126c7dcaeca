import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, inject, it} from 'vitest';
import {REPO, run} from '../support/cli.js';
import {tempDir} from '../support/kubeconfig.js';

const kubeconfig = inject('kubeconfig');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {version: string};
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

describe('installing the tool', () => {
  it('the release archive, unpacked and linked onto the PATH as krew does, runs as "kubectl superskyray"', async () => {
    const root = tempDir();
    execFileSync('tar', ['-xzf', path.join(REPO, 'release', `kubectl-superskyray-v${pkg.version}.tar.gz`), '-C', root]);
    const bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    for (const file of ['kubectl-superskyray', 'kubectl_complete-superskyray']) fs.symlinkSync(path.join(root, 'kubectl-superskyray', file), path.join(bin, file));
    const env = {PATH: `${bin}:${process.env.PATH}`};

    const help = await run('kubectl', ['superskyray', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`kubectl-superskyray/${pkg.version}`);
    expect(help.stdout).toMatch(/^ {2}runbook {2}/m);
    expect(help.stdout).toMatch(/^ {2}status {2}/m);

    const status = await run('kubectl', ['superskyray', 'status', ...fleetArgs], env);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^onprem\s+Ready\s+v\d+\.\d+\.\d+/m);
    expect(status.stdout).toMatch(/^cloud\s+Ready\s+v\d+\.\d+\.\d+/m);

    // kubectl's own completion asks the plugin's completer.
    const completed = await run('kubectl', ['__complete', 'superskyray', 'st'], env);
    expect(completed.stdout).toMatch(/^status\tShow every cluster/m);
    expect(completed.stdout).toMatch(/^:4$/m);

    const unknown = await run('kubectl', ['superskyray', 'stauts'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: unknown command "stauts" for "kubectl superskyray"/);
  });

  it('npm i -g of the package puts kubectl-superskyray on the PATH', async () => {
    const dir = tempDir();
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], {cwd: REPO, encoding: 'utf8'}).trim().split('\n').pop()!;
    const prefix = path.join(dir, 'global');
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, packed)], {cwd: dir, stdio: 'pipe', timeout: 300_000});
    const env = {PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}`};
    const help = await run('kubectl', ['superskyray', 'status', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('kubectl superskyray status [GROUP]');
    const contexts = await run('kubectl', ['__complete', 'superskyray', 'status', '--context', ''], {...env, KUBECONFIG: kubeconfig});
    expect(contexts.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(':'))).toEqual(['onprem', 'cloud']);
    const status = await run('kubectl-superskyray', ['status', ...fleetArgs, '-o', 'json'], env);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as {clusters: Array<{context: string; state: string}>}).clusters.map((c) => [c.context, c.state])).toEqual([
      ['onprem', 'Ready'],
      ['cloud', 'Ready'],
    ]);
  }, 360_000);
});
