#!/usr/bin/env node
// npm run demo: a sandbox fleet on this machine, the manual-scale runbook on it (place, scale past
// the home cluster's capacity, span, scale down, collapse), and the sandbox left up to try things.
import {spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'bin', 'run.js');
const run = (args, options = {}) => spawnSync(process.execPath, [cli, ...args], {stdio: 'inherit', cwd: repo, ...options});

const up = spawnSync(process.execPath, [cli, 'sandbox', 'up'], {cwd: repo, encoding: 'utf8'});
if (up.status !== 0) {
  process.stderr.write(up.stderr);
  process.exit(up.status ?? 1);
}
const kubeconfig = /^kubeconfig: (.+)$/m.exec(up.stdout)?.[1];
process.stdout.write(`${up.stdout.split('\n')[0]}\n\n`);

const runbook = run(['runbook', 'run', path.join(repo, 'examples', 'runbooks', 'manual-scale.yaml'), '--kubeconfig', kubeconfig, '--set', 'namespace=demo']);
process.stdout.write(`\n${up.stdout.split('\n').slice(1).join('\n')}`);
process.exit(runbook.status ?? 1);
