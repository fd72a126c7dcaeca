import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {cli} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {tempDir} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';
import {LoadLoop, rayNodes, serveApps, type LoadResult} from '../../support/ray.js';
import {dataPlaneNamespace, lifeOf, realRayFixture} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

type RayService = KubeObject & {status?: {activeServiceStatus?: {rayClusterName?: string}; conditions?: Array<{type: string; status: string}>}};

/**
 * Seed use case 1 on real Ray: the Serve app of rayservice-summarizer.yaml, on onprem with 2
 * workers, under a steady load from a client of onprem's pod network. It spans a third worker (and a
 * third replica) to cloud, and comes back, without one failed request.
 */
describe('seed use case 1 on real Ray: a Serve app grows a third worker in cloud and shrinks back, serving throughout', () => {
  let fleet: Fleet;
  let namespace: string;
  let load: LoadLoop | undefined;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await dataPlaneNamespace(fleet, 'serve');
  });
  afterAll(async () => {
    await load?.stop();
    await removeNamespace(fleet, namespace);
  });

  it('scale --replicas 3 --serve app.Summarizer=3 spans the third worker, which joins the head and serves; scale back to 2 removes it first', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const [configMap, service] = realRayFixture('rayservice-summarizer.yaml');
    await onprem.create(RESOURCES.configmaps, configMap!, {namespace});
    const file = path.join(tempDir(), 'summarizer.yaml');
    fs.writeFileSync(file, yaml.dump(service));
    // As the seed has it: growth past onprem spans to cloud (cloud would fit the whole app, but it stays home).
    const placed = await cli(['place', '-f', file, '-n', namespace, '--mesh', 'endpoints', '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.stderr).toBe('');
    expect(placed.code, placed.stdout).toBe(0);

    // KubeRay deploys the app through the head's dashboard, and promotes the cluster once Serve runs it.
    const gcs = `summarizer-head-svc.${namespace}.svc.cluster.local:6379`;
    const dashboard = `summarizer-head-svc.${namespace}.svc.cluster.local:8265`;
    const replicasOn = async () => (await serveApps('onprem', dashboard)).app?.deployments.Summarizer?.replicas.filter((r) => r.state === 'RUNNING') ?? [];
    await waitFor('the RayService to be ready with 2 Serve replicas running', async () => {
      const svc = await onprem.get<RayService>(RESOURCES.rayservices, 'summarizer', namespace);
      const ready = svc.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready && (await replicasOn().catch(() => [])).length === 2 ? true : undefined;
    }, {timeoutMs: 240_000, intervalMs: 2000});

    const url = `http://summarizer-serve-svc.${namespace}.svc.cluster.local:8000/`;
    load = await LoadLoop.start('onprem', url, 8);
    await waitFor('the load loop to be answered', () => (load!.results().filter((r) => r.status === 200).length >= 10 ? true : undefined), {timeoutMs: 60_000, intervalMs: 500});
    const before = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/is-ray-node=yes'})).items;
    expect(before).toHaveLength(3);

    const scaleStarted = Date.now();
    const grown = await cli(['scale', 'rayservice/summarizer', '--replicas', '3', '--serve', 'app.Summarizer=3', '-n', namespace, ...fleetArgs]);
    expect(grown.stderr).toBe('');
    expect(grown.code, grown.stdout).toBe(0);
    expect(grown.stdout).toContain('cloud');

    const remote = await waitFor('the remote worker running in cloud', async () => {
      const pods = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/is-ray-node=yes'})).items;
      return pods.length === 1 && pods[0]!.status?.podIP ? pods[0]! : undefined;
    }, {timeoutMs: 60_000});
    // The Ray node table, from the head's GCS: the remote worker has joined, as the pod it is.
    const node = await waitFor('the remote worker ALIVE in the head\'s node table', async () => {
      const nodes = await rayNodes('onprem', gcs);
      return nodes.find((n) => n.state === 'ALIVE' && n.instanceId === remote.metadata?.name);
    }, {timeoutMs: 180_000, intervalMs: 1000});
    const aliveAfterMs = Date.now() - scaleStarted;
    expect(node.ip).toBe(remote.status?.podIP);
    const onRemote = await waitFor('a Serve replica RUNNING on the remote worker', async () => {
      const running = await replicasOn();
      return running.length === 3 && running.some((r) => r.nodeId === node.nodeId) ? running : undefined;
    }, {timeoutMs: 180_000, intervalMs: 1000});
    expect(onRemote.filter((r) => r.nodeId === node.nodeId)).toHaveLength(1);
    // It serves the load: a request answered by the replica in cloud.
    await waitFor('a request answered by the remote worker', () => (load!.results().some((r) => bodyOf(r)?.pod === remote.metadata?.name) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    process.stdout.write(`use case 1: scale to the remote node ALIVE in ${aliveAfterMs} ms\n`);

    const shrunk = await cli(['scale', 'rayservice/summarizer', '--replicas', '2', '--serve', 'app.Summarizer=2', '-n', namespace, '--wait', ...fleetArgs]);
    expect(shrunk.stderr.split('\n').filter((l) => /error|warn/i.test(l))).toEqual([]);
    expect(shrunk.code, shrunk.stdout).toBe(0);
    await waitFor('the remote worker gone from cloud, and its node dead', async () => {
      const pods = (await cloud.list<Pod>(RESOURCES.pods, {namespace})).items;
      const nodes = await rayNodes('onprem', gcs);
      return pods.length === 0 && nodes.find((n) => n.nodeId === node.nodeId)?.state === 'DEAD' ? true : undefined;
    }, {timeoutMs: 120_000, intervalMs: 1000});
    await waitFor('2 Serve replicas running, all at home', async () => {
      const running = await replicasOn();
      return running.length === 2 && !running.some((r) => r.nodeId === node.nodeId) ? true : undefined;
    }, {timeoutMs: 120_000, intervalMs: 1000});
    // A few more seconds of load on the collapsed app.
    const served = load.results().length;
    await waitFor('20 more requests', () => (load!.results().length >= served + 20 ? true : undefined), {timeoutMs: 60_000, intervalMs: 500});
    const results = await load.stop();
    load = undefined;

    const failed = results.filter((r) => r.status !== 200);
    expect(failed, 'requests that failed').toEqual([]);
    const seconds = (results.at(-1)!.at - results[0]!.at) || 1;
    expect(results.length / seconds, 'requests per second').toBeGreaterThanOrEqual(5);
    for (const r of results) expect(bodyOf(r)).toMatchObject({summary: `request ${r.n} of the`, words: 6});

    // No pod that ran before was replaced or restarted, and the app ends on one cluster.
    const after = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/is-ray-node=yes'})).items;
    expect(lifeOf(after)).toEqual(lifeOf(before));
    expect((await cloud.list<Pod>(RESOURCES.pods, {namespace})).items).toEqual([]);
    process.stdout.write(`use case 1: ${results.length} requests in ${seconds.toFixed(1)} s, ${failed.length} failed\n`);
  }, 900_000);
});

function bodyOf(result: LoadResult): {summary?: string; words?: number; pod?: string} | undefined {
  try {
    return result.body ? (JSON.parse(result.body) as {summary?: string; words?: number; pod?: string}) : undefined;
  } catch {
    return undefined;
  }
}
