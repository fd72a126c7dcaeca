import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli, REPO, RUN_JS} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';
import {GroupLease} from '../../src/reconcile/lease.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; maxReplicas?: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

/**
 * Workers of 6 cpus: onprem (one 8-cpu node, with the head) holds one, cloud (two 8-cpu nodes) two.
 * A fourth and a fifth fit nowhere.
 */
function bigWorkers(name: string): string {
  const app = fixture<RayClusterObject>('raycluster-small.yaml');
  app.metadata.name = name;
  app.spec.workerGroupSpecs[0]!.replicas = 1;
  app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '6', memory: '4Gi'}, limits: {cpu: '6', memory: '4Gi'}};
  const file = path.join(tempDir(), `${name}.yaml`);
  fs.writeFileSync(file, yaml.dump(app));
  return file;
}

describe('scale that cannot settle: refused, timed out, interrupted', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'stops');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  const replicas = async (name: string) => (await fleet.cluster('onprem').get<RayClusterObject>(RESOURCES.rayclusters, name, namespace)).spec.workerGroupSpecs[0]!;
  const leases = async () => (await fleet.cluster('onprem').list<KubeObject>(RESOURCES.leases, {namespace})).items;

  it('refuses growth that fits no cluster of the fleet before any write (exit 2), and says which flag allows it', async () => {
    expect((await cli(['place', '-f', bigWorkers('big'), '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    const since = new Date().toISOString();
    const refused = await cli(['scale', 'big', '--replicas', '5', '-n', namespace, ...fleetArgs]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: raycluster\/big in context "onprem": 2 of the 4 new worker\(s\) of group cpu fit no cluster of the fleet \(.*\); lower --replicas, add room, or pass --allow-pending to let them wait Pending\n$/);
    expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);
    expect(toolRequests(auditLog('cloud'), since).writes).toEqual([]);
    expect((await replicas('big')).replicas).toBe(1);

    // Above maxReplicas (5) is said out loud, not done silently.
    const dry = await cli(['scale', 'big', '--replicas', '6', '--allow-pending', '--dry-run', '-n', namespace, ...fleetArgs]);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain('warning: maxReplicas of worker group cpu is raised from 5 to 6, since --replicas 6 is above it');
  });

  it('exits 3 at --timeout, saying what it still waits for, shows what it did, and leaves no Lease', async () => {
    const started = Date.now();
    const timedOut = await cli(['scale', 'big', '--replicas', '5', '--allow-pending', '--wait', '--timeout', '15s', '-n', namespace, ...fleetArgs]);
    const ms = Date.now() - started;
    expect(timedOut.code, timedOut.stderr).toBe(3);
    expect(timedOut.stderr).toMatch(/^scale big\n/);
    expect(timedOut.stderr).toMatch(/\nerror: scale did not settle within --timeout 15s: raycluster\/big is resized to 5 and still waits for: [^\n]*2 worker\(s\) of group \S+ not Running yet[^\n]*\. Run the same command again to go on\n$/);
    expect(timedOut.stderr).not.toMatch(/did not answer/);
    expect(timedOut.stdout).toMatch(/^raycluster\/big: worker group cpu 1 -> 5, grows across clusters \(home onprem\)$/m);
    expect(ms).toBeLessThan(25_000);
    expect((await replicas('big')).replicas).toBe(5);
    expect(await leases()).toEqual([]);
    console.log(`scale --wait --timeout 15s on a group that cannot settle: exit 3 after ${ms} ms`);
  });

  it('exits 1 when workers fit nowhere without --wait, naming them', async () => {
    const again = await cli(['scale', 'big', '--replicas', '5', '-n', namespace, ...fleetArgs]);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/^big-cpu-worker-\S+ fits no cluster of the fleet: /m);
    expect(again.stderr).toMatch(/^error: 2 worker\(s\) fit no cluster of the fleet and wait Pending at home; add room, or lower --replicas$/m);
  });

  it('stops at Ctrl-C with exit 130 and lets go of its Lease', async () => {
    expect((await cli(['scale', 'big', '--replicas', '1', '-n', namespace, ...fleetArgs])).code).toBe(0);
    await waitFor('big back to one worker', async () => {
      const pods = (await fleet.cluster('onprem').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=big,ray.io/node-type=worker'})).items;
      return pods.length === 1 ? true : undefined;
    });
    const child = spawn(process.execPath, [RUN_JS, 'scale', 'big', '--replicas', '5', '--allow-pending', '--wait', '-n', namespace, ...fleetArgs], {
      cwd: REPO,
      env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1'},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // The lease is held once the resize is written; then the run waits for workers that cannot run.
    await waitFor('the Lease held while it waits', async () => ((await leases()).length === 1 ? true : undefined), {giveUp: () => (child.exitCode !== null ? `scale exited: ${stderr}` : undefined)});
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/\nerror: interrupted[^\n]*\n$/);
    expect(await leases()).toEqual([]);
  });

  it('says who holds the Lease it waits for, without -v', async () => {
    const held = new GroupLease(fleet.cluster('onprem'), namespace, 'big', 'RayCluster', {durationSeconds: 30});
    await held.acquire();
    try {
      const waited = await cli(['scale', 'big', '--replicas', '1', '--timeout', '3s', '-n', namespace, ...fleetArgs]);
      expect(waited.code).toBe(3);
      expect(waited.stderr).toContain(`waiting for ${held.holder}, which is changing this group\n`);
    } finally {
      await held.release();
    }
  });
});

describe('scale that would need what a target cluster lacks', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'lacks');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('refuses before any write, the dry run included, when the workers need a Secret the target does not have', async () => {
    const onprem = fleet.cluster('onprem');
    await onprem.create(RESOURCES.secrets, {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'creds', namespace}, stringData: {token: 'home-only'}});
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'secretive';
    const spec = app.spec.workerGroupSpecs[0]!.template.spec as Record<string, unknown> & {containers: Array<Record<string, unknown>>};
    spec.volumes = [{name: 'creds', secret: {secretName: 'creds'}}];
    spec.containers[0]!.volumeMounts = [{name: 'creds', mountPath: '/creds'}];
    const file = path.join(tempDir(), 'secretive.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);

    const since = new Date().toISOString();
    // onprem holds the head and 3 two-cpu workers: the 4th would run in cloud, which has no "creds".
    for (const extra of [['--dry-run'], []]) {
      const refused = await cli(['scale', 'secretive', '--replicas', '4', ...extra, '-n', namespace, ...fleetArgs]);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toBe(
        'error: raycluster/secretive in context "onprem": 1 of the 2 new worker(s) of group cpu fit no cluster of the fleet: cloud is skipped: Secret(s) creds that the workers need are not there in cloud; create them there, or pass --copy-secrets; fix what is named there, lower --replicas, or pass --allow-pending to let them wait Pending\n',
      );
    }
    expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);
    expect(toolRequests(auditLog('cloud'), since).writes).toEqual([]);
    const rc = await onprem.get<RayClusterObject>(RESOURCES.rayclusters, 'secretive', namespace);
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(2);
  });
});
