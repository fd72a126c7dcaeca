import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {podSandboxes} from '../../env/testenv.js';
import {cli} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {tempDir} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';
import {aliveNodes, probe} from '../../support/ray.js';
import {dataPlaneNamespace, realRayFixture} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
const PY = new URL('./py/', import.meta.url).pathname;

type RayCluster = KubeObject & {
  spec: {
    autoscalerOptions: Record<string, unknown>;
    headGroupSpec: {template: {spec: {containers: Array<{env?: Array<{name: string; value: string}>}>}}};
    workerGroupSpecs: Array<{replicas: number}>;
  };
};

/**
 * The GPU app of use case 2 on the Ray autoscaler v1. On KubeRay v1.5, `autoscalerOptions.version:
 * v1` alone still gives Ray 2.60's default, v2 (KubeRay passes nothing for v1), and KubeRay refuses
 * a spec that sets the version beside the head's RAY_enable_autoscaler_v2; so v1 is forced the one
 * way v1.5 allows, the head's RAY_enable_autoscaler_v2=0 with no version.
 *
 * What v1 does to a spanned worker, seen here before the tool refused it: v1 matches Ray nodes to
 * pods by pod IP; the remote worker's IP is not its placeholder's, so v1 drops the remote node's
 * load as stale ("LoadMetrics: Removed 1 stale ip mappings"), counts the placeholder as a node that
 * never registers, and never scales it in: after the demand went, the home GPU worker was removed and
 * the remote one stayed, holding a GPU in cloud. So the tool refuses to span a v1 group.
 */
describe('the Ray autoscaler v1 on real Ray: a group on v1 is never spanned', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await dataPlaneNamespace(fleet, 'autoscale-v1');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('span refuses with exit 2 before any write, naming why the group is on v1 and the fix; watch leaves the worker Pending and says why', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const [app] = realRayFixture('raycluster-gpu-autoscaled.yaml') as RayCluster[];
    delete app!.spec.autoscalerOptions.version;
    app!.spec.headGroupSpec.template.spec.containers[0]!.env = [{name: 'RAY_enable_autoscaler_v2', value: '0'}];
    const file = path.join(tempDir(), 'auto-v1.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    const gcs = `auto-head-svc.${namespace}.svc.cluster.local:6379`;
    const dashboard = `auto-head-svc.${namespace}.svc.cluster.local:8265`;
    await aliveNodes('onprem', gcs, 1);
    // The autoscaler sidecar really is v1: its log (the pod's container log on this machine) is
    // that of ray/autoscaler/_private/monitor.py.
    const autoscalerLog = () => {
      const head = podSandboxes().find((s) => s.pod.startsWith(`${namespace}_auto-head-`));
      return head ? fs.readFileSync(path.join(head.dir, 'logs', 'autoscaler.log'), 'utf8') : '';
    };
    await waitFor('the v1 autoscaler started', () => (autoscalerLog().includes('Monitor: Started') ? true : undefined), {timeoutMs: 120_000, intervalMs: 1000});

    // Demand for 2 GPU workers: v1 raises the group to 2; onprem has one GPU, so one waits.
    // The head's dashboard answers some seconds after its GCS: submit once it takes the job.
    const {id} = await waitFor('the head\'s dashboard to take the job', () => probe<{id: string}>('onprem', 'job.py', ['submit', dashboard, 'python gpu_demand.py', PY]), {timeoutMs: 120_000, intervalMs: 2000});
    const pending = await waitFor('a GPU worker Pending at home, the autoscaler having asked for 2', async () => {
      const cluster = await onprem.get<RayCluster>(RESOURCES.rayclusters, 'auto', namespace);
      const pods = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/group=gpu'})).items;
      const waiting = pods.find((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
      return cluster.spec.workerGroupSpecs[0]!.replicas === 2 && waiting ? waiting : undefined;
    }, {timeoutMs: 180_000, intervalMs: 2000});

    const span = await cli(['span', 'raycluster/auto', '-n', namespace, ...fleetArgs]);
    expect(span.code).toBe(2);
    // One line: the object, its context, why it is v1, and the fix.
    expect(span.stderr.trim().split('\n')).toEqual([
      'error: raycluster/auto in context "onprem" runs the Ray autoscaler v1 (the head sets RAY_enable_autoscaler_v2=0), which matches Ray nodes to pods by IP: it would never scale in a worker spanned to another cluster; set autoscalerOptions.version: v2 (Ray 2.10 or newer) and no RAY_enable_autoscaler_v2 on the head, or turn off in-tree autoscaling',
    ]);

    const once = await cli(['watch', '--once', 'auto', '-n', namespace, ...fleetArgs]);
    expect(once.stdout).toContain(`warning: ${pending.metadata?.name} not spanned: raycluster/auto in context "onprem" runs the Ray autoscaler v1`);
    // Nothing was written anywhere: no remote worker, no copy, and the worker still waits at home.
    expect((await cloud.list(RESOURCES.pods, {namespace})).items).toEqual([]);
    expect((await cloud.list(RESOURCES.services, {namespace})).items).toEqual([]);
    const still = await onprem.get<Pod>(RESOURCES.pods, pending.metadata!.name!, namespace);
    expect(still.metadata?.uid).toBe(pending.metadata?.uid);
    expect(still.metadata?.labels?.['superskyray.io/role']).toBeUndefined();
    await probe('onprem', 'job.py', ['stop', dashboard, id]);
  }, 600_000);
});
