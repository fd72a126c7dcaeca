import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {watchFleet, type WatchReport} from '../../src/reconcile/watch.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number}>}};

// What the TUI is fed: while paused (p) the rows still follow the clusters; a deleted group leaves them.
describe('watch paused, and a group deleted under it', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'paused');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('keeps reporting where the group runs while paused, writes nothing until unpaused, and drops a deleted group at once', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const file = path.join(tempDir(), 'held.yaml');
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'held';
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);

    const reports: WatchReport[] = [];
    let paused = true;
    const stop = new AbortController();
    const done = watchFleet(testFleet(kubeconfig), {groups: [], namespace, once: false, copySecrets: false, signal: stop.signal, report: (r) => reports.push(r), paused: () => paused, detail: true});
    const key = `${namespace}/raycluster/held`;
    const pendingSeen = () => reports.some((r) => r.type === 'status' && r.group === key && r.status.clusters[0]?.workers?.some((w) => (w.pending ?? 0) > 0));
    try {
      await waitFor('watch to know the group', () => (reports.some((r) => r.type === 'groups' && r.groups.some((g) => g.key === key)) ? true : undefined));
      // onprem holds the head and 3 two-cpu workers: a 4th waits Pending.
      await onprem.patch(RESOURCES.rayclusters, 'held', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 4}], 'json');
      await waitFor('a status showing the Pending worker while paused', () => (pendingSeen() ? true : undefined), {timeoutMs: 30_000});
      expect((await cloud.list<Pod>(RESOURCES.pods, {namespace})).items).toEqual([]);
      expect(reports.filter((r) => r.type === 'pass')).toEqual([]);

      paused = false;
      await waitFor('the Pending worker spanned once unpaused', async () => ((await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=held'})).items.length === 1 ? true : undefined), {timeoutMs: 30_000});

      const deleted = Date.now();
      expect((await cli(['delete', 'held', '-n', namespace, ...fleetArgs])).code).toBe(0);
      await waitFor('the group gone from what watch reports', () => {
        const last = reports.filter((r) => r.type === 'groups').at(-1);
        return last && last.type === 'groups' && !last.groups.some((g) => g.key === key) ? true : undefined;
      }, {timeoutMs: 15_000});
      console.log(`watch dropped the deleted group ${Date.now() - deleted} ms after delete returned`);
    } finally {
      stop.abort();
      await done;
    }
  });
});
