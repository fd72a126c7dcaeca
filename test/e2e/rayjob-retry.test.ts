import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli, startWatch} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayJob = KubeObject & {status?: {rayClusterName?: string; jobDeploymentStatus?: string; failed?: number}};
type ClusterSpec = {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>};

/**
 * KubeRay v1.5.0's RayJob retry (the sandbox has no RayJob controller): a failed attempt deletes
 * the RayCluster and the submitter, and the next attempt makes a RayCluster of another name.
 * The fake pods run no Ray, so the test fails the first attempt by deleting its submitter pod
 * (submitterConfig.backoffLimit 0), which KubeRay reports as SubmissionFailed.
 */
describe('a RayJob whose first attempt fails, with backoffLimit 1', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'retry');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it("has its second RayCluster spanned by watch, and what was made for the first is gone from every cluster", async () => {
    // 3 workers of one GPU each: no cluster has more than 2 GPUs, so place makes cloud (2) home and
    // the third worker runs in onprem (1).
    const home = fleet.cluster('cloud');
    const remote = fleet.cluster('onprem');
    const cluster = fixture<KubeObject & {spec: ClusterSpec}>('raycluster-small.yaml');
    cluster.spec.workerGroupSpecs[0]!.replicas = 3;
    cluster.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};
    const job = {
      apiVersion: 'ray.io/v1',
      kind: 'RayJob',
      metadata: {name: 'retry'},
      spec: {entrypoint: 'python -c "print(1)"', backoffLimit: 1, submitterConfig: {backoffLimit: 0}, rayClusterSpec: cluster.spec},
    };
    const file = path.join(tempDir(), 'retry.yaml');
    fs.writeFileSync(file, yaml.dump(job));
    const args = ['-n', namespace, ...fleetArgs];
    const placed = await cli(['place', '-f', file, ...args]);
    expect(placed.code, placed.stderr).toBe(0);
    expect(await home.find(RESOURCES.rayjobs, 'retry', namespace)).toBeDefined();

    const watch = startWatch(args);
    const giveUp = () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined);
    try {
      const remoteOf = async (uid: string) =>
        (await remote.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `superskyray.io/raycluster-uid=${uid}`})).items.filter((p) => !p.metadata?.deletionTimestamp);
      const rayClusterOf = async () => {
        const name = (await home.get<RayJob>(RESOURCES.rayjobs, 'retry', namespace)).status?.rayClusterName;
        return name ? home.find<KubeObject & {metadata: {name: string; uid: string}}>(RESOURCES.rayclusters, name, namespace) : undefined;
      };
      const first = await waitFor('the first RayCluster', rayClusterOf, {giveUp});
      await waitFor('its third worker Running in onprem', async () => ((await remoteOf(first.metadata.uid)).some((p) => p.status?.phase === 'Running') ? true : undefined), {giveUp});
      const submitter = await waitFor('the first attempt\'s submitter pod', async () => (await home.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'batch.kubernetes.io/job-name=retry'})).items[0], {giveUp, timeoutMs: 120_000});

      // The first attempt fails: KubeRay deletes its RayCluster and makes another.
      await home.delete(RESOURCES.pods, submitter.metadata?.name ?? '', namespace);
      const second = await waitFor('the second attempt\'s RayCluster', async () => {
        const rc = await rayClusterOf();
        return rc && rc.metadata.uid !== first.metadata.uid ? rc : undefined;
      }, {giveUp, timeoutMs: 120_000});
      expect(second.metadata.name).not.toBe(first.metadata.name);
      expect((await home.get<RayJob>(RESOURCES.rayjobs, 'retry', namespace)).status?.failed).toBe(1);

      await waitFor('the second RayCluster\'s third worker Running in onprem', async () => ((await remoteOf(second.metadata.uid)).some((p) => p.status?.phase === 'Running') ? true : undefined), {giveUp});
      await waitFor('nothing of the first RayCluster left in onprem', async () => {
        const pods = (await remote.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `superskyray.io/raycluster-uid=${first.metadata.uid}`})).items;
        const copy = await remote.find(RESOURCES.services, `${first.metadata.name}-head-svc`, namespace);
        if (pods.length > 0 || copy) throw new Error(`left: ${pods.map((p) => p.metadata?.name).join(', ')}${copy ? ` service/${first.metadata.name}-head-svc` : ''}`);
        return true;
      }, {giveUp, timeoutMs: 60_000});
      expect(await remote.find(RESOURCES.services, `${second.metadata.name}-head-svc`, namespace)).toBeDefined();
      // watch says so (its lines come a moment after its writes).
      const said = new RegExp(`delete pod/${first.metadata.name}\\S* \\(.*(is gone|is not there|has no RayCluster)`);
      await waitFor('watch to say it removed the first RayCluster\'s remote worker', () => (said.test(watch.lines.join('\n')) ? true : undefined), {giveUp, timeoutMs: 30_000});
      // kubectl describe rayjob tells the story: each attempt's span, and what went with the first.
      const events = (await home.list<KubeObject & {reason?: string; message?: string; involvedObject?: {kind?: string; name?: string}}>(RESOURCES.events, {namespace})).items.filter(
        (e) => e.involvedObject?.kind === 'RayJob' && e.involvedObject.name === 'retry',
      );
      const told = events.map((e) => `${e.reason}: ${e.message}`);
      for (const rc of [first, second]) expect(told).toContainEqual(expect.stringMatching(new RegExp(`^Spanned: worker ${rc.metadata.name}-\\S+ of group cpu of RayCluster ${rc.metadata.name} did not fit here`)));
      expect(told).toContainEqual(expect.stringMatching(new RegExp(`^(Repaired|Collected): .*delete(-remote)? pod/${first.metadata.name}-\\S+ in onprem: `)));
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
  });
});
