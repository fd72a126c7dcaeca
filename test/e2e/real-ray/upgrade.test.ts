import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {cli, startWatch} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {tempDir} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';
import {LoadLoop, serveApps} from '../../support/ray.js';
import {dataPlaneNamespace, rayTrail, realRayFixture} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

type RayService = KubeObject & {
  spec: {
    serveConfigV2: string;
    rayClusterDeletionDelaySeconds?: number;
    rayClusterConfig: {headGroupSpec: {template: {spec: {containers: Array<{resources: unknown}>}}}; workerGroupSpecs: Array<{replicas?: number; template: {spec: {containers: Array<{resources?: unknown; env?: Array<{name: string; value: string}>}>}}}>};
  };
  status?: {activeServiceStatus?: {rayClusterName?: string}; pendingServiceStatus?: {rayClusterName?: string}; conditions?: Array<{type: string; status: string}>};
};

/**
 * A RayService upgrade while spanned, on real Ray: the app of rayservice-summarizer.yaml on onprem,
 * with workers of 4 CPUs so that one runs at home and the second is spanned to cloud, under load. A
 * change to rayClusterConfig makes KubeRay bring up a second RayCluster at the app's full size, when
 * onprem has room only for its head: watch spans both its workers to cloud, KubeRay switches
 * traffic to it once Serve runs there, and deletes the old one, whose remote worker and copies then
 * go. Not one request fails. Two workers, not three: each Ray node costs seconds of the machine's
 * two cores, twice per mode.
 */
describe.each(['endpoints', 'cilium'])('a RayService upgrade while spanned, --mesh %s, on real Ray', (mesh) => {
  let fleet: Fleet;
  let namespace: string;
  let load: LoadLoop | undefined;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await dataPlaneNamespace(fleet, `upgrade-${mesh}`);
  });
  afterAll(async () => {
    await load?.stop();
    await removeNamespace(fleet, namespace);
  });

  it('brings the new RayCluster up spanned, switches to it with 0 failed requests, and leaves nothing of the old one', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const [configMap, fixture] = realRayFixture('rayservice-summarizer.yaml');
    const service = fixture as RayService;
    const cluster = service.spec.rayClusterConfig;
    // Half a CPU for the head and 4 for a worker: onprem (8 CPUs) holds one worker beside the head,
    // and during the upgrade only the second head.
    cluster.headGroupSpec.template.spec.containers[0]!.resources = {requests: {cpu: '500m', memory: '2Gi'}, limits: {cpu: '500m', memory: '2Gi'}};
    Object.assign(cluster.workerGroupSpecs[0]!, {replicas: 1});
    cluster.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '4', memory: '2Gi'}, limits: {cpu: '4', memory: '2Gi'}};
    service.spec.serveConfigV2 = service.spec.serveConfigV2.replace('num_replicas: 2', 'num_replicas: 1');
    // KubeRay keeps the old cluster 60 s after the switch by default.
    service.spec.rayClusterDeletionDelaySeconds = 5;
    await onprem.create(RESOURCES.configmaps, configMap!, {namespace});
    const file = path.join(tempDir(), `summarizer-${mesh}.yaml`);
    fs.writeFileSync(file, yaml.dump(service));
    const started = Date.now();
    const phases: string[] = [];
    const phase = (what: string) => phases.push(`${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const placed = await cli(['place', '-f', file, '-n', namespace, '--mesh', mesh, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);

    // KubeRay v1.5 requeues a RayService whose reconcile failed with controller-runtime's per-object
    // exponential backoff (up to 1000 s), and each failed look at a starting head's dashboard doubles
    // it: on two busy cores the next look was once 4 minutes away, with nothing to wake it sooner (its
    // RayClusters' status had stopped changing). A changed annotation wakes it at once (its watch
    // predicates), as a user's kubectl annotate would; the waits below do that every 15 s.
    let nudged = Date.now();
    const nudge = async () => {
      if (Date.now() - nudged < 15_000) return;
      nudged = Date.now();
      await onprem.patch(RESOURCES.rayservices, 'summarizer', namespace, {metadata: {annotations: {'e2e.superskyray.io/nudge': String(nudged)}}}, 'merge');
    };
    const dashboardOf = (rayCluster: string) => `${rayCluster}-head-svc.${namespace}.svc.cluster.local:8265`;
    const running = async (rayCluster: string) => (await serveApps('onprem', dashboardOf(rayCluster)).catch(() => undefined))?.app?.deployments.Summarizer?.replicas.filter((r) => r.state === 'RUNNING') ?? [];
    const svcNow = () => onprem.get<RayService>(RESOURCES.rayservices, 'summarizer', namespace);
    const remoteOf = async (uid: string) => (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `superskyray.io/raycluster-uid=${uid}`})).items;

    // As the seed has it: growth past onprem spans to cloud. Scaled at once, before Serve is up (and
    // before KubeRay has made the RayCluster it names, which scale waits for), so that Ray starts once.
    const grown = await cli(['scale', 'rayservice/summarizer', '--replicas', '2', '--serve', 'app.Summarizer=2', '--wait', '-n', namespace, ...fleetArgs]);
    expect(grown.code, grown.stderr).toBe(0);
    const first = await waitFor('the RayService ready with 2 Serve replicas', async () => {
      await nudge();
      const svc = await svcNow();
      const name = svc.status?.activeServiceStatus?.rayClusterName;
      return name && svc.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && (await running(name)).length === 2 ? name : undefined;
    }, {timeoutMs: 300_000, intervalMs: 2000});
    const firstUid = (await onprem.get<KubeObject>(RESOURCES.rayclusters, first, namespace)).metadata?.uid ?? '';
    expect(await remoteOf(firstUid)).toHaveLength(1);
    phase('spanned: 2 Serve replicas, one in cloud');

    load = await LoadLoop.start('onprem', `http://summarizer-serve-svc.${namespace}.svc.cluster.local:8000/`, 8);
    await waitFor('the load loop answered', () => (load!.results().filter((r) => r.status === 200).length >= 10 ? true : undefined), {timeoutMs: 60_000, intervalMs: 500});

    const watch = startWatch(['-n', namespace, ...fleetArgs]);
    const giveUp = () => (watch.child.exitCode !== null || watch.child.signalCode !== null ? `watch exited (${watch.child.signalCode ?? `code ${watch.child.exitCode}`})` : undefined);
    try {
      // The upgrade: a worker env var, which KubeRay can only roll out on a new RayCluster.
      const svc = await svcNow();
      const workers = svc.spec.rayClusterConfig.workerGroupSpecs.map((g) => {
        const container = g.template.spec.containers[0]!;
        container.env = [...(container.env ?? []), {name: 'UPGRADED', value: '1'}];
        return g;
      });
      await onprem.patch(RESOURCES.rayservices, 'summarizer', namespace, {spec: {rayClusterConfig: {workerGroupSpecs: workers}}}, 'merge');
      const second = await waitFor('KubeRay\'s pending RayCluster', async () => {
        const name = (await svcNow()).status?.pendingServiceStatus?.rayClusterName;
        return name && name !== first ? name : undefined;
      }, {giveUp, timeoutMs: 60_000});
      const secondUid = await waitFor('it to exist', async () => (await onprem.find<KubeObject>(RESOURCES.rayclusters, second, namespace))?.metadata?.uid, {giveUp});
      phase('the upgrade\'s RayCluster made');

      await waitFor('its 2 workers spanned to cloud and Running', async () => {
        const pods = await remoteOf(secondUid);
        return pods.filter((p) => p.status?.phase === 'Running').length === 2 ? true : undefined;
      }, {giveUp, timeoutMs: 240_000, intervalMs: 1000});
      phase('its 2 workers Running in cloud');
      for (const p of await remoteOf(secondUid)) expect(p.spec?.containers[0]?.env).toEqual(expect.arrayContaining([{name: 'UPGRADED', value: '1'}]));
      // status shows both clusters during the switch.
      const both = await cli(['status', 'rayservice/summarizer', '-n', namespace, ...fleetArgs]);
      expect(both.stdout).toMatch(new RegExp(`also RayCluster (${first}|${second}), the other of the two a RayService switches between`));
      await waitFor('KubeRay to switch traffic to it', async () => {
        await nudge();
        return (await svcNow()).status?.activeServiceStatus?.rayClusterName === second ? true : undefined;
      }, {giveUp, timeoutMs: 360_000, intervalMs: 2000});
      phase('KubeRay switched to it');
      await waitFor('KubeRay to delete the old RayCluster', async () => ((await onprem.find(RESOURCES.rayclusters, first, namespace)) ? undefined : true), {giveUp, timeoutMs: 120_000, intervalMs: 1000});
      await waitFor('nothing of the old RayCluster left in cloud', async () => {
        const left = [
          ...(await remoteOf(firstUid)).map((p) => `pod/${p.metadata?.name}`),
          ...((await cloud.find(RESOURCES.services, `${first}-head-svc`, namespace)) ? [`service/${first}-head-svc`] : []),
          ...((await cloud.find(RESOURCES.endpointslices, `${first}-head-svc-superskyray`, namespace)) ? [`endpointslice/${first}-head-svc-superskyray`] : []),
        ];
        if (left.length > 0) throw new Error(`left: ${left.join(', ')}`);
        return true;
      }, {giveUp, timeoutMs: 90_000, intervalMs: 1000});
      await waitFor('nothing of the old RayCluster left at home', async () => {
        const left = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${first}`})).items.map((p) => `pod/${p.metadata?.name}`);
        if (left.length > 0) throw new Error(`left: ${left.join(', ')}`);
        return true;
      }, {giveUp, timeoutMs: 90_000, intervalMs: 1000});
      phase('nothing of the old RayCluster left');

      // Serve answers from the new cluster, and then a few seconds more.
      const newPods = new Set([...(await remoteOf(secondUid)), ...(await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${second}`})).items].map((p) => p.metadata?.name));
      await waitFor('a request answered by the new RayCluster', () => (load!.results().some((r) => newPods.has(bodyOf(r.body)?.pod)) ? true : undefined), {timeoutMs: 60_000, intervalMs: 500});
      const served = load.results().length;
      await waitFor('20 more requests', () => (load!.results().length >= served + 20 ? true : undefined), {timeoutMs: 60_000, intervalMs: 500});
    } catch (err) {
      // What watch printed to its end, when it has ended: it may say why.
      if (giveUp()) await watch.exited;
      throw new Error(`${(err as Error).message}\nwatch printed:\n${watch.lines.join('\n')}\nwhat Ray did:\n${rayTrail(namespace)}`);
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
    const results = await load.stop();
    load = undefined;
    const failed = results.filter((r) => r.status !== 200);
    const seconds = (results.at(-1)!.at - results[0]!.at) || 1;
    process.stdout.write(`--mesh ${mesh} upgrade: ${phases.join('; ')}; ${results.length} requests in ${seconds.toFixed(1)} s, ${failed.length} failed\n`);
    expect(failed, 'requests that failed').toEqual([]);
  }, 1_200_000);
});

function bodyOf(body: string | undefined): {pod?: string} | undefined {
  try {
    return body ? (JSON.parse(body) as {pod?: string}) : undefined;
  } catch {
    return undefined;
  }
}
