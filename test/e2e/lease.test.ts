import * as os from 'node:os';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject} from '../../src/kube/types.js';
import {RUN} from '../../src/kube/identity.js';
import {GroupLease} from '../../src/reconcile/lease.js';
import {freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';

const kubeconfig = inject('kubeconfig');
type Lease = KubeObject & {spec?: {holderIdentity?: string; acquireTime?: string; renewTime?: string; leaseTransitions?: number}};

describe('the per-group Lease, on a real API server', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'lease');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  const lease = (group: string, signal?: AbortSignal) => new GroupLease(fleet.cluster('onprem'), namespace, group, 'RayCluster', {signal, durationSeconds: 30});
  const read = (group: string) => fleet.cluster('onprem').find<Lease>(RESOURCES.leases, `superskyray-raycluster-${group}`, namespace);

  it('lets one run hold it; a second waits, then says who holds it; release hands it over and leaves nothing behind', async () => {
    const first = lease('one');
    await first.acquire();
    expect((await read('one'))?.spec?.holderIdentity).toBe(first.holder);

    const waiting: string[] = [];
    const second = new GroupLease(fleet.cluster('onprem'), namespace, 'one', 'RayCluster', {signal: AbortSignal.timeout(1500), onWait: (h) => waiting.push(h)});
    const error = await second.acquire().then(
      () => new Error('the second run took a lease that was held'),
      (err: Error) => err,
    );
    expect(waiting).toEqual([first.holder]);
    expect(error.message).toMatch(new RegExp(`^lease ${namespace}/superskyray-raycluster-one in context "onprem" is held by ${first.holder.replace(/[/.]/g, '\\$&')} \\(renewed `));

    await first.release();
    expect(await read('one')).toBeUndefined();
    const third = lease('one');
    await third.acquire();
    expect(third.waited).toBe(false);
    await third.release();
  });

  it('takes over a lease whose holder stopped renewing, and one whose process on this machine is gone', async () => {
    const onprem = fleet.cluster('onprem');
    const stale = new Date(Date.now() - 60_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await onprem.create(RESOURCES.leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {name: 'superskyray-raycluster-stale', namespace},
      spec: {holderIdentity: 'kubectl-superskyray/elsewhere/1/abc', leaseDurationSeconds: 30, renewTime: stale, acquireTime: stale, leaseTransitions: 2},
    });
    const taker = lease('stale');
    await taker.acquire();
    const taken = await read('stale');
    expect(taken?.spec?.holderIdentity).toBe(taker.holder);
    expect(taken?.spec?.leaseTransitions).toBe(3);
    await taker.release();

    // A fresh lease, but held by a process of this machine that no longer exists.
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await onprem.create(RESOURCES.leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {name: 'superskyray-raycluster-dead', namespace},
      spec: {holderIdentity: `kubectl-superskyray/${os.hostname()}/999999999/abc`, leaseDurationSeconds: 30, renewTime: now, acquireTime: now},
    });
    const heir = lease('dead', AbortSignal.timeout(5000));
    await heir.acquire();
    expect(heir.waited).toBe(false);
    expect((await read('dead'))?.spec?.holderIdentity).toBe(heir.holder);
    await heir.release();
  });

  it("takes at once a lease that names itself: its take went through, but the answer was lost", async () => {
    const mine = lease('lost', AbortSignal.timeout(5000));
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await fleet.cluster('onprem').create(RESOURCES.leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {name: 'superskyray-raycluster-lost', namespace},
      spec: {holderIdentity: mine.holder, leaseDurationSeconds: 30, renewTime: now, acquireTime: now},
    });
    // The holder is the run, as its User-Agent names it, and which of its leases.
    expect(mine.holder.startsWith(`kubectl-superskyray/${RUN}/`)).toBe(true);
    await mine.acquire();
    expect(mine.waited).toBe(false);
    expect(mine.held).toBe(true);
    const taken = await read('lost');
    expect(taken?.spec?.leaseTransitions ?? 0).toBe(0);
    expect(taken?.spec?.acquireTime).toBe(now);
    await mine.release();
    expect(await read('lost')).toBeUndefined();
  });
});
