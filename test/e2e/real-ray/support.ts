/**
 * What the real-Ray scenarios share: a namespace whose Ray pods the data plane runs for real, in
 * every cluster, and the fixtures of this folder.
 */
import * as fs from 'node:fs';
import yaml from 'js-yaml';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {DATA_PLANE_LABEL} from '../../env/dataplane.js';
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
