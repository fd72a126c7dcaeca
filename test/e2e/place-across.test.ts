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
type RayClusterStatus = {status?: {state?: string; readyWorkerReplicas?: number; conditions?: Array<{type: string; status: string}>}};

const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describe('place of an app that fits no single cluster', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'across');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it.each([
    {mode: 'without autoscaling', name: 'wide', autoscaling: false},
    {mode: 'with in-tree autoscaling', name: 'wideauto', autoscaling: true},
  ])('$mode: applies the placement across clusters it prints, and with --wait returns once every worker runs and the RayCluster is ready', async ({name, autoscaling}) => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    // 6 workers of 3 CPUs: cloud (two nodes of 8) takes the head and 4, onprem (one of 8) the other
    // 2; neither takes all of it.
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = name;
    if (autoscaling) Object.assign(app.spec, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}});
    Object.assign(app.spec.workerGroupSpecs[0]!, {replicas: 6, maxReplicas: 6});
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
    const file = path.join(tempDir(), `${name}.yaml`);
    fs.writeFileSync(file, yaml.dump(app));

    const planned = await cli(['place', '-f', file, '-n', namespace, '--dry-run', ...fleetArgs]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(new RegExp(`^raycluster/${name} would be placed on cloud `, 'm'));
    expect(planned.stdout).toContain('cloud is home: it takes the head and 4 worker(s)');
    expect(planned.stdout).toContain('onprem: room for 2 workers of group cpu');

    const placed = await cli(['place', '-f', file, '-n', namespace, '--wait', ...fleetArgs]);
    expect(placed.stderr).toBe('');
    expect(placed.code).toBe(0);
    expect(placed.stdout).toMatch(new RegExp(`^raycluster/${name} placed on cloud `, 'm'));
    expect(placed.stdout).toMatch(/^2 worker\(s\) spanned from cloud$/m);
    expect(placed.stdout.match(new RegExp(`^${name}-cpu-worker-\\S+\\s+cpu\\s+${name}-cpu-worker-\\S+\\s+onprem$`, 'gm'))).toHaveLength(2);

    // What it printed is what runs: the head and 4 workers at home in cloud, 2 remote workers in
    // onprem, each with its placeholder at home, all Running and Ready.
    const home = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})).items;
    const role = (p: Pod) => p.metadata?.labels?.['superskyray.io/role'];
    const local = home.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !role(p));
    const placeholders = home.filter((p) => role(p) === 'placeholder');
    expect(local).toHaveLength(4);
    expect(placeholders).toHaveLength(2);
    expect(home.every((p) => p.status?.phase === 'Running' && ready(p) && !p.metadata?.deletionTimestamp)).toBe(true);
    const remote = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `superskyray.io/group=${name}`})).items;
    expect(remote.map((p) => p.metadata?.name).sort()).toEqual(placeholders.map((p) => p.metadata?.name).sort());
    expect(remote.every((p) => p.status?.phase === 'Running' && ready(p))).toBe(true);
    const rc = await cloud.get<KubeObject & RayClusterStatus>(RESOURCES.rayclusters, name, namespace);
    expect(rc.status?.readyWorkerReplicas).toBe(6);
    expect(rc.status?.state).toBe('ready');
    expect(rc.status?.conditions).toEqual(expect.arrayContaining([expect.objectContaining({type: 'RayClusterProvisioned', status: 'True'})]));
    // Only the autoscaled group's placeholders are kept from eviction.
    expect((await cloud.find(RESOURCES.poddisruptionbudgets, `${name}-placeholders`, namespace)) !== undefined).toBe(autoscaling);

    // The next case needs the fleet's room again.
    expect((await cli(['delete', `raycluster/${name}`, '-n', namespace, ...fleetArgs])).code).toBe(0);
    await waitFor(`${name}'s pods gone from both clusters`, async () => {
      const left = await Promise.all([cloud, onprem].map((c) => c.list<Pod>(RESOURCES.pods, {namespace})));
      return left.every((l) => l.items.length === 0) ? true : undefined;
    }, {timeoutMs: 60_000});
  });
});
