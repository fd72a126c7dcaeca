import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';
import type {ClusterClient} from '../../../src/kube/client.js';
import {KubeError} from '../../../src/kube/errors.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject} from '../../../src/kube/types.js';
import {GroupLease} from '../../../src/reconcile/lease.js';

type Lease = KubeObject & {spec?: {holderIdentity?: string; renewTime?: string}};

/**
 * One Lease in a stand-in API server, narrow on purpose: what GroupLease asks of it, and renewals
 * that fail as the test says. The Lease's life on a real API server is test/e2e/lease.test.ts's.
 */
function server(failRenewal: (n: number) => KubeError | undefined) {
  let lease: Lease | undefined;
  let version = 0;
  const renewals: Array<'ok' | 'failed'> = [];
  const client = {
    context: 'onprem',
    find: async () => (lease ? structuredClone(lease) : undefined),
    create: async (_type: unknown, obj: Lease) => {
      lease = {...obj, metadata: {...obj.metadata, resourceVersion: String(++version)}};
      return structuredClone(lease);
    },
    patch: async (_type: unknown, _name: string, _ns: string, patch: unknown, patchType: string) => {
      if (patchType === 'json') {
        const error = failRenewal(renewals.length);
        renewals.push(error ? 'failed' : 'ok');
        if (error) throw error;
        const [test, replace] = patch as [{value: string}, {value: string}];
        if (lease?.spec?.holderIdentity !== test.value) throw new KubeError({context: 'onprem', code: 422, reason: 'Invalid', message: 'test failed'});
        lease = {...lease, metadata: {...lease.metadata, resourceVersion: String(++version)}, spec: {...lease.spec, renewTime: replace.value}};
      } else {
        const merge = patch as {spec: Lease['spec']};
        lease = {...lease, metadata: {...lease?.metadata, resourceVersion: String(++version)}, spec: {...lease?.spec, ...merge.spec}};
      }
      return structuredClone(lease);
    },
    delete: async () => {
      lease = undefined;
    },
  };
  return {client: client as unknown as ClusterClient, renewals, lease: () => lease};
}

const unavailable = () => new KubeError({context: 'onprem', code: 503, reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request'});

const leases: GroupLease[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  for (const l of leases.splice(0)) await l.release();
  vi.useRealTimers();
});

/** A Lease of 0.6 s: a renewal every 200 ms, given up as lost after 400 ms without one. */
function lease(client: ClusterClient): GroupLease {
  const l = new GroupLease(client, 'ml', 'app', 'RayCluster', {durationSeconds: 0.6});
  leases.push(l);
  return l;
}
const tick = () => vi.advanceTimersByTimeAsync(200);

describe('GroupLease renewals', () => {
  it('keeps the Lease through a renewal that failed, trying again at the next tick', async () => {
    const s = server((n) => (n === 0 ? unavailable() : undefined));
    const l = lease(s.client);
    await l.acquire();
    for (let i = 0; i < 3; i++) await tick();
    expect(s.renewals).toEqual(['failed', 'ok', 'ok']);
    expect(l.held).toBe(true);
    expect(() => l.check()).not.toThrow();
  });

  it('stops acting once renewals fail for two thirds of the duration; taken back, it renews again on one timer', async () => {
    let failing = true;
    const s = server(() => (failing ? unavailable() : undefined));
    const l = lease(s.client);
    await l.acquire();
    await tick();
    expect(l.held).toBe(true);
    await tick();
    expect(l.held).toBe(false);
    expect(() => l.check()).toThrow(/^stopped: the lease could not be renewed for 0s: context "onprem": the server is currently unable/);
    expect(s.renewals).toEqual(['failed', 'failed']);
    expect(s.lease()?.spec?.holderIdentity).toBe(l.holder);

    // Its name is still on it, so no one else took it: taken back at once, and renewed once a tick.
    failing = false;
    await l.acquire();
    expect(l.held).toBe(true);
    expect(l.waited).toBe(false);
    await tick();
    await tick();
    expect(s.renewals).toEqual(['failed', 'failed', 'ok', 'ok']);
  });

  it('says the Lease was taken when a renewal finds another holder', async () => {
    const s = server(() => undefined);
    const l = lease(s.client);
    await l.acquire();
    await s.client.patch(RESOURCES.leases, 'superskyray-raycluster-app', 'ml', {spec: {holderIdentity: 'kubectl-superskyray/elsewhere/1/abc/1'}}, 'merge');
    await tick();
    expect(l.held).toBe(false);
    expect(() => l.check()).toThrow('stopped: lease ml/superskyray-raycluster-app was taken over by another run');
  });
});
