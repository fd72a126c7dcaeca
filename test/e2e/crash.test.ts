import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, releaseNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<Record<string, unknown> & {template: {spec: {containers: Array<{resources: unknown}>}}}>}};

const PENDING = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') ?? false;
const role = (p: KubeObject) => p.metadata?.labels?.['superskyray.io/role'];

/** 5-cpu workers: one fits onprem beside the head, the second waits; cloud fits it. */
function app(autoscaling: boolean): RayClusterObject {
  const rc = fixture<RayClusterObject>('raycluster-small.yaml');
  rc.metadata.name = 'crash';
  // Autoscaler v2, which matches Ray nodes to pods by name: a group on v1 is never spanned.
  if (autoscaling) Object.assign(rc.spec as Record<string, unknown>, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}});
  Object.assign(rc.spec.workerGroupSpecs[0]!, {replicas: 1});
  rc.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '5', memory: '4Gi'}, limits: {cpu: '5', memory: '4Gi'}};
  return rc;
}

describe.each([
  {mode: 'without autoscaling', autoscaling: false},
  {mode: 'with in-tree autoscaling', autoscaling: true},
])('crash safety of span, $mode', ({autoscaling}) => {
  let fleet: Fleet;
  const file = path.join(tempDir(), `crash-${autoscaling}.yaml`);

  // Each run gets a namespace of its own; the next needs only their pods gone, not the namespaces.
  const gone: Array<Promise<void>> = [];
  const release = async (namespace: string) => gone.push((await releaseNamespace(fleet, namespace)).gone);

  beforeAll(() => {
    fleet = testFleet(kubeconfig);
    fs.writeFileSync(file, yaml.dump(app(autoscaling)));
  });
  afterAll(async () => {
    await Promise.all(gone);
  });

  /** A placed group with its head and one worker Running on onprem and a second worker Pending there. */
  async function grownGroup() {
    const namespace = await freshNamespace(fleet, 'crash');
    const onprem = fleet.cluster('onprem');
    const placed = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(placed.code).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=crash'})).items;
    const running = await waitFor('head and worker Running', async () => {
      const pods = await podsOf();
      return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running') ? pods : undefined;
    });
    await onprem.patch(RESOURCES.rayclusters, 'crash', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 2}], 'json');
    const pending = await waitFor('the second worker Pending', async () => (await podsOf()).find(PENDING));
    return {namespace, running, pending, podsOf};
  }

  /** The one correct outcome: nothing that ran was touched, one placeholder at home, its one twin in cloud, one head-Service copy. */
  async function expectSpanned(namespace: string, running: Pod[], podsOf: () => Promise<Pod[]>, label: string) {
    const cloud = fleet.cluster('cloud');
    const home = await podsOf();
    const uids = new Set(home.map((p) => p.metadata?.uid));
    for (const p of running) expect(uids.has(p.metadata?.uid), `${label}: ${p.metadata?.name} still there`).toBe(true);
    expect(home.filter((p) => !p.metadata?.deletionTimestamp || role(p) === 'placeholder').length, `${label}: KubeRay counts head + 2 workers`).toBe(3);
    const placeholders = home.filter((p) => role(p) === 'placeholder');
    expect(placeholders.map((p) => p.metadata?.name), `${label}: one placeholder`).toHaveLength(1);
    const remote = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=crash'})).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(remote.map((p) => p.metadata?.name), `${label}: one remote worker, the placeholder's twin`).toEqual([placeholders[0]!.metadata?.name]);
    const services = (await cloud.list<KubeObject>(RESOURCES.services, {namespace, labelSelector: 'superskyray.io/group=crash'})).items;
    expect(services.map((s) => `${role(s)}/${s.metadata?.name}`), `${label}: one head-Service copy`).toEqual(['head-service-copy/crash-head-svc']);
  }

  it('converges from a SIGKILL after every write of a span, with no orphaned or duplicate pod and no running worker deleted', async () => {
    // A clean run first, to count the writes a span makes.
    const clean = await grownGroup();
    const since = new Date().toISOString();
    const first = await cli(['span', 'raycluster/crash', '-n', clean.namespace, ...fleetArgs]);
    expect(first.code).toBe(0);
    const writes = ['onprem', 'cloud']
      .flatMap((c) => toolRequests(auditLog(c), since).writes.map((w) => ({at: w.at, what: `${c} ${w.verb} ${w.uri.split('?')[0]}`})))
      .sort((a, b) => a.at.localeCompare(b.at))
      .map((w) => w.what);
    console.log(`a clean span makes ${writes.length} writes:\n  ${writes.join('\n  ')}`);
    await expectSpanned(clean.namespace, clean.running, clean.podsOf, 'clean run');
    await release(clean.namespace);
    expect(writes.length).toBeGreaterThanOrEqual(4);

    for (let k = 1; k <= writes.length; k++) {
      const group = await grownGroup();
      const killed = await cli(['span', 'raycluster/crash', '-n', group.namespace, ...fleetArgs], {SUPERSKYRAY_FAILPOINT_KILL_AFTER_WRITES: String(k)});
      expect(killed.signal, `run killed after write ${k}`).toBe('SIGKILL');
      const resumed = await cli(['span', 'raycluster/crash', '-n', group.namespace, ...fleetArgs]);
      expect(resumed.stderr, `span after a kill at write ${k}`).toBe('');
      expect(resumed.code).toBe(0);
      await expectSpanned(group.namespace, group.running, group.podsOf, `killed after write ${k} (${writes[k - 1]})`);
      await release(group.namespace);
    }
  }, 900_000);
});
