import {afterAll, afterEach, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import {remoteReadyOf} from '../../src/kuberay/swap.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli, startWatch} from '../support/cli.js';
import {auditEntries, deletePlaced, freshNamespace, removeNamespace, testFleet, toolRequests, placeRunning as placeApp} from '../support/e2e.js';
import {throughFaultProxy, type FaultProxy, type FaultRule} from '../support/fault-proxy.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const contexts = ['--context', 'onprem', '--context', 'cloud'];

const PENDING = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') ?? false;
const ms = (iso: string) => Date.parse(iso);

/**
 * One fault class at a time, between the tool and one cluster's API server (test/support/fault-proxy.ts),
 * each deterministic: the first requests of a kind fail, the rest pass.
 */
describe('API faults: throttling, server errors and lost answers', () => {
  let fleet: Fleet;
  let namespace: string;
  let proxies: FaultProxy[] = [];

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'faults');
  });
  const placed: string[] = [];
  afterEach(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    proxies = [];
    // Onprem has room for one such group: the next test's needs it back.
    for (const name of placed.splice(0)) await deletePlaced(fleet, namespace, name, ['--kubeconfig', kubeconfig, ...contexts]);
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  /** The kubeconfig flags of the fleet with `context`'s requests going through a fault proxy with these rules. */
  const withFaults = async (context: string, rules: FaultRule[]) => {
    const routed = await throughFaultProxy(kubeconfig, context, {dir: tempDir(), rules});
    proxies.push(routed.proxy);
    return {proxy: routed.proxy, args: ['--kubeconfig', routed.kubeconfig, ...contexts]};
  };

  const placeRunning = async (name: string) => {
    const podsOf = await placeApp(fleet, namespace, name, ['--kubeconfig', kubeconfig, ...contexts]);
    placed.push(name);
    return podsOf;
  };

  const statusOf = async (name: string, args: string[]) => {
    const result = await cli(['status', name, '-n', namespace, '-o', 'json', ...args]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as unknown;
  };

  it('honours Retry-After: a throttled read is asked again no sooner than the server said, and status answers as without the faults', async () => {
    await placeRunning('throttled');
    const clean = await statusOf('throttled', ['--kubeconfig', kubeconfig, ...contexts]);
    const {proxy, args} = await withFaults('onprem', [{verbs: ['list'], resources: ['pods'], status: 429, retryAfterSeconds: 1, times: 2}]);
    const since = new Date().toISOString();
    expect(await statusOf('throttled', args)).toEqual(clean);

    expect(proxy.injected.map((i) => `${i.verb} ${i.resource} ${i.status}`)).toEqual(['list pods 429', 'list pods 429']);
    const passed = toolRequests(auditLog('onprem'), since).all.filter((r) => r.verb === 'list' && /\/pods\?/.test(r.uri));
    expect(passed).toHaveLength(1);
    // Each request after a 429 waited the second the server asked for, not the tool's own backoff (100 ms).
    const [first, second] = proxy.injected.map((i) => ms(i.at));
    expect(second! - first!).toBeGreaterThanOrEqual(1000);
    expect(ms(passed[0]!.at) - second!).toBeGreaterThanOrEqual(1000);
  });

  it('reads again after 500, 503 and 504, and status answers as without them', async () => {
    await placeRunning('erring');
    const clean = await statusOf('erring', ['--kubeconfig', kubeconfig, ...contexts]);
    const {proxy, args} = await withFaults('onprem', [
      {verbs: ['get'], resources: ['namespaces'], status: 503, times: 2},
      {verbs: ['list'], resources: ['rayclusters'], status: 500, times: 1},
      {verbs: ['get'], resources: ['services'], status: 504, times: 1},
    ]);
    expect(await statusOf('erring', args)).toEqual(clean);
    expect(proxy.injected.map((i) => `${i.verb} ${i.resource} ${i.status}`).sort()).toEqual(['get namespaces 503', 'get namespaces 503', 'get services 504', 'list rayclusters 500']);
  });

  it('a write refused as a conflict is decided again from a new look, and the span goes on', async () => {
    const podsOf = await placeRunning('conflicted');
    await fleet.cluster('onprem').patch(RESOURCES.rayclusters, 'conflicted', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    await waitFor('a worker of conflicted Pending, unschedulable', async () => ((await podsOf()).filter(PENDING).length === 1 ? true : undefined));
    const pending = (await podsOf()).find(PENDING)!.metadata!.name!;
    // The first write to a pod at home (the lock of the Pending worker) is refused, as if another writer had changed it.
    const {proxy, args} = await withFaults('onprem', [{verbs: ['patch'], resources: ['pods'], status: 409, times: 1}]);
    const since = new Date().toISOString();
    const spanned = await cli(['span', 'conflicted', '-n', namespace, ...args]);
    expect(spanned.stderr).toBe('');
    expect(spanned.stdout).toContain('1 worker(s) spanned from onprem');

    expect(proxy.injected.map((i) => `${i.verb} ${i.resource} ${i.status} ${i.uri.split('?')[0]!.split('/').pop()}`)).toEqual([`patch pods 409 ${pending}`]);
    // It looked again before the next write: a list of the group's pods came between the refusal and the lock that passed.
    const requests = toolRequests(auditLog('onprem'), since).all;
    const lock = requests.find((r) => r.verb === 'patch' && r.uri.split('?')[0]!.endsWith(`/pods/${pending}`))!;
    expect(requests.some((r) => r.verb === 'list' && /\/pods\?/.test(r.uri) && ms(r.at) > ms(proxy.injected[0]!.at) && ms(r.at) < ms(lock.at))).toBe(true);
    const remote = (await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=conflicted,superskyray.io/role=remote-worker'})).items;
    expect(remote).toHaveLength(1);
    // One Spanned event, for the swap that happened; none for the one refused.
    const events = (await fleet.cluster('onprem').list<KubeObject & {reason?: string; involvedObject?: {name?: string}}>(RESOURCES.events, {namespace})).items;
    expect(events.filter((e) => e.reason === 'Spanned' && e.involvedObject?.name === 'conflicted')).toHaveLength(1);
  });

  it("a placeholder is not deleted for a remote worker that watch's lagging cache has yet to see", async () => {
    const podsOf = await placeRunning('lagging');
    // Every watch event from cloud comes to watch 8 s late: its cache of cloud lags that long behind.
    const {proxy, args} = await withFaults('cloud', [{verbs: ['watch'], delayMs: 8000}]);
    const watch = startWatch(['-o', 'json', '-n', namespace, ...args]);
    try {
      await waitFor('watch watching lagging', () => (watch.lines.some((l) => l.includes('"type":"groups"') && l.includes('lagging')) ? true : undefined), {
        giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined),
      });
      const since = new Date().toISOString();
      await fleet.cluster('onprem').patch(RESOURCES.rayclusters, 'lagging', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
      const placeholder = await waitFor('the placeholder made at home', async () => (await podsOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder'));
      // Until the remote worker's events reach watch, and past them: it stays, with it.
      await waitFor('the placeholder Ready, its remote worker seen Ready', async () => {
        const now = (await podsOf()).find((p) => p.metadata?.uid === placeholder.metadata?.uid);
        expect(now).toBeDefined();
        return now && remoteReadyOf(now) ? true : undefined;
      }, {timeoutMs: 60_000});
      expect(proxy.injected.some((i) => i.verb === 'watch')).toBe(true);
      expect(toolRequests(auditLog('onprem'), since).writes.filter((r) => r.verb === 'delete' && /\/pods\//.test(r.uri))).toEqual([]);
      const remote = (await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=lagging,superskyray.io/role=remote-worker'})).items;
      expect(remote.map((p) => p.metadata?.name)).toEqual([placeholder.metadata?.name]);
    } finally {
      watch.child.kill('SIGTERM');
      await watch.exited;
    }
  });

  it("a placeholder is not bound to a home node cordoned since watch's lagging cache last saw it", async () => {
    const podsOf = await placeRunning('cordoned');
    const onprem = fleet.cluster('onprem');
    const node = (await podsOf())[0]!.spec!.nodeName!;
    // Every node event from onprem comes to watch 10 s late: its cache has the node schedulable for
    // 10 s after the cordon.
    const {proxy, args} = await withFaults('onprem', [{verbs: ['watch'], resources: ['nodes'], delayMs: 10_000}]);
    const watch = startWatch(['-o', 'json', '-n', namespace, ...args]);
    const giveUp = () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined);
    const cordon = (unschedulable: boolean | null) => onprem.patch(RESOURCES.nodes, node, undefined, {spec: {unschedulable}}, 'merge');
    try {
      await waitFor('watch watching cordoned', () => (watch.lines.some((l) => l.includes('"type":"groups"') && l.includes('cordoned')) ? true : undefined), {giveUp});
      await cordon(true);
      const since = new Date().toISOString();
      await onprem.patch(RESOURCES.rayclusters, 'cordoned', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
      // Once the cordon reaches watch, a pass says the new worker waits for a home node for its placeholder.
      // Within 30 s: the node's event (10 s late) calls for the pass, not watch's 60 s resync.
      await waitFor('a pass saying no home node takes the placeholder', () => (watch.lines.some((l) => l.includes('"type":"pass"') && l.includes('cordoned') && l.includes('has room for its placeholder')) ? true : undefined), {timeoutMs: 30_000, giveUp});
      expect(proxy.injected.some((i) => i.verb === 'watch' && i.resource === 'nodes')).toBe(true);
      // Meanwhile nothing was written for it: no placeholder on the cordoned node, no remote worker.
      const podWrites = (cluster: string) => toolRequests(auditLog(cluster), since).writes.filter((r) => /\/pods\b/.test(r.uri)).map((r) => `${r.verb} ${r.uri}`);
      expect(podWrites('onprem')).toEqual([]);
      expect(podWrites('cloud')).toEqual([]);

      await cordon(null);
      const placeholder = await waitFor('the placeholder made, once watch sees the node take pods again', async () => (await podsOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder'), {timeoutMs: 30_000, giveUp});
      expect(placeholder.spec?.nodeName).toBe(node);
    } finally {
      await cordon(null);
      watch.child.kill('SIGTERM');
      await watch.exited;
    }
  });

  it('a create whose answer was lost is not made twice: the retry finds it there, and the span goes on', async () => {
    const podsOf = await placeRunning('lost');
    await fleet.cluster('onprem').patch(RESOURCES.rayclusters, 'lost', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    await waitFor('a worker of lost Pending, unschedulable', async () => ((await podsOf()).filter(PENDING).length === 1 ? true : undefined));
    // cloud takes the remote worker's create, and its answer is replaced by a 500.
    const {proxy, args} = await withFaults('cloud', [{verbs: ['create'], resources: ['pods'], dryRun: false, status: 500, times: 1, after: true}]);
    const since = new Date().toISOString();
    const spanned = await cli(['span', 'lost', '-n', namespace, ...args]);
    expect(spanned.stderr).toBe('');
    expect(spanned.stdout).toContain('1 worker(s) spanned from onprem');

    expect(proxy.injected.map((i) => `${i.verb} ${i.resource} ${i.status} ${i.after}`)).toEqual(['create pods 500 true']);
    const remote = (await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=lost,superskyray.io/role=remote-worker'})).items;
    expect(remote).toHaveLength(1);
    // The server saw the create twice: the one whose answer was lost, and the retry it refused as AlreadyExists.
    const creates = auditEntries(auditLog('cloud')).filter(
      (e) => e.verb === 'create' && e.objectRef?.resource === 'pods' && !e.requestURI.includes('dryRun') && (e.userAgent ?? '').startsWith('kubectl-superskyray/') && ms(e.requestReceivedTimestamp) >= ms(since),
    ) as Array<{responseStatus?: {code?: number}}>;
    expect(creates.map((e) => e.responseStatus?.code)).toEqual([201, 409]);
    // And the one remote worker is the placeholder's twin, as after any span.
    const placeholders = (await podsOf()).filter((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder');
    expect(placeholders.map((p) => p.metadata?.name)).toEqual([remote[0]!.metadata?.name]);
  });

  it("a lock whose marking write went through with its answer lost is finished, not undone: KubeRay makes no extra worker", async () => {
    const podsOf = await placeRunning('marked');
    await fleet.cluster('onprem').patch(RESOURCES.rayclusters, 'marked', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    await waitFor('a worker of marked Pending, unschedulable', async () => ((await podsOf()).filter(PENDING).length === 1 ? true : undefined));
    const before = new Set((await podsOf()).map((p) => p.metadata?.name));
    const pending = (await podsOf()).find(PENDING)!.metadata?.name;
    // onprem takes the write that marks the Pending worker Failed, and its answer is replaced by a
    // 500: the retry then conflicts with the pod as that write left it.
    const {proxy, args} = await withFaults('onprem', [{verbs: ['patch'], resources: ['pods/status'], status: 500, times: 1, after: true}]);
    const spanned = await cli(['span', 'marked', '-n', namespace, ...args]);
    expect(spanned.stderr).toBe('');
    expect(spanned.stdout).toContain('1 worker(s) spanned from onprem');
    expect(proxy.injected.map((i) => `${i.verb} ${i.resource} ${i.status} ${i.after}`)).toEqual(['patch pods/status 500 true']);
    // Every worker KubeRay has is one it had before, or the placeholder: no replacement was made.
    await waitFor('the swap settled', async () => ((await podsOf()).every((p) => !p.metadata?.deletionTimestamp) ? true : undefined));
    const after = await podsOf();
    const placeholders = after.filter((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder');
    expect(placeholders).toHaveLength(1);
    // It stands for the worker that was Pending, not for a replacement KubeRay made after an unlock.
    expect(placeholders[0]!.metadata?.annotations?.['superskyray.io/replaces']).toBe(pending);
    expect(after.filter((p) => !before.has(p.metadata?.name) && p.metadata?.labels?.['superskyray.io/role'] !== 'placeholder').map((p) => p.metadata?.name)).toEqual([]);
    expect(after.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker')).toHaveLength(3);
  });
});
