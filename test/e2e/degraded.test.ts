import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog, startApiserver, stopApiserver} from '../support/backend.js';
import {cli, REPO, RUN_JS} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, toolRequests, remoteWorkerOf} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

describe('watch while a cluster does not answer', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'degraded');
  });
  afterAll(async () => {
    await startApiserver('cloud');
    await removeNamespace(fleet, namespace);
  });

  it('keeps going for onprem, marks cloud degraded, deletes nothing because of it, and catches up when it is back', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'away';
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
    const file = path.join(tempDir(), 'away.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, ...fleetArgs])).code).toBe(0);
    expect((await cli(['scale', 'away', '--replicas', '3', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs])).code).toBe(0);
    const homePods = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=away'})).items;
    const placeholder = (await homePods()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder')!;
    const twin = await waitFor('the remote worker Running on cloud', async () => {
      const pod = await cloud.find<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
      return pod?.status?.phase === 'Running' ? pod : undefined;
    });

    const lines: string[] = [];
    const child = spawn(process.execPath, [RUN_JS, 'watch', '-o', 'json', '-n', namespace, ...fleetArgs, '--request-timeout', '3s'], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME}, stdio: ['ignore', 'pipe', 'pipe']});
    child.stdout.on('data', (c: Buffer) => lines.push(...c.toString('utf8').split('\n').filter(Boolean)));
    child.stderr.on('data', (c: Buffer) => lines.push(`stderr: ${c.toString('utf8').trim()}`));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    type Line = {type: string; context?: string; state?: string; group?: string; groups?: Array<{key: string}>; stuck?: Array<{pending: string}>};
    const parsed = () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    const seen = (match: (l: Line) => boolean) => () => (parsed().some(match) ? true : undefined);
    try {
      await waitFor('watch watching', seen((l) => l.type === 'groups' && l.groups?.[0]?.key === `${namespace}/raycluster/away`));
      await stopApiserver('cloud');
      await waitFor('watch to mark cloud degraded', seen((l) => l.type === 'cluster' && l.context === 'cloud' && l.state === 'Degraded'), {timeoutMs: 30_000});
      const since = new Date().toISOString();

      // The app grows while cloud is away: the new worker waits at home, and nothing else moves.
      await onprem.patch(RESOURCES.rayclusters, 'away', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 4}], 'json');
      const fresh = await waitFor('the 4th worker Pending at home', async () =>
        (await homePods()).find((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable') && !p.metadata?.labels?.['superskyray.io/role']),
      );
      await waitFor('watch to find no room for it anywhere it can see', seen((l) => l.type === 'pass' && (l.stuck ?? []).some((s) => s.pending === fresh.metadata?.name)), {timeoutMs: 30_000});
      const during = await homePods();
      expect(during.find((p) => p.metadata?.uid === placeholder.metadata?.uid)?.metadata?.labels?.['superskyray.io/role']).toBe('placeholder');
      expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);

      await startApiserver('cloud');
      const cloudStates = () => parsed().filter((l) => l.type === 'cluster' && l.context === 'cloud').map((l) => l.state);
      await waitFor('watch to see cloud back', () => (cloudStates().join(',').endsWith('Degraded,Ready') ? true : undefined), {timeoutMs: 60_000, giveUp: () => (child.exitCode !== null ? 'watch exited' : undefined)});
      // Caught up: the worker that waited is spanned now, and the first twin was never touched.
      await waitFor('the waiting worker spanned to cloud', async () => ((await remoteWorkerOf(onprem, cloud, namespace, fresh.metadata?.name ?? '')) ? true : undefined), {timeoutMs: 60_000});
      expect((await cloud.get<Pod>(RESOURCES.pods, twin.metadata?.name ?? '', namespace)).metadata?.uid).toBe(twin.metadata?.uid);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    console.log(`watch printed:\n  ${lines.join('\n  ')}`);
  });
});
