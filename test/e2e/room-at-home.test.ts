import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<Record<string, unknown> & {template: {spec: {containers: Array<{resources: unknown}>}}}>}};

/**
 * Requirement 3 of the span: a remote worker comes home only by a deliberate removal, never because
 * room frees at home. onprem's one GPU is taken by a pod of someone else's, so the group's only
 * worker is spanned; then that pod goes, and passes of the tool follow.
 */
describe('room that frees at home after a span', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'roomhome');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it.each([
    {mode: 'without autoscaling', name: 'stays', autoscaling: false},
    {mode: 'with in-tree autoscaling', name: 'staysauto', autoscaling: true},
  ])('$mode: brings nothing home; the remote worker and its placeholder stay as they are', async ({name, autoscaling}) => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const gpu = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};

    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = name;
    if (autoscaling) Object.assign(app.spec, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}});
    Object.assign(app.spec.workerGroupSpecs[0]!, {groupName: 'gpu', replicas: 0, minReplicas: 0, maxReplicas: 2});
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = gpu;
    const file = path.join(tempDir(), `${name}.yaml`);
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})).items;
    // Placed at home with no worker yet; then someone else's pod takes the GPU, and the group (the
    // test plays the autoscaler, or scale) wants one worker.
    await onprem.create(RESOURCES.pods, {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'gpu-hog', namespace}, spec: {containers: [{name: 'hog', image: 'busybox', resources: gpu}]}});
    await waitFor('the other pod Running on the GPU', async () => ((await onprem.get<Pod>(RESOURCES.pods, 'gpu-hog', namespace)).status?.phase === 'Running' ? true : undefined));
    await onprem.patch(RESOURCES.rayclusters, name, namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 1}], 'json');
    await waitFor('the worker Pending: the GPU is taken', async () => ((await podsOf()).some((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable')) ? true : undefined));
    const spanned = await cli(['span', name, '-n', namespace, '--wait', ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    const placeholder = (await podsOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder')!;
    const remote = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata!.name!, namespace);

    // The GPU frees at home, and the tool looks again: twice, with a watch pass between.
    await onprem.delete(RESOURCES.pods, 'gpu-hog', namespace);
    await waitFor('the other pod gone', async () => ((await onprem.find(RESOURCES.pods, 'gpu-hog', namespace)) ? undefined : true));
    expect((await cli(['watch', name, '--once', '-n', namespace, ...fleetArgs])).code).toBe(0);
    const again = await cli(['span', name, '-n', namespace, ...fleetArgs]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/^delete/m);

    const home = await podsOf();
    const workers = home.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata.deletionTimestamp);
    expect(workers.map((p) => [p.metadata?.name, p.metadata?.uid])).toEqual([[placeholder.metadata?.name, placeholder.metadata?.uid]]);
    const after = await cloud.get<Pod>(RESOURCES.pods, remote.metadata!.name!, namespace);
    expect(after.metadata?.uid).toBe(remote.metadata?.uid);
    expect(after.metadata?.deletionTimestamp).toBeUndefined();
    const rc = await onprem.get<KubeObject & {spec: {workerGroupSpecs: Array<{replicas: number; scaleStrategy?: {workersToDelete?: string[]}}>}}>(RESOURCES.rayclusters, name, namespace);
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(1);
    expect(rc.spec.workerGroupSpecs[0]!.scaleStrategy?.workersToDelete ?? []).toEqual([]);

    expect((await cli(['delete', `raycluster/${name}`, '-n', namespace, ...fleetArgs])).code).toBe(0);
    await waitFor(`${name}'s pods gone from both clusters`, async () => {
      const left = await Promise.all([onprem, cloud].map((c) => c.list<Pod>(RESOURCES.pods, {namespace})));
      return left.every((l) => l.items.length === 0) ? true : undefined;
    }, {timeoutMs: 60_000});
  });
});
