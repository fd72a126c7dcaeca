import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import * as fs from 'node:fs';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli, startWatch} from '../support/cli.js';
import {deletePlaced, freshNamespace, removeNamespace, testFleet, toolRequests, isDryRun, placeRunning as placeApp} from '../support/e2e.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

const PENDING = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') ?? false;

describe('the requests one span makes', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'requests');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  const placeRunning = (name: string) => placeApp(fleet, namespace, name, fleetArgs);

  it('spans 3 workers across 2 clusters with lists, not a GET per pod, and prints the count', async () => {
    const onprem = fleet.cluster('onprem');
    const podsOf = await placeRunning('count');
    // Three more workers than onprem has room for: they wait, and cloud (2 x 8 cpu) fits them.
    await onprem.patch(RESOURCES.rayclusters, 'count', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 5}], 'json');
    await waitFor('3 workers Pending, unschedulable', async () => ((await podsOf()).filter(PENDING).length === 3 ? true : undefined));

    const since = new Date().toISOString();
    const spanned = await cli(['span', 'count', '-n', namespace, ...fleetArgs]);
    expect(spanned.stderr).toBe('');
    expect(spanned.stdout).toContain('3 worker(s) spanned from onprem');

    const byCluster = ['onprem', 'cloud'].map((cluster) => ({cluster, requests: toolRequests(auditLog(cluster), since).all}));
    const summary = byCluster.map(({cluster, requests}) => {
      const counts = new Map<string, number>();
      for (const r of requests) {
        const resource = r.uri.split('?')[0]!.replace(/\/namespaces\/[^/]+/, '/namespaces/NS').replace(/\/(pods|services|leases|configmaps|serviceaccounts|endpointslices|namespaces|rayclusters|rayservices|rayjobs)\/[^/]+/, '/$1/NAME');
        const key = `${r.verb} ${resource}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return {cluster, total: requests.length, counts};
    });
    const total = summary.reduce((n, s) => n + s.total, 0);
    console.log(
      `one span of 3 workers across 2 clusters: ${total} requests\n${summary
        .map((s) => `  ${s.cluster}: ${s.total}\n${[...s.counts].sort().map(([k, n]) => `    ${n} x ${k}`).join('\n')}`)
        .join('\n')}`,
    );
    // Reads of pods are lists; the only per-pod requests are the writes of the swap.
    for (const {requests} of byCluster) {
      expect(requests.filter((r) => r.verb === 'get' && /\/pods\/[^/?]+/.test(r.uri))).toEqual([]);
    }
    // The preflight asks cloud's admission once for the worker group, with a dry-run create, not once per worker.
    expect(byCluster.map(({requests}) => requests.filter(isDryRun).length)).toEqual([0, 1]);
    const swaps = byCluster.flatMap(({requests}) => requests.filter((r) => /\/pods(\/|\?|$)/.test(r.uri) && r.verb !== 'list' && !isDryRun(r)));
    // Per worker: lock the Pending pod (its finalizer, then Failed through its status), create the
    // placeholder and the remote worker, unlock.
    expect(swaps.map((r) => r.verb).sort()).toEqual([...Array(6).fill('create'), ...Array(9).fill('patch')]);
    expect(swaps.filter((r) => r.uri.split('?')[0]!.endsWith('/status'))).toHaveLength(3);
  });

  it('a running watch spans 3 workers reading its cache: writes only, and no list after its informers have listed', async () => {
    const onprem = fleet.cluster('onprem');
    // The room the span above took, back.
    await deletePlaced(fleet, namespace, 'count', fleetArgs);
    await placeRunning('cached');
    const started = new Date().toISOString();
    const watch = startWatch(['raycluster/cached', '-n', namespace, ...fleetArgs]);
    try {
      // A watch opens once its list is in: 12 per cluster (docs/fleet-scale.md). The real server logs
      // its start as ResponseStarted, the sandbox at once as ResponseComplete.
      const watchesOpen = (cluster: string) =>
        new Set(
          fs
            .readFileSync(auditLog(cluster), 'utf8')
            .split('\n')
            .filter((l) => l.includes('"watch"') && l.includes('kubectl-superskyray/'))
            .map((l) => JSON.parse(l) as {verb: string; stage: string; requestReceivedTimestamp: string; requestURI: string})
            .filter((e) => e.verb === 'watch' && /^Response(Started|Complete)$/.test(e.stage) && Date.parse(e.requestReceivedTimestamp) >= Date.parse(started))
            .map((e) => e.requestURI.split('?')[0]),
        ).size;
      await waitFor('every informer listed, in both clusters', () => (watchesOpen('onprem') >= 12 && watchesOpen('cloud') >= 12 ? true : undefined), {
        giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined),
      });
      const since = new Date().toISOString();
      await onprem.patch(RESOURCES.rayclusters, 'cached', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 5}], 'json');
      await waitFor('3 remote workers Running in cloud', async () => {
        const remote = (await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=cached,superskyray.io/role=remote-worker'})).items;
        return remote.length === 3 && remote.every((p) => p.status?.phase === 'Running') ? true : undefined;
      }, {giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined)});
      const byCluster = ['onprem', 'cloud'].map((cluster) => ({cluster, requests: toolRequests(auditLog(cluster), since).all}));
      for (const {cluster, requests} of byCluster) {
        const counts = new Map<string, number>();
        for (const r of requests) counts.set(`${r.verb} ${r.uri.split('?')[0]!.replace(/\/namespaces\/[^/]+/, '/namespaces/NS')}`, (counts.get(`${r.verb} ${r.uri.split('?')[0]!.replace(/\/namespaces\/[^/]+/, '/namespaces/NS')}`) ?? 0) + 1);
        console.log(`watch spanning 3 workers, ${cluster}: ${requests.length} requests\n${[...counts].sort().map(([k, n]) => `  ${n} x ${k}`).join('\n')}`);
      }
      const all = byCluster.flatMap((c) => c.requests);
      // Every read came from the cache: no list, and no pod read by name.
      expect(all.filter((r) => r.verb === 'list')).toEqual([]);
      expect(all.filter((r) => r.verb === 'get' && /\/pods\/[^/?]+/.test(r.uri))).toEqual([]);
      // Each worker: its placeholder and its remote worker created once, never twice.
      const creates = all.filter((r) => r.verb === 'create' && /\/pods(\?|$)/.test(r.uri) && !isDryRun(r));
      expect(creates).toHaveLength(6);
    } finally {
      watch.child.kill('SIGTERM');
      await watch.exited;
    }
  });

  it("status reads every node and pod of the fleet only when a worker waits for room", async () => {
    const onprem = fleet.cluster('onprem');
    await deletePlaced(fleet, namespace, 'cached', fleetArgs);
    const podsOf = await placeRunning('looks');
    const roomReads = (since: string) =>
      ['onprem', 'cloud'].map((cluster) =>
        toolRequests(auditLog(cluster), since)
          .all.filter((r) => r.verb === 'list' && /^\/api\/v1\/(nodes|pods)(\?|$)/.test(r.uri))
          .map((r) => `${cluster} ${r.uri.split('?')[0]}`)
          .sort(),
      );
    const status = async () => {
      const result = await cli(['status', 'looks', '-n', namespace, '-o', 'json', ...fleetArgs]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout) as {mode: string; pending: Array<{name: string; spanTo?: string}>};
    };

    let since = new Date().toISOString();
    expect((await status()).pending).toEqual([]);
    expect(roomReads(since)).toEqual([[], []]);

    await onprem.patch(RESOURCES.rayclusters, 'looks', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    await waitFor('a worker Pending, unschedulable', async () => ((await podsOf()).filter(PENDING).length === 1 ? true : undefined));
    since = new Date().toISOString();
    expect((await status()).pending.map((p) => p.spanTo)).toEqual(['cloud']);
    expect(roomReads(since)).toEqual([
      ['onprem /api/v1/nodes', 'onprem /api/v1/pods'],
      ['cloud /api/v1/nodes', 'cloud /api/v1/pods'],
    ]);
  });
});
