#!/usr/bin/env node
// Median wall time of `status raycluster/NAME` over a fleet of 3 clusters, from both installs (bin/run.js
// over dist/, as `npm i -g` installs it, and the release bundle), against what it replaces: kubectl
// asked cluster by cluster, `for C in a b c; do kubectl --context $C get pods,svc,rayclusters -l
// ray.io/cluster=NAME; done`. Target: status at most 0.6x that loop.
//
// Starts its own sandbox fleet (its state in a temporary XDG_STATE_HOME, never the one `sandbox up`
// uses), places the example RayCluster on it so that every command finds something, and always stops
// it. Needs a build (npm run build) and kubectl: $KUBECTL, else test/env's, else the PATH's.
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';
import {interleaved, median, timeOnce} from './timing.mjs';

const TARGET = 0.6;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runJs = path.join(repo, 'bin', 'run.js');
const bundle = path.join(repo, 'release', 'kubectl-superskyray', 'lib', 'cli.mjs');
for (const built of [path.join(repo, 'dist', 'bundle.js'), bundle]) {
  if (!existsSync(built)) {
    console.error(`bench:status: run "npm run build" first (${path.relative(repo, built)} is missing)`);
    process.exit(2);
  }
}
const kubectl = [process.env.KUBECTL, path.join(os.homedir(), '.cache', 'superskyray-testenv', 'bin', 'kubectl')].find((file) => file && existsSync(file)) ?? 'kubectl';

const runs = Number(process.env.BENCH_RUNS ?? 15);
const contexts = ['a', 'b', 'c'];
const group = 'manual-demo';
const state = mkdtempSync(path.join(os.tmpdir(), 'superskyray-bench-status-'));
const kubeconfig = path.join(state, 'kubectl-superskyray', 'sandbox', 'kubeconfig');
// kubectl's discovery cache in the temporary folder too: warmed by the first run, as a user's would be.
const env = {...process.env, XDG_STATE_HOME: state, KUBECONFIG: kubeconfig, NO_COLOR: '1'};
delete env.SUPERSKYRAY_CONTEXTS;
delete env.SUPERSKYRAY_FLEET;

function cli(args) {
  const result = spawnSync(process.execPath, [runJs, ...args], {env, encoding: 'utf8'});
  if (result.status !== 0) throw new Error(`kubectl-superskyray ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const fleet = contexts.flatMap((context) => ['--context', context]);
const kubectlLoop = `for C in ${contexts.join(' ')}; do "$KUBECTL_BIN" --cache-dir "$KUBECTL_CACHE" --context "$C" get pods,svc,rayclusters -l ray.io/cluster=${group}; done`;
const commands = {
  'status, bin/run.js (npm install)': [process.execPath, [runJs, 'status', `raycluster/${group}`, ...fleet]],
  'status, release bundle': [process.execPath, [bundle, 'status', `raycluster/${group}`, ...fleet]],
  'kubectl loop over 3 contexts': ['sh', ['-c', kubectlLoop]],
};
const loopEnv = {...env, KUBECTL_BIN: kubectl, KUBECTL_CACHE: path.join(state, 'kube-cache')};

let up = false;
const stop = () => {
  if (up) spawnSync(process.execPath, [runJs, 'sandbox', 'down'], {env, stdio: 'ignore'});
  up = false;
  rmSync(state, {recursive: true, force: true});
};
process.on('SIGINT', () => {
  stop();
  process.exit(130);
});

try {
  up = true;
  cli(['sandbox', 'up', '--clusters', contexts.join(',')]);
  cli(['place', '-f', path.join(repo, 'examples', 'raycluster-manual.yaml'), ...fleet]);
  const samples = interleaved(commands, runs, loopEnv);
  const loop = median(samples['kubectl loop over 3 contexts']);
  console.log(`runs: ${runs} each, interleaved; ${contexts.length} sandbox clusters; kubectl: ${kubectl}`);
  for (const [name, values] of Object.entries(samples)) console.log(`${name.padEnd(36)} median ${median(values).toFixed(1).padStart(7)} ms`);
  for (const name of ['status, bin/run.js (npm install)', 'status, release bundle']) {
    console.log(`ratio (${name} / kubectl loop): ${(median(samples[name]) / loop).toFixed(2)} (target <= ${TARGET})`);
  }
  // Node reads the whole file at every start, before any of the tool runs; kubectl does not pay it.
  if (process.env.NODE_EXTRA_CA_CERTS) {
    const bare = median(Array.from({length: 9}, () => timeOnce([process.execPath, ['-e', '0']], loopEnv)));
    const without = {...loopEnv};
    delete without.NODE_EXTRA_CA_CERTS;
    const lean = median(Array.from({length: 9}, () => timeOnce([process.execPath, ['-e', '0']], without)));
    console.log(`note: NODE_EXTRA_CA_CERTS is set; bare node starts in ${bare.toFixed(1)} ms with it, ${lean.toFixed(1)} ms without`);
  }
} finally {
  stop();
}
