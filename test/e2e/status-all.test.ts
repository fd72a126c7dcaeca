import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog, startApiserver, stopApiserver} from '../support/backend.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, placeRunning, remoteWorkerOf, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type App = KubeObject & {metadata: {name: string}; spec: {headGroupSpec: {template: {spec: {containers: Array<{resources: unknown}>}}}; workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};
interface Listed {
  namespace: string;
  kind?: string;
  name: string;
  home: string;
  homeClusterId?: string;
  mode: string;
  workers: Array<{context: string; observed: boolean; local?: number; placeholders?: number; remote?: number; pending?: number}>;
  repairs: unknown[];
  reasons: string[];
}
interface Document {
  clusters: Array<{context: string; state: string; clusterId?: string}>;
  groups: Listed[];
}

/** The resource a request names: the last word of its path, for a list. */
const resourceOf = (uri: string) => uri.split('?')[0]!.split('/').filter(Boolean).at(-1)!;

/** A one-worker app of 200m CPU each, all at home: with spread, onprem keeps room only for a placeholder. */
async function placeTiny(fleet: Fleet, namespace: string, name: string): Promise<void> {
  const app = fixture<App>('raycluster-small.yaml');
  app.metadata.name = name;
  const tiny = {requests: {cpu: '200m', memory: '1Gi'}, limits: {cpu: '200m', memory: '1Gi'}};
  app.spec.headGroupSpec.template.spec.containers[0]!.resources = tiny;
  app.spec.workerGroupSpecs[0]!.replicas = 1;
  app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = tiny;
  const file = path.join(tempDir(), `${name}.yaml`);
  fs.writeFileSync(file, yaml.dump(app));
  const placed = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
  if (placed.code !== 0) throw new Error(`place ${name} exited ${placed.code}: ${placed.stderr}`);
  await waitFor(`the head and worker of ${name} Running`, async () => {
    const pods = (await fleet.cluster('onprem').list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})).items;
    return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running') ? true : undefined;
  });
}

describe('status -A: every group of the fleet at a glance', () => {
  let fleet: Fleet;
  let first: string;
  let second: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    first = await freshNamespace(fleet, 'list-a');
    second = await freshNamespace(fleet, 'list-b');
  });
  afterAll(async () => {
    await startApiserver('onprem');
    await Promise.all([removeNamespace(fleet, first), removeNamespace(fleet, second)]);
  });

  it('lists 3 groups in 2 namespaces, one spanned, with their modes and counts, from one list per kind and cluster', async () => {
    await placeTiny(fleet, first, 'solo');
    await placeTiny(fleet, second, 'other');
    // Head and two 3-CPU workers fill onprem beside the tiny apps; a third worker goes to cloud.
    await placeRunning(fleet, first, 'spread', fleetArgs);
    const scaled = await cli(['scale', 'spread', '--replicas', '3', '--skip-capacity-relocate', '-n', first, ...fleetArgs]);
    expect(scaled.code, scaled.stderr).toBe(0);
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    await waitFor('the remote worker of spread Running on cloud', async () => {
      const placeholders = (await onprem.list<Pod>(RESOURCES.pods, {namespace: first, labelSelector: 'superskyray.io/role=placeholder'})).items;
      const twin = placeholders[0] && (await remoteWorkerOf(onprem, cloud, first, placeholders[0].metadata?.annotations?.['superskyray.io/replaces'] ?? ''));
      return (twin as Pod | undefined)?.status?.phase === 'Running' ? true : undefined;
    });

    const since = new Date().toISOString();
    const listed = await cli(['status', '-A', '-o', 'json', ...fleetArgs]);
    const until = Date.now();
    expect(listed.code, listed.stderr).toBe(0);
    const doc = JSON.parse(listed.stdout) as Document;
    const ours = doc.groups.filter((g) => g.namespace === first || g.namespace === second);
    expect(ours.map((g) => `${g.namespace} ${g.kind}/${g.name} ${g.home} ${g.mode}`)).toEqual([
      `${first} RayCluster/solo onprem single`,
      `${first} RayCluster/spread onprem spanned`,
      `${second} RayCluster/other onprem single`,
    ]);
    const spread = ours.find((g) => g.name === 'spread')!;
    expect(spread.workers).toEqual([
      {context: 'onprem', home: true, observed: true, local: 2, placeholders: 1, pending: 0},
      {context: 'cloud', home: false, observed: true, remote: 1},
    ]);
    expect(ours.find((g) => g.name === 'solo')!.workers).toEqual([
      {context: 'onprem', home: true, observed: true, local: 1, placeholders: 0, pending: 0},
      {context: 'cloud', home: false, observed: true, remote: 0},
    ]);
    expect(ours.map((g) => g.repairs)).toEqual([[], [], []]);

    // Never a request per group: one list of each kind per cluster, and who the cluster is.
    for (const context of ['onprem', 'cloud']) {
      const requests = toolRequests(auditLog(context), since).all.filter((r) => Date.parse(r.at) <= until);
      const lists = requests.filter((r) => r.verb === 'list').map((r) => resourceOf(r.uri));
      expect(lists.length, `${context}: ${lists.join(', ')}`).toBeGreaterThanOrEqual(11);
      expect(new Set(lists).size, `${context}: ${lists.sort().join(', ')}`).toBe(lists.length);
      expect(requests.filter((r) => r.verb !== 'list').map((r) => r.uri.split('?')[0]).sort(), context).toEqual(['/api/v1/namespaces/kube-system', '/version']);
    }

    // -n: that namespace's groups only, and no NAMESPACE column.
    const one = await cli(['status', '-n', second, ...fleetArgs]);
    expect(one.code, one.stderr).toBe(0);
    const table = one.stdout.split('\n');
    const header = table.findIndex((l) => l.startsWith('GROUP'));
    expect(table[header]).toMatch(/^GROUP\s+HOME\s+MODE\s+WORKERS\s+AGE\s+REPAIR$/);
    expect(table.slice(header + 1).filter(Boolean)).toEqual([expect.stringMatching(/^raycluster\/other\s+onprem\s+single\s+onprem: 1 local\s+\d+s\s+-$/)]);
  });

  it('shows the spanned group, degraded, from its remote objects when its home does not answer, and exits 1', async () => {
    const before = JSON.parse((await cli(['status', '-A', '-o', 'json', ...fleetArgs])).stdout) as Document;
    const homeId = before.clusters.find((c) => c.context === 'onprem')!.clusterId;
    await stopApiserver('onprem');
    try {
      const listed = await cli(['status', '-A', '-o', 'json', '--request-timeout', '3s', ...fleetArgs]);
      expect(listed.code, listed.stderr).toBe(1);
      const doc = JSON.parse(listed.stdout) as Document;
      expect(doc.clusters.map((c) => `${c.context} ${c.state}`)).toEqual(['onprem Unreachable', 'cloud Ready']);
      const spread = doc.groups.filter((g) => g.namespace === first && g.name === 'spread');
      expect(spread).toHaveLength(1);
      expect(spread[0]).toMatchObject({home: 'onprem', homeClusterId: homeId, mode: 'degraded'});
      expect(spread[0]!.workers).toEqual([
        {context: 'onprem', home: true, observed: false},
        {context: 'cloud', home: false, observed: true, remote: 1},
      ]);
      expect(spread[0]!.reasons.join('; ')).toContain('did not answer');

      const text = await cli(['status', '-A', '--request-timeout', '3s', ...fleetArgs]);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(new RegExp(`${first}\\s+spread\\s+onprem\\s+degraded\\s+onprem: \\?; cloud: 1 remote`));
      expect(text.stderr).toContain(`warning: group spread in ${first} is degraded`);
    } finally {
      await startApiserver('onprem');
    }
  });
});
