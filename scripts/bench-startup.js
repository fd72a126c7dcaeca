#!/usr/bin/env node
// Median wall time of `kubectl-superskyray --help` against bare `node -e 0`, as a ratio, from both
// installs: bin/run.js over dist/ (what `npm i -g` installs) and the release bundle (what krew
// installs). Target: at most 1.5x for each. Needs a build (npm run build).
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import * as path from 'node:path';
import {interleaved, median} from './timing.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runJs = path.join(repo, 'bin', 'run.js');
const TARGET = 1.5;
const bundle = path.join(repo, 'release', 'kubectl-superskyray', 'lib', 'cli.mjs');
for (const built of [path.join(repo, 'oclif.manifest.json'), bundle]) {
  if (!existsSync(built)) {
    console.error(`bench:startup: run "npm run build" first (${path.relative(repo, built)} is missing)`);
    process.exit(2);
  }
}

const runs = Number(process.env.BENCH_RUNS ?? 21);
const commands = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'kubectl-superskyray --help': [process.execPath, [runJs, '--help']],
  'kubectl-superskyray status --help': [process.execPath, [runJs, 'status', '--help']],
  // The release's single file (krew's install) parses all of its 2 MB at every start, where dist/
  // loads only the chunks a command needs.
  'release bundle --help': [process.execPath, [bundle, '--help']],
};

const samples = interleaved(commands, runs);

const base = median(samples['node -e 0']);
console.log(`runs: ${runs} each, interleaved`);
for (const [name, values] of Object.entries(samples)) {
  const m = median(values);
  console.log(`${name.padEnd(36)} median ${m.toFixed(1).padStart(7)} ms   ${(m / base).toFixed(2)}x bare node`);
}
for (const [install, name] of [['bin/run.js', 'kubectl-superskyray --help'], ['release bundle', 'release bundle --help']]) {
  console.log(`ratio (${install} --help / node -e 0): ${(median(samples[name]) / base).toFixed(2)} (target <= ${TARGET})`);
}
