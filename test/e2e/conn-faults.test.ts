import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import {remoteReadyOf} from '../../src/kuberay/swap.js';
import type {Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli, startWatch} from '../support/cli.js';
import {deletePlaced, freshNamespace, remoteWorkerOf, removeNamespace, testFleet, toolRequests, placeRunning as placeApp} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';
import {type FaultProxy, throughFaultProxy} from '../support/fault-proxy.js';
import {throughToxiproxy, Toxiproxy} from '../support/toxiproxy.js';

const kubeconfig = inject('kubeconfig');
const contexts = ['--context', 'onprem', '--context', 'cloud'];
const fleetArgs = ['--kubeconfig', kubeconfig, ...contexts];
type GroupStatusDocument = {
  clusters: Array<{context: string; clusterId?: string; state: string; workers?: Array<{workerGroup: string; remote?: number}>; problems: Array<{reason: string; message: string}>}>;
  placeholders: Array<{name: string; twin: string; twinIn: string}>;
};

const PENDING = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') ?? false;
const ROLE = 'superskyray.io/role';
/** A stack trace in what a command printed: a crash, where a clean failure was due. */
const STACK = /^\s+at \S+.*[(/]/m;

/**
 * One connection fault class at a time, between the tool and the cloud cluster's API server, through
 * Toxiproxy (test/support/toxiproxy.ts): every test routes the cloud context through a proxy of its
 * own and runs the built CLI. Each group lives at home in onprem, which has room for one at a time.
 */
describe('connection faults: latency, resets, a stalled connection and a partition', () => {
  let fleet: Fleet;
  let namespace: string;
  let toxiproxy: Toxiproxy;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'conn');
  });
  beforeEach(async () => {
    toxiproxy = await Toxiproxy.start();
  });
  const faultProxies: FaultProxy[] = [];
  afterEach(async () => {
    await toxiproxy.stop();
    for (const p of faultProxies.splice(0)) await p.stop();
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  /**
   * The kubeconfig flags of the fleet with cloud reached through a Toxiproxy proxy, and that proxy's
   * name. `halfOpen`: through the fault proxy too, in front, which keeps the tool's connections open
   * and silent when Toxiproxy drops its own, as a half-open connection after a partition stays.
   */
  const cloudThroughProxy = async (options: {halfOpen?: boolean} = {}) => {
    const dir = tempDir();
    const routed = await throughToxiproxy(toxiproxy, kubeconfig, 'cloud', {dir});
    if (!options.halfOpen) return {proxy: routed.proxy.name, args: ['--kubeconfig', routed.kubeconfig, ...contexts]};
    const faults = await throughFaultProxy(routed.kubeconfig, 'cloud', {dir});
    faultProxies.push(faults.proxy);
    return {proxy: routed.proxy.name, args: ['--kubeconfig', faults.kubeconfig, ...contexts]};
  };

  const placeRunning = (name: string) => placeApp(fleet, namespace, name, fleetArgs);

  /** Asks for a 3rd worker, which onprem has no room for, and waits for it Pending; its name. */
  const growPastHome = async (name: string, podsOf: () => Promise<Pod[]>) => {
    await fleet.cluster('onprem').patch(RESOURCES.rayclusters, name, namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    return waitFor(`a worker of ${name} Pending, unschedulable`, async () => (await podsOf()).find(PENDING)?.metadata?.name);
  };

  const remoteWorkers = async (name: string) =>
    (await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: `superskyray.io/group=${name},${ROLE}=remote-worker`})).items;

  describe('latency', () => {
    afterEach(async () => {
      await deletePlaced(fleet, namespace, 'slow', fleetArgs);
    });

    it('300 ms each way to cloud: span still spans the Pending worker there, once', async () => {
      const podsOf = await placeRunning('slow');
      const pending = await growPastHome('slow', podsOf);
      const {proxy, args} = await cloudThroughProxy();
      await toxiproxy.addToxic(proxy, {type: 'latency', stream: 'upstream', attributes: {latency: 300}});
      await toxiproxy.addToxic(proxy, {type: 'latency', stream: 'downstream', attributes: {latency: 300}});

      const started = Date.now();
      const spanned = await cli(['span', 'slow', '-n', namespace, ...args]);
      const ms = Date.now() - started;
      expect(spanned.stderr).toBe('');
      expect(spanned.code).toBe(0);
      expect(spanned.stdout).toContain('1 worker(s) spanned from onprem');
      // The span went through the slow proxy: a TLS handshake and one request are two round trips of 600 ms.
      expect(toxiproxy.connections(proxy).accepted).toBeGreaterThan(0);
      expect(ms).toBeGreaterThanOrEqual(1200);
      console.log(`span with 300 ms each way to cloud: ${ms} ms, ${toxiproxy.connections(proxy).accepted} connection(s) to cloud`);

      const remote = await remoteWorkers('slow');
      expect(remote).toHaveLength(1);
      // The one remote worker is the twin of the placeholder that took the Pending worker's place.
      expect((await remoteWorkerOf(fleet.cluster('onprem'), fleet.cluster('cloud'), namespace, pending))?.metadata?.uid).toBe(remote[0]!.metadata?.uid);
    });
  });

  /** One spanned group (a remote worker in cloud) that every status below reads, and never changes. */
  describe('status of a spanned group', () => {
    let clean: GroupStatusDocument;

    beforeAll(async () => {
      const podsOf = await placeRunning('spread');
      const pending = await growPastHome('spread', podsOf);
      const spanned = await cli(['span', 'spread', '-n', namespace, ...fleetArgs]);
      expect(spanned.code, spanned.stderr).toBe(0);
      await waitFor('the remote worker Running in cloud', async () => {
        const twin = await remoteWorkerOf(fleet.cluster('onprem'), fleet.cluster('cloud'), namespace, pending);
        return (twin as Pod | undefined)?.status?.phase === 'Running' ? true : undefined;
      });
      const result = await cli(['status', 'spread', '-n', namespace, '-o', 'json', ...fleetArgs]);
      expect(result.code, result.stderr).toBe(0);
      clean = JSON.parse(result.stdout) as GroupStatusDocument;
      expect(clean.placeholders.map((p) => [p.twinIn, p.twin])).toEqual([['cloud', 'Running']]);
    });
    afterAll(async () => {
      await deletePlaced(fleet, namespace, 'spread', fleetArgs);
    });

    it('every connection to cloud reset: each read is tried 5 times, then status fails cleanly, naming cloud, and takes nothing there for missing', async () => {
      const {proxy, args} = await cloudThroughProxy();
      await toxiproxy.addToxic(proxy, {type: 'reset_peer', stream: 'upstream', attributes: {timeout: 0}});
      const started = Date.now();
      const result = await cli(['status', 'spread', '-n', namespace, '-o', 'json', ...args]);
      const ms = Date.now() - started;

      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(STACK);
      const status = JSON.parse(result.stdout) as GroupStatusDocument;
      const [home, cloud] = status.clusters;
      expect(home).toEqual(clean.clusters[0]);
      expect(cloud?.context).toBe('cloud');
      expect(cloud?.state).toBe('Unreachable');
      expect(cloud?.problems.map((p) => p.message).join('\n')).toMatch(/reset/i);
      // Not seen is not gone: no count for cloud, and the twin there is unknown, never missing.
      expect(cloud?.workers).toBeUndefined();
      // A cluster that did not answer did not say who it is either: its id names it.
      expect(status.placeholders.map((p) => [p.twinIn, p.twin])).toEqual([[clean.clusters[1]!.clusterId, 'unknown']]);
      // Reads are safe to send again after a reset: retry.ts gives each 5 attempts, each on a new connection.
      expect(toxiproxy.connections(proxy).accepted).toBeGreaterThanOrEqual(5);
      console.log(`status with every connection to cloud reset: ${ms} ms, ${toxiproxy.connections(proxy).accepted} connection(s) to cloud`);

      const table = await cli(['status', 'spread', '-n', namespace, ...args]);
      expect(table.code).toBe(1);
      expect(table.stderr).not.toMatch(STACK);
      expect(table.stdout).toMatch(/^onprem \(home\)\s+Ready\s/m);
      expect(table.stdout).toMatch(/^cloud\s+Unreachable\s/m);
      expect(table.stderr).toMatch(/^warning: context "cloud" is unreachable: .*reset.*; check that the cluster of context "cloud" is up and reachable from here$/im);
    });

    it('resets that stop while status retries: the read that was reset is asked again, and status answers as without them', async () => {
      const {proxy, args} = await cloudThroughProxy();
      const reset = await toxiproxy.addToxic(proxy, {type: 'reset_peer', stream: 'upstream', attributes: {timeout: 0}});
      const running = cli(['status', 'spread', '-n', namespace, '-o', 'json', ...args]);
      // A connection that ended while the reset was in place was reset: the tool got at least one.
      await waitFor('a connection to cloud reset', () => (toxiproxy.connections(proxy).ended > 0 ? true : undefined), {intervalMs: 20, timeoutMs: 30_000});
      await toxiproxy.removeToxic(proxy, reset.name);
      const result = await running;

      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual(clean);
      const {accepted, ended} = toxiproxy.connections(proxy);
      console.log(`status with resets until one was seen: ${accepted} connection(s) to cloud, ${ended} ended`);
    });

    it('a connection that stays open and carries no answer: status ends within --request-timeout + 2 s, names cloud unreachable, and shows onprem', async () => {
      const {proxy, args} = await cloudThroughProxy();
      // timeout 0: the server's answers are dropped, and the connection is never closed.
      await toxiproxy.addToxic(proxy, {type: 'timeout', stream: 'downstream', attributes: {timeout: 0}});
      const started = Date.now();
      const table = await cli(['status', 'spread', '-n', namespace, '--request-timeout', '2s', ...args]);
      const ms = Date.now() - started;

      // The connections were taken, and left open: a stall, not a refusal.
      expect(toxiproxy.connections(proxy).accepted).toBeGreaterThan(0);
      expect(table.code).toBe(1);
      expect(table.stderr).not.toMatch(STACK);
      expect(table.stdout).toMatch(/^onprem \(home\)\s+Ready\s+cpu\s+3\s+2\s+0\s+1\s/m);
      expect(table.stdout).toMatch(/^cloud\s+Unreachable\s/m);
      expect(table.stderr).toMatch(/^warning: context "cloud" is unreachable: no answer within 2s \(--request-timeout\); check that the cluster of context "cloud" is up and reachable from here$/m);
      expect(ms).toBeLessThan(4000);
      console.log(`status with cloud stalled: ${ms} ms (--request-timeout 2s)`);

      const json = await cli(['status', 'spread', '-n', namespace, '-o', 'json', '--request-timeout', '2s', ...args]);
      const status = JSON.parse(json.stdout) as GroupStatusDocument;
      expect(status.clusters.map((c) => [c.context, c.state])).toEqual([['onprem', 'Ready'], ['cloud', 'Unreachable']]);
      expect(status.placeholders.map((p) => p.twin)).toEqual(['unknown']);
    });
  });

  describe('partition', () => {
    afterEach(async () => {
      await deletePlaced(fleet, namespace, 'apart', fleetArgs);
    });

    // Refused: the proxy stops listening, as for a cluster that is down. Blackholed: every byte is
    // dropped both ways and no connection is ever closed, as for a partition of the network itself,
    // which watch must notice from its requests going unanswered, not from its watches.
    const ways = [
      {how: 'refused', cut: (proxy: string) => toxiproxy.setEnabled(proxy, false), heal: (proxy: string) => toxiproxy.setEnabled(proxy, true)},
      {
        how: 'blackholed',
        cut: async (proxy: string) => {
          for (const stream of ['upstream', 'downstream'] as const) await toxiproxy.addToxic(proxy, {name: `blackhole_${stream}`, type: 'timeout', stream, attributes: {timeout: 0}});
        },
        heal: async (proxy: string) => {
          for (const stream of ['upstream', 'downstream']) await toxiproxy.removeToxic(proxy, `blackhole_${stream}`);
        },
      },
    ];
    it.each(ways)('cloud $how during watch: nothing is deleted in it or because of it while it is away, and the group converges once it is back', async ({cut, heal}) => {
      const onprem = fleet.cluster('onprem');
      const cloud = fleet.cluster('cloud');
      const podsOf = await placeRunning('apart');
      const first = await growPastHome('apart', podsOf);
      expect((await cli(['span', 'apart', '-n', namespace, ...fleetArgs])).code).toBe(0);
      const twin = await waitFor('the first remote worker Running in cloud', async () => {
        const pod = (await remoteWorkerOf(onprem, cloud, namespace, first)) as Pod | undefined;
        return pod?.status?.phase === 'Running' ? pod : undefined;
      });
      const placeholder = (await podsOf()).find((p) => p.metadata?.name === twin.metadata?.name)!;
      expect(placeholder.metadata?.labels?.[ROLE]).toBe('placeholder');

      const {proxy, args} = await cloudThroughProxy();
      const watch = startWatch(['-o', 'json', '-n', namespace, '--request-timeout', '3s', ...args]);
      type Line = {type: string; context?: string; state?: string; groups?: Array<{key: string}>; stuck?: Array<{pending: string}>};
      const parsed = () => watch.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
      const seen = (match: (l: Line) => boolean) => () => (parsed().some(match) ? true : undefined);
      const running = {giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined)};
      try {
        await waitFor('watch watching the group', seen((l) => l.type === 'groups' && (l.groups ?? []).some((g) => g.key === `${namespace}/raycluster/apart`)), running);
        // Cut off only once watch has caught up with the span: the placeholder's gate follows its
        // twin's Ready, and no pass holds the group's lease. What it writes after is because of the partition.
        await waitFor(
          'watch done with the span',
          async () => {
            const ready = remoteReadyOf(await onprem.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace));
            return ready && !(await onprem.find(RESOURCES.leases, 'superskyray-raycluster-apart', namespace)) ? true : undefined;
          },
          running,
        );
        await cut(proxy);
        const since = new Date().toISOString();
        // The app grows while cloud is away: the new worker waits at home, and nothing else moves.
        // Placing it is what asks cloud something: watch marks cloud Degraded by then, at the latest.
        await onprem.patch(RESOURCES.rayclusters, 'apart', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 4}], 'json');
        const waiting = await waitFor('the 4th worker Pending at home', async () => (await podsOf()).find((p) => PENDING(p) && !p.metadata?.labels?.[ROLE])?.metadata?.name);
        await waitFor('watch to mark cloud degraded', seen((l) => l.type === 'cluster' && l.context === 'cloud' && l.state === 'Degraded'), {timeoutMs: 30_000, ...running});
        await waitFor('watch to find no room for it anywhere it can see', seen((l) => l.type === 'pass' && (l.stuck ?? []).some((s) => s.pending === waiting)), {timeoutMs: 30_000, ...running});
        expect((await podsOf()).find((p) => p.metadata?.uid === placeholder.metadata?.uid)?.metadata?.labels?.[ROLE]).toBe('placeholder');
        expect((await cloud.get<Pod>(RESOURCES.pods, twin.metadata?.name ?? '', namespace)).metadata?.uid).toBe(twin.metadata?.uid);
        expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);
        expect(toolRequests(auditLog('cloud'), since).all).toEqual([]);

        await heal(proxy);
        const cloudStates = () => parsed().filter((l) => l.type === 'cluster' && l.context === 'cloud').map((l) => l.state);
        await waitFor('watch to see cloud back', () => (cloudStates().join(',').endsWith('Degraded,Ready') ? true : undefined), {timeoutMs: 60_000, ...running});
        // Converged: the worker that waited is spanned now, and the first twin was never touched.
        await waitFor('the waiting worker spanned to cloud', async () => ((await remoteWorkerOf(onprem, cloud, namespace, waiting)) ? true : undefined), {timeoutMs: 60_000, ...running});
        expect((await cloud.get<Pod>(RESOURCES.pods, twin.metadata?.name ?? '', namespace)).metadata?.uid).toBe(twin.metadata?.uid);
        expect((await onprem.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace)).metadata?.uid).toBe(placeholder.metadata?.uid);
        expect(await remoteWorkers('apart')).toHaveLength(2);
      } finally {
        watch.child.kill('SIGTERM');
      }
      expect(await watch.exited).toBe(0);
      expect(watch.lines.filter((l) => STACK.test(l))).toEqual([]);
    });

    // Cut off behind the fault proxy, the watch streams watch had open stay open and carry nothing
    // more (a half-open connection after a partition): what watch holds of cloud is then older than
    // cloud, and says nothing of it. (Refused and blackholed streams end or catch up by themselves:
    // the test above.)
    it('cloud cut off with its watch streams left open, while another run spans there and KubeRay then deletes that placeholder: watch ends the remote worker once cloud is back, not at a resync', async () => {
      const {cut, heal} = ways[0]!;
      const onprem = fleet.cluster('onprem');
      const cloud = fleet.cluster('cloud');
      const podsOf = await placeRunning('apart');
      const {proxy, args} = await cloudThroughProxy({halfOpen: true});
      const watch = startWatch(['-o', 'json', '-n', namespace, '--request-timeout', '3s', ...args]);
      type Line = {type: string; context?: string; state?: string; trigger?: string; groups?: Array<{key: string}>; steps?: Array<{context: string; action: string; object: string}>};
      const parsed = () => watch.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
      const seen = (match: (l: Line) => boolean) => () => (parsed().some(match) ? true : undefined);
      const running = {giveUp: () => (watch.child.exitCode !== null ? `watch exited: ${watch.lines.join('\n')}` : undefined)};
      try {
        await waitFor('watch watching the group', seen((l) => l.type === 'groups' && (l.groups ?? []).some((g) => g.key === `${namespace}/raycluster/apart`)), running);
        // watch spans a third worker itself: then it has read cloud's pods through its watch of them.
        await onprem.patch(RESOURCES.rayclusters, 'apart', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
        await waitFor(
          'watch done spanning the third worker',
          async () => {
            const placeholder = (await podsOf()).find((p) => p.metadata?.labels?.[ROLE] === 'placeholder');
            return placeholder && remoteReadyOf(placeholder) && !(await onprem.find(RESOURCES.leases, 'superskyray-raycluster-apart', namespace)) ? true : undefined;
          },
          running,
        );
        await cut(proxy);
        await onprem.patch(RESOURCES.rayclusters, 'apart', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 4}], 'json');
        const fourth = await waitFor('the 4th worker Pending at home', async () => (await podsOf()).find((p) => PENDING(p) && !p.metadata?.labels?.[ROLE])?.metadata?.name);
        await waitFor('watch to mark cloud degraded', seen((l) => l.type === 'cluster' && l.context === 'cloud' && l.state === 'Degraded'), {timeoutMs: 30_000, ...running});
        // Another run, which reaches cloud, spans it there meanwhile.
        expect((await cli(['span', 'apart', '-n', namespace, ...fleetArgs])).code).toBe(0);
        const twin = await waitFor('the 4th worker\'s remote worker Running in cloud', async () => {
          const pod = (await remoteWorkerOf(onprem, cloud, namespace, fourth)) as Pod | undefined;
          return pod?.status?.phase === 'Running' ? pod : undefined;
        });
        const name = twin.metadata?.name ?? '';
        // Then a deliberate shrink, as the autoscaler makes it: that very worker goes.
        await onprem.patch(
          RESOURCES.rayclusters,
          'apart',
          namespace,
          [
            {op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3},
            {op: 'add', path: '/spec/workerGroupSpecs/0/scaleStrategy', value: {workersToDelete: [name]}},
          ],
          'json',
        );
        await waitFor(`placeholder ${name} gone at home`, async () => ((await podsOf()).some((p) => p.metadata?.name === name) ? undefined : true), {timeoutMs: 30_000, ...running});
        expect((await cloud.get<Pod>(RESOURCES.pods, name, namespace)).metadata?.uid).toBe(twin.metadata?.uid);

        await heal(proxy);
        // No remote worker outlives its placeholder by more than a pass once its cluster answers;
        // the resync (a minute) is only the backstop, and reads what watch holds.
        const deleted = await waitFor(
          `watch to delete remote worker ${name} in cloud`,
          () => parsed().find((l) => l.type === 'pass' && (l.steps ?? []).some((s) => s.context === 'cloud' && s.action === 'delete' && s.object === `pod/${name}`)),
          {timeoutMs: 45_000, ...running},
        );
        expect(deleted.trigger).not.toBe('resync');
        await waitFor(`remote worker ${name} gone from cloud`, async () => ((await cloud.find<Pod>(RESOURCES.pods, name, namespace)) ? undefined : true), running);
      } finally {
        watch.child.kill('SIGTERM');
      }
      expect(await watch.exited).toBe(0);
      expect(watch.lines.filter((l) => STACK.test(l))).toEqual([]);
    });
  });
});
