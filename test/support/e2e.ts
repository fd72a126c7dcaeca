import {randomBytes} from 'node:crypto';
import * as fs from 'node:fs';
import yaml from 'js-yaml';
import {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject} from '../../src/kube/types.js';

/** The real local clusters, through the tool's own fleet layer. */
export function testFleet(kubeconfig: string, contexts = ['onprem', 'cloud']): Fleet {
  return Fleet.open({contexts, kubeconfig, env: {}});
}

/** A namespace of its own for one test, so tests never see each other's objects. */
export async function freshNamespace(fleet: Fleet, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await Promise.all(fleet.clusters.map((c) => c.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name}})));
  return name;
}

export function fixture<T extends KubeObject>(file: string): T {
  return yaml.load(fs.readFileSync(new URL(`../e2e/fixtures/${file}`, import.meta.url), 'utf8')) as T;
}
