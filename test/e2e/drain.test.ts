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
  /** The next case starts from an empty fleet: its pods gone from both clusters. */
  async function remove(name: string) {
    expect((await cli(['delete', `raycluster/${name}`, '-n', namespace, ...fleetArgs])).code).toBe(0);
    await waitFor(`${name}'s pods gone`, async () => {
      const left = await Promise.all(fleet.clusters.map((c) => c.list<Pod>(RESOURCES.pods, {namespace})));
      return left.every((l) => l.items.length === 0) ? true : undefined;
    }, {timeoutMs: 60_000});
  }

  it.each([
    {mode: 'without autoscaling', name: 'drained', autoscaling: false},
    {mode: 'with in-tree autoscaling', name: 'drainauto', autoscaling: true},
  ])('$mode: the remote worker is left as it is, and the group is consistent within 30 s', async ({name, autoscaling}) => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    // A GPU group: onprem's one GPU takes one worker, so the second one waits, and so does any
    // replacement of its placeholder.
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = name;
    if (autoscaling) Object.assign(app.spec, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}});
    Object.assign(app.spec.workerGroupSpecs[0]!, {groupName: 'gpu', replicas: 1, minReplicas: 0, maxReplicas: 2});
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};
    const file = path.join(tempDir(), `${name}.yaml`);
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})).items;
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
    try {
      await waitFor('the spare node Ready', async () => {
        const node = await onprem.get<KubeObject & {status?: {conditions?: Array<{type: string; status: string}>}}>(RESOURCES.nodes, SPARE);
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      });
      // The test plays the Ray autoscaler (or scale): 2 workers.
      await onprem.patch(RESOURCES.rayclusters, name, namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 2}], 'json');
      await waitFor('the second worker Pending', async () => ((await podsOf()).some((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable')) ? true : undefined));
      const spanned = await cli(['span', name, '-n', namespace, '--wait', ...fleetArgs]);
      expect(spanned.stderr).toBe('');
      expect(spanned.code).toBe(0);
      const placeholder = (await podsOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder')!;
      expect(placeholder.spec?.nodeName).toBe(SPARE);
      const remote = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
      expect(ready(remote)).toBe(true);
      // With the Ray autoscaler, a budget refuses every eviction of a placeholder; without it, none is made.
      const budget = await onprem.find<KubeObject & {spec?: unknown}>(RESOURCES.poddisruptionbudgets, `${name}-placeholders`, namespace);
      if (autoscaling) expect(budget?.spec).toEqual({maxUnavailable: 0, selector: {matchLabels: {'ray.io/cluster': name, 'superskyray.io/role': 'placeholder'}}});
      else expect(budget).toBeUndefined();

      const watch = startWatch(['-n', namespace, ...fleetArgs]);
      try {
        await waitFor('watch watching', () => (watch.lines.some((l) => l.includes('watching')) ? true : undefined));
        const started = Date.now();
        const drained = await run('kubectl', ['--kubeconfig', kubeconfig, '--context', 'onprem', 'drain', SPARE, '--ignore-daemonsets', '--delete-emptydir-data', `--timeout=${autoscaling ? 20 : 60}s`]);
        expect(drained.stdout + drained.stderr).toContain(`evicting pod ${namespace}/${placeholder.metadata?.name}`);
        if (autoscaling) {
          // Autoscaler v2 would never match a new pod of the same name to the running Ray node: the
          // placeholder stays, the drain waits for the autoscaler to scale the worker in, and says why.
          expect(drained.code).not.toBe(0);
          expect(drained.stderr).toContain("Cannot evict pod as it would violate the pod's disruption budget");
          const still = await onprem.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
          expect(still.metadata?.uid).toBe(placeholder.metadata?.uid);
          expect(still.metadata?.deletionTimestamp).toBeUndefined();
          const status = await cli(['status', name, '-n', namespace, ...fleetArgs]);
          expect(status.stderr).toContain(`placeholder ${placeholder.metadata?.name} is on cordoned node ${SPARE}`);
        } else {
          // The drain evicts the placeholder; KubeRay's replacement becomes it again, same name, on
          // the other node, Ready; the remote worker the same pod throughout.
          expect(drained.code, drained.stderr).toBe(0);
          const back = await waitFor('the placeholder back, on the other node, Ready', async () => {
            const pods = await podsOf();
            const p = pods.find((x) => x.metadata?.name === placeholder.metadata?.name && !x.metadata?.deletionTimestamp);
            const swapping = pods.some((x) => x.metadata?.finalizers?.includes('superskyray.io/swap'));
            return p && p.metadata?.uid !== placeholder.metadata?.uid && ready(p) && !swapping ? p : undefined;
          }, {timeoutMs: 30_000});
          console.log(`drain: the placeholder of ${placeholder.metadata?.name} was back and Ready on the other node ${Date.now() - started} ms after kubectl drain started`);
          expect(back.spec?.nodeName).toBe('onprem-node-0');
        }
        const after = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
        expect(after.metadata?.uid).toBe(remote.metadata?.uid);
        expect(after.metadata?.deletionTimestamp).toBeUndefined();
        await waitFor('KubeRay to count 2 ready workers', async () => {
          const rc = await onprem.get<KubeObject & {status?: {readyWorkerReplicas?: number}}>(RESOURCES.rayclusters, name, namespace);
          return rc.status?.readyWorkerReplicas === 2 ? true : undefined;
        }, {timeoutMs: 30_000});
        const workers = (await podsOf()).filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata.deletionTimestamp);
        expect(workers).toHaveLength(2);
      } finally {
        watch.child.kill('SIGTERM');
      }
      expect(await watch.exited).toBe(0);
    } finally {
      await onprem.delete(RESOURCES.nodes, SPARE).catch(() => undefined);
      await waitFor('the spare node gone', async () => ((await onprem.find(RESOURCES.nodes, SPARE)) ? undefined : true));
      await remove(name);
    }
  });
});
