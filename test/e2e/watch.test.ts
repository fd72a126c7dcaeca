import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli, REPO, RUN_JS, startWatch} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, auditEntries, isDryRun} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: Record<string, unknown> & {workerGroupSpecs: Array<Record<string, unknown> & {template: {spec: {containers: Array<{resources: unknown}>}}}>}};

/** The seed's autoscaling app: in-tree autoscaling, a GPU worker group from 0 (min 0, max 2). */
function autoscaledApp(name: string): RayClusterObject {
  const app = fixture<RayClusterObject>('raycluster-small.yaml');
  app.metadata.name = name;
  // Autoscaler v2, which matches Ray nodes to pods by name: a group on v1 is never spanned.
  Object.assign(app.spec, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}});
  const group = app.spec.workerGroupSpecs[0]!;
  Object.assign(group, {groupName: 'gpu', replicas: 0, minReplicas: 0, maxReplicas: 2});
  group.template.spec.containers[0]!.resources = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};
  return app;
}

const audit = (cluster: string) => auditEntries(auditLog(cluster));

describe('kubectl superskyray watch: the seed\'s autoscaler-driven growth', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'watch');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('spans the GPU worker the autoscaler adds that does not fit at home, follows its scale-down, and stops cleanly', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const file = path.join(tempDir(), 'auto.yaml');
    fs.writeFileSync(file, yaml.dump(autoscaledApp('auto')));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=auto'})).items;
    await waitFor('the head Running on onprem', async () => ((await podsOf()).some((p) => p.metadata?.labels?.['ray.io/node-type'] === 'head' && p.status?.phase === 'Running') ? true : undefined));

    const since = Date.now();
    const watch = startWatch(['-n', namespace, ...fleetArgs]);
    try {
      await waitFor('watch to start watching the group', () => (watch.lines.some((l) => l.includes(`watching 1 group(s): ${namespace}/raycluster/auto`)) ? true : undefined), {giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined)});

      // The test plays the Ray autoscaler: 2 GPU workers, and onprem has one GPU.
      const rc = await onprem.get<RayClusterObject>(RESOURCES.rayclusters, 'auto', namespace);
      await onprem.patch(RESOURCES.rayclusters, 'auto', namespace, {spec: {workerGroupSpecs: [{...rc.spec.workerGroupSpecs[0], replicas: 2}]}}, 'merge');

      const placeholder = await waitFor('a placeholder at home, owned by the RayCluster', async () =>
        (await podsOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder' && p.metadata.ownerReferences?.some((o) => o.controller)),
      );
      const remote = await waitFor('its remote worker Running on cloud', async () => {
        const pod = await cloud.find<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
        return pod?.status?.phase === 'Running' ? pod : undefined;
      });
      expect(remote.metadata?.labels?.['superskyray.io/role']).toBe('remote-worker');
      const local = await waitFor('one GPU worker Running at home', async () => {
        const workers = (await podsOf()).filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker' && !p.metadata.labels['superskyray.io/role']);
        return workers.length === 1 && workers[0]!.status?.phase === 'Running' ? workers[0] : undefined;
      });
      expect(local.spec?.nodeName).toMatch(/^onprem-/);
      // The autoscaled group's replicas and workersToDelete were never written by the tool.
      const tool = audit('onprem').filter(
        (e) => Date.parse(e.requestReceivedTimestamp) >= since && (e.userAgent ?? '').startsWith('kubectl-superskyray/') && e.objectRef?.resource === 'rayclusters' && !['get', 'list', 'watch'].includes(e.verb),
      );
      expect(tool.filter((e) => e.objectRef?.namespace === namespace)).toEqual([]);

      // Reaction time: from the scheduler's verdict on the Pending worker to the remote worker's creation.
      const replaced = placeholder.metadata?.annotations?.['superskyray.io/replaces'] ?? '';
      const verdict = audit('onprem').find(
        (e) => e.objectRef?.name === replaced && e.objectRef?.subresource === 'status' && (e.userAgent ?? '').startsWith('kube-scheduler/'),
      );
      const created = audit('cloud').find((e) => e.verb === 'create' && !isDryRun(e) && e.objectRef?.resource === 'pods' && e.objectRef?.namespace === namespace && (e.userAgent ?? '').startsWith('kubectl-superskyray/'));
      expect(verdict).toBeDefined();
      expect(created).toBeDefined();
      const latency = Date.parse(created!.requestReceivedTimestamp) - Date.parse(verdict!.requestReceivedTimestamp);
      console.log(`watch reaction: ${latency} ms from the scheduler marking ${replaced} Unschedulable to the remote worker's create in cloud`);
      expect(latency).toBeGreaterThan(0);

      // Scale down as the autoscaler does: replicas 1 and workersToDelete naming the placeholder.
      const now = await onprem.get<RayClusterObject>(RESOURCES.rayclusters, 'auto', namespace);
      await onprem.patch(RESOURCES.rayclusters, 'auto', namespace, {spec: {workerGroupSpecs: [{...now.spec.workerGroupSpecs[0], replicas: 1, scaleStrategy: {workersToDelete: [placeholder.metadata?.name]}}]}}, 'merge');
      await waitFor('the remote worker and the copies gone from cloud: collapsed', async () => {
        const left = await Promise.all([
          cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=auto'}),
          cloud.list<KubeObject>(RESOURCES.services, {namespace, labelSelector: 'superskyray.io/group=auto'}),
        ]);
        return left.every((l) => l.items.length === 0) ? true : undefined;
      });
      const after = await podsOf();
      expect(after.some((p) => p.metadata?.uid === local.metadata?.uid && p.status?.phase === 'Running')).toBe(true);
      expect(after.filter((p) => p.metadata?.labels?.['superskyray.io/role'])).toEqual([]);
    } finally {
      watch.child.kill('SIGINT');
    }
    expect(await watch.exited).toBe(0);
    expect((await onprem.list<KubeObject>(RESOURCES.leases, {namespace})).items).toEqual([]);
    console.log(`watch printed:\n  ${watch.lines.join('\n  ')}`);
  });

  it('two watches on the same fleet span a worker once; watch --once reconciles and exits', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'twice';
    Object.assign(app.spec.workerGroupSpecs[0]!, {replicas: 1});
    // 4-cpu workers: one fits onprem beside the head, a second does not.
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '4', memory: '4Gi'}, limits: {cpu: '4', memory: '4Gi'}};
    const file = path.join(tempDir(), 'twice.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=twice'})).items;
    await waitFor('twice Running on onprem', async () => ((await podsOf()).length === 2 && (await podsOf()).every((p) => p.status?.phase === 'Running') ? true : undefined));

    const first = startWatch(['twice', '-n', namespace, ...fleetArgs]);
    const second = startWatch(['raycluster/twice', '-n', namespace, ...fleetArgs]);
    const since = Date.now();
    try {
      for (const w of [first, second]) await waitFor('both watches watching', () => (w.lines.some((l) => l.includes('watching 1 group(s)')) ? true : undefined));
      await onprem.patch(RESOURCES.rayclusters, 'twice', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 2}], 'json');
      const remote = await waitFor('one remote worker on cloud', async () => {
        const pods = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=twice'})).items;
        return pods.length > 0 ? pods : undefined;
      });
      // Let both have their say: each reacts to the events the swap itself caused.
      await waitFor('the placeholder labelled at home', async () => ((await podsOf()).some((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder') ? true : undefined));
      const spannedLines = () => [...first.lines, ...second.lines].filter((l) => l.includes(': spanned twice-cpu-worker-'));
      await waitFor('the watch that acted to say so', () => (spannedLines().length > 0 ? true : undefined), {timeoutMs: 15_000});
      expect(remote).toHaveLength(1);
      const creates = audit('cloud').filter(
        (e) => Date.parse(e.requestReceivedTimestamp) >= since && e.verb === 'create' && !isDryRun(e) && e.objectRef?.resource === 'pods' && e.objectRef.namespace === namespace && (e.userAgent ?? '').startsWith('kubectl-superskyray/'),
      );
      expect(creates).toHaveLength(1);
      expect(spannedLines()).toHaveLength(1);
    } finally {
      first.child.kill('SIGTERM');
      second.child.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);
    expect(await second.exited).toBe(0);

    // No watch running: the app grows, and one `watch --once` (a cron job, say) spans the new worker and exits.
    await onprem.patch(RESOURCES.rayclusters, 'twice', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    const pending = await waitFor('the third worker Pending', async () => (await podsOf()).find((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable') && !p.metadata?.labels?.['superskyray.io/role']));
    const once = await cli(['watch', '--once', 'twice', '-n', namespace, ...fleetArgs]);
    expect(once.stderr).toBe('');
    expect(once.code).toBe(0);
    const as = new RegExp(`spanned ${pending.metadata?.name} to cloud as (twice-cpu-worker-\\S+)`).exec(once.stdout);
    expect(as, once.stdout).not.toBeNull();
    expect(await cloud.find(RESOURCES.pods, as![1]!, namespace)).toBeDefined();
  });

  it('draws the TUI on a real terminal: the groups with their mode, the clusters with bars, and stops cleanly on Ctrl-C', async () => {
    // `script` gives the real binary a terminal; SIGINT after a few seconds is the user's Ctrl-C.
    const command = `stty cols 140 rows 40; timeout --preserve-status -s INT 6 ${process.execPath} ${RUN_JS} watch -n ${namespace} ${fleetArgs.join(' ')}`;
    const result = await new Promise<{code: number | null; out: string}>((resolve) => {
      const child = spawn('timeout', ['60', 'script', '-qec', command, '/dev/null'], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME, SHELL: '/bin/bash', TERM: 'xterm'}, stdio: ['ignore', 'pipe', 'pipe']});
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.on('exit', (code) => resolve({code, out}));
    });
    const screen = result.out.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '').replace(/\r/g, '');
    expect(result.code).toBe(0);
    expect(screen).toContain('superskyray watch  2 group(s), 2 cluster(s)');
    expect(screen).toMatch(new RegExp(`${namespace}/raycluster/twice\\s+onprem\\s+spanned`));
    expect(screen).toMatch(/^onprem\s+Ready\s+\[[#-]{10}\] /m);
    expect(screen).toMatch(/^cloud\s+Ready\s+\[[#-]{10}\] /m);
    expect((await fleet.cluster('onprem').list<KubeObject>(RESOURCES.leases, {namespace})).items).toEqual([]);
  });
});
