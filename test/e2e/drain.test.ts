import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli, run, startWatch} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
/** A second home node, first in name order, so that the placeholder is bound there; KWOK runs it. */
const SPARE = 'onprem-drain-0';
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<Record<string, unknown> & {template: {spec: {containers: Array<{resources: unknown}>}}}>}};

const ready = (p: Pod | undefined) => p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describe('kubectl drain of the home node that holds a placeholder', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'drain');
  });
  afterAll(async () => {
    await fleet.cluster('onprem').delete(RESOURCES.nodes, SPARE).catch(() => undefined);
    await removeNamespace(fleet, namespace);
  });

  it('leaves the remote worker as it is: KubeRay\'s replacement becomes its placeholder again, on another node, within 30 s', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    // A GPU group: onprem's one GPU takes one worker, so the second one waits, and so does any
    // replacement of its placeholder.
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'drained';
    Object.assign(app.spec.workerGroupSpecs[0]!, {groupName: 'gpu', replicas: 1, minReplicas: 0, maxReplicas: 2});
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};
    const file = path.join(tempDir(), 'drained.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=drained'})).items;
    await waitFor('head and 1 worker Running on onprem', async () => {
      const pods = await podsOf();
      return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running') ? true : undefined;
    });
    await onprem.create(RESOURCES.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {name: SPARE, annotations: {'kwok.x-k8s.io/node': 'fake'}, labels: {'kubernetes.io/hostname': SPARE, type: 'kwok'}},
      status: {allocatable: {cpu: '1', memory: '1Gi', pods: '10'}, capacity: {cpu: '1', memory: '1Gi', pods: '10'}},
    });
    await waitFor('the spare node Ready', async () => {
      const node = await onprem.get<KubeObject & {status?: {conditions?: Array<{type: string; status: string}>}}>(RESOURCES.nodes, SPARE);
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });
    await onprem.patch(RESOURCES.rayclusters, 'drained', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 2}], 'json');
    await waitFor('the second worker Pending', async () => ((await podsOf()).some((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable')) ? true : undefined));
    const spanned = await cli(['span', 'drained', '-n', namespace, '--wait', ...fleetArgs]);
    expect(spanned.stderr).toBe('');
    expect(spanned.code).toBe(0);
    const placeholder = (await podsOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder')!;
    expect(placeholder.spec?.nodeName).toBe(SPARE);
    const remote = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
    expect(ready(remote)).toBe(true);

    const watch = startWatch(['-n', namespace, ...fleetArgs]);
    try {
      await waitFor('watch watching', () => (watch.lines.some((l) => l.includes('watching 1 group(s)')) ? true : undefined));
      const drained = await run('kubectl', ['--kubeconfig', kubeconfig, '--context', 'onprem', 'drain', SPARE, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=60s']);
      expect(drained.code, drained.stderr).toBe(0);
      expect(drained.stdout).toContain(`evicting pod ${namespace}/${placeholder.metadata?.name}`);
      const started = Date.now();
      // Consistent again: a placeholder of the same name, a new pod on the other node, Ready; the
      // remote worker the same pod throughout; nothing left in a swap; KubeRay counting 2 ready workers.
      const back = await waitFor('the placeholder back, on the other node, Ready', async () => {
        const pods = await podsOf();
        const p = pods.find((x) => x.metadata?.name === placeholder.metadata?.name && !x.metadata?.deletionTimestamp);
        const swapping = pods.some((x) => x.metadata?.finalizers?.includes('superskyray.io/swap'));
        return p && p.metadata?.uid !== placeholder.metadata?.uid && ready(p) && !swapping ? p : undefined;
      }, {timeoutMs: 30_000});
      console.log(`drain: the placeholder of ${placeholder.metadata?.name} was back and Ready ${Date.now() - started} ms after kubectl drain returned`);
      expect(back.spec?.nodeName).toBe('onprem-node-0');
      const after = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
      expect(after.metadata?.uid).toBe(remote.metadata?.uid);
      expect(after.metadata?.deletionTimestamp).toBeUndefined();
      await waitFor('KubeRay to count 2 ready workers', async () => {
        const rc = await onprem.get<KubeObject & {status?: {readyWorkerReplicas?: number}}>(RESOURCES.rayclusters, 'drained', namespace);
        return rc.status?.readyWorkerReplicas === 2 ? true : undefined;
      });
      const workers = (await podsOf()).filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata.deletionTimestamp);
      expect(workers).toHaveLength(2);
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
  });
});
