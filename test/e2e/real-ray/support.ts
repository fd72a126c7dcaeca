/**
 * What the real-Ray scenarios share: a namespace whose Ray pods the data plane runs for real, in
 * every cluster, and the fixtures of this folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {DATA_PLANE_LABEL} from '../../env/dataplane.js';
import {STATE} from '../../env/testenv.js';
import {freshNamespace} from '../../support/e2e.js';

export async function dataPlaneNamespace(fleet: Fleet, prefix: string): Promise<string> {
  const name = await freshNamespace(fleet, prefix);
  await Promise.all(fleet.clusters.map((c) => c.patch(RESOURCES.namespaces, name, undefined, {metadata: {labels: {[DATA_PLANE_LABEL]: 'ray'}}}, 'merge')));
  return name;
}

export function realRayFixture(file: string): KubeObject[] {
  return yaml.loadAll(fs.readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')) as KubeObject[];
}

/** A pod's identity and restarts, to prove later that it neither was replaced nor restarted. */
export function lifeOf(pods: Pod[]): Record<string, {uid: string; restarts: number}> {
  return Object.fromEntries(
    pods.map((p) => [p.metadata!.name!, {uid: p.metadata!.uid!, restarts: ((p.status?.containerStatuses as Array<{restartCount?: number}> | undefined) ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0)}]),
  );
}

/**
 * For a failure's message: the Ray autoscaler's instance updates in `namespace`, and the last lines
 * of each of its pods' Ray container, stopped ones included (a pod's folder outlives it), from the
 * logs the data plane keeps. What Ray itself decided is only there.
 */
export function rayTrail(namespace: string): string {
  const root = path.join(STATE, 'pods');
  if (!fs.existsSync(root)) return '(the data plane ran no pod: no Ray logs to show)';
  const lines: string[] = [];
  const tail = (file: string, n: number, keep: (line: string) => boolean = () => true) =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(keep).slice(-n) : [];
  for (const cluster of fs.readdirSync(root)) {
    for (const pod of fs.readdirSync(path.join(root, cluster)).filter((p) => p.startsWith(`${namespace}_`))) {
      const logs = path.join(root, cluster, pod, 'logs');
      lines.push(`${cluster}/${pod}:`);
      lines.push(...tail(path.join(logs, 'autoscaler.log'), 25, (l) => /Update instance|New instance|Terminating|DEAD/.test(l)).map((l) => `  ${l.slice(0, 300)}`));
      for (const file of fs.existsSync(logs) ? fs.readdirSync(logs).filter((f) => f.startsWith('ray-worker')) : []) {
        lines.push(...tail(path.join(logs, file), 4).map((l) => `  ${l.slice(0, 300)}`));
      }
    }
  }
  return lines.join('\n');
}
