// What the start-up benchmarks share: a command's wall time, interleaved runs, their median.
import {spawnSync} from 'node:child_process';

/** Wall time of one run of [file, args], in ms; a run that fails ends the benchmark. */
export function timeOnce([file, args], env = process.env) {
  const start = process.hrtime.bigint();
  const result = spawnSync(file, args, {env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'});
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Samples of every command after one warm-up run each (the file and discovery caches), interleaved,
 * so that a burst of load on the machine hits every command alike.
 */
export function interleaved(commands, runs, env = process.env) {
  for (const command of Object.values(commands)) timeOnce(command, env);
  const samples = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, command] of Object.entries(commands)) samples[name].push(timeOnce(command, env));
  }
  return samples;
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
