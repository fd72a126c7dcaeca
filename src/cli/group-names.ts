/**
 * The group names that shell completion offers. Tab never waits on a cluster: the names come from a
 * small file kept per fleet, and a file older than half a minute (or none) is refreshed by a detached
 * run of the completion itself, for the next Tab. The file holds namespaces, kinds, names and
 * contexts, nothing of the credentials.
 */
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {GroupChoice} from './complete.js';

const FRESH_MS = 30_000;
/** A refresh started this recently is not started again: a slow cluster is not asked by every Tab. */
const REFRESHING_MS = 15_000;

export interface GroupNames {
  /** When it was written (ms since the epoch). */
  at: number;
  /** The namespace the fleet's contexts set: the one a command without -n looks in. */
  namespace: string;
  groups: GroupChoice[];
}

/** What the words given so far say of the fleet and the namespace. */
export interface FleetWords {
  kubeconfig?: string;
  contexts: string[];
  fleet?: string;
  namespace?: string;
}

export function fleetWords(words: string[]): FleetWords {
  const out: FleetWords = {contexts: []};
  const set: Record<string, (value: string) => void> = {
    '--kubeconfig': (v) => (out.kubeconfig = v),
    '--context': (v) => out.contexts.push(v),
    '--fleet': (v) => (out.fleet = v),
    '--namespace': (v) => (out.namespace = v),
    '-n': (v) => (out.namespace = v),
  };
  for (let i = 0; i < words.length; i++) {
    const [flag, inline] = words[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const take = set[flag];
    if (!take) continue;
    const value = inline ?? words[++i];
    if (value !== undefined) take(value);
  }
  return out;
}

/** One file per fleet as the words and the environment name it. */
export function namesFile(words: FleetWords, env: NodeJS.ProcessEnv): string {
  const fleet = [words.kubeconfig ?? env.KUBECONFIG ?? '', words.contexts.length > 0 ? words.contexts.join(',') : (env.SUPERSKYRAY_CONTEXTS ?? ''), words.fleet ?? env.SUPERSKYRAY_FLEET ?? ''];
  const key = createHash('sha256').update(JSON.stringify(fleet)).digest('hex').slice(0, 16);
  const dir = env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'kubectl-superskyray') : path.join(env.HOME ?? os.homedir(), '.cache', 'kubectl-superskyray');
  return path.join(dir, `groups-${key}.json`);
}

export function readNames(file: string): GroupNames | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as GroupNames;
  } catch {
    return undefined;
  }
}

/**
 * The names to offer now, for the namespace the words name (else the fleet's). When the file is old
 * or missing, `refresh` is called (once per 15 s at most) to write it again in the background.
 */
export function namesToOffer(file: string, namespace: string | undefined, refresh: () => void, now = Date.now()): GroupChoice[] {
  const names = readNames(file);
  if (!names || now - names.at > FRESH_MS) {
    const lock = `${file}.refreshing`;
    let started = 0;
    try {
      started = Number(fs.readFileSync(lock, 'utf8')) || 0;
    } catch {
      // No refresh under way.
    }
    if (Math.abs(now - started) >= REFRESHING_MS) {
      fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
      fs.writeFileSync(lock, String(now), {mode: 0o600});
      refresh();
    }
  }
  const wanted = namespace ?? names?.namespace ?? 'default';
  return names?.groups.filter((g) => g.namespace === wanted) ?? [];
}

/**
 * Writes what a listing found. A cluster that did not answer keeps the names it had: a group is not
 * dropped from completion because its home was slow once.
 */
export function writeNames(file: string, found: {answered: string[]; groups: GroupChoice[]}, namespace: string, now = Date.now()): void {
  const kept = (readNames(file)?.groups ?? []).filter((g) => !found.answered.includes(g.home));
  const names: GroupNames = {at: now, namespace, groups: [...found.groups, ...kept]};
  fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
  const temp = `${file}.${process.pid}`;
  fs.writeFileSync(temp, JSON.stringify(names), {mode: 0o600});
  fs.renameSync(temp, file);
  fs.rmSync(`${file}.refreshing`, {force: true});
}
