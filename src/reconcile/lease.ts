import * as os from 'node:os';
import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import {RUN} from '../kube/identity.js';
import {pause} from '../kube/retry.js';
import {RESOURCES} from '../kube/resources.js';
import {withTimeLimit} from '../kube/time-limit.js';
import type {KubeObject} from '../kube/types.js';
import {GROUP_LABEL, MANAGED_BY, MANAGED_BY_LABEL} from '../kuberay/labels.js';

interface LeaseObject extends KubeObject {
  spec?: {holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number};
}

/** The API's MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

let leasesMade = 0;

/**
 * kubectl-superskyray/<host>/<pid>/<random>/<n>: who holds it, and whether that process can still be
 * alive. <host>/<pid>/<random> is the run, as its User-Agent names it; <n> tells apart the leases of
 * one run, which never share a holder.
 */
function holderName(): string {
  return `kubectl-superskyray/${RUN}/${++leasesMade}`;
}

/** A holder on this machine whose process is gone cannot renew: waiting out its lease would only delay. */
function holderIsDeadHere(holder: string): boolean {
  const [, host, pid] = holder.split('/');
  if (host !== os.hostname() || !pid || !/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Another run holds the group's lease and went on holding it for as long as this one would wait. */
export class LeaseHeldError extends Error {
  override readonly name = 'LeaseHeldError';
}

export interface LeaseOptions {
  durationSeconds?: number;
  signal?: AbortSignal;
  /** Called once when another holder makes us wait. */
  onWait?: (holder: string) => void;
}

/**
 * One writer per group at a time (docs/design.md §5): a coordination.k8s.io Lease in the group's home
 * namespace, taken before the first write and renewed while working. A holder whose lease ran out,
 * or whose process on this machine is gone, is taken over. Released by deleting it, so that no
 * object of ours stays behind when no one is working.
 */
export class GroupLease {
  readonly name: string;
  readonly holder = holderName();
  private resourceVersion?: string;
  /** When the last take or renewal that went through was sent: others may take the Lease `duration` after it. */
  private renewedAt = 0;
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  /** Set when a renewal found someone else holding it, or none went through for too long: acting must stop. */
  lost?: string;
  /** True when taking it meant waiting for someone else: what was observed before may be stale. */
  waited = false;

  constructor(
    private readonly client: ClusterClient,
    private readonly namespace: string,
    private readonly group: string,
    kind: string,
    private readonly options: LeaseOptions = {},
  ) {
    this.name = `superskyray-${kind.toLowerCase()}-${group}`.slice(0, 253);
  }

  get held(): boolean {
    return this.resourceVersion !== undefined && !this.lost;
  }

  private get duration(): number {
    return this.options.durationSeconds ?? 30;
  }

  /** Takes the lease, waiting for another holder to finish; throws at the deadline, naming the holder. */
  async acquire(waitSignal?: AbortSignal): Promise<void> {
    if (this.held) return;
    const signal = waitSignal ?? this.options.signal;
    let told = false;
    let seen: LeaseObject['spec'];
    const heldBy = (spec: NonNullable<LeaseObject['spec']>) =>
      new LeaseHeldError(
        `lease ${this.namespace}/${this.name} in context "${this.client.context}" is held by ${spec.holderIdentity} (renewed ${spec.renewTime}); another run is changing this group, so wait for it to finish and run again`,
      );
    for (;;) {
      const now = new Date();
      let current: LeaseObject | undefined;
      try {
        current = await this.client.find<LeaseObject>(RESOURCES.leases, this.name, this.namespace, signal);
      } catch (err) {
        // The deadline fell while we waited: say who we were waiting for, not that a read timed out.
        if (signal?.aborted && seen) throw heldBy(seen);
        throw err;
      }
      const spec = {holderIdentity: this.holder, leaseDurationSeconds: this.duration, acquireTime: microTime(now), renewTime: microTime(now)};
      try {
        if (!current) {
          const created = await this.client.create<LeaseObject>(RESOURCES.leases, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {name: this.name, namespace: this.namespace, labels: {[MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: this.group}},
            spec: {...spec, leaseTransitions: 0},
          }, {signal});
          return this.took(created, now.getTime());
        }
        const holder = current.spec?.holderIdentity ?? '';
        const renewed = Date.parse(current.spec?.renewTime ?? current.spec?.acquireTime ?? '') || 0;
        const expired = renewed + (current.spec?.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
        // Our own name on it is a take whose answer was lost (a timeout, a 500 after the write):
        // waiting for it to expire would be waiting for ourselves.
        const ours = holder === this.holder;
        if (holder === '' || ours || expired || holderIsDeadHere(holder)) {
          // Taking back our own is no transition: the Lease has been ours since it says so.
          const transitions = (current.spec?.leaseTransitions ?? 0) + (ours ? 0 : 1);
          const taken = await this.client.patch<LeaseObject>(
            RESOURCES.leases,
            this.name,
            this.namespace,
            {metadata: {resourceVersion: current.metadata?.resourceVersion}, spec: {...spec, ...(ours ? {acquireTime: current.spec?.acquireTime} : {}), leaseTransitions: transitions}},
            'merge',
            {signal},
          );
          return this.took(taken, now.getTime());
        }
        if (!told) {
          this.options.onWait?.(holder);
          told = true;
        }
        this.waited = true;
        seen = current.spec;
        if (signal?.aborted) throw heldBy(seen!);
        await pause(1000, signal);
      } catch (err) {
        // Someone else created or took it between our read and our write: look again.
        if (!(err instanceof KubeError && err.code === 409)) throw err;
      }
    }
  }

  /** Held from here: one renewal timer, whatever became of an earlier hold. */
  private took(lease: LeaseObject, sentAt: number): void {
    this.resourceVersion = lease.metadata?.resourceVersion;
    this.renewedAt = sentAt;
    this.lost = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.renewing = this.renew();
    }, (this.duration * 1000) / 3);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.lost) return;
    const sentAt = Date.now();
    try {
      const renewed = await this.client.patch<LeaseObject>(
        RESOURCES.leases,
        this.name,
        this.namespace,
        [
          {op: 'test', path: '/spec/holderIdentity', value: this.holder},
          {op: 'replace', path: '/spec/renewTime', value: microTime(new Date(sentAt))},
        ],
        'json',
        {signal: this.options.signal},
      );
      this.resourceVersion = renewed.metadata?.resourceVersion;
      this.renewedAt = sentAt;
    } catch (err) {
      if (err instanceof KubeError && (err.code === 422 || err.code === 404)) {
        this.lost = `lease ${this.namespace}/${this.name} was taken over by another run`;
        return;
      }
      // A throttled or failing API server: the next tick tries again, but the run stops acting once
      // two thirds of the Lease's duration went by without a renewal. The last third is its margin:
      // from the end of the duration another run may take the Lease.
      const silentMs = Date.now() - this.renewedAt;
      if (silentMs >= (this.duration * 1000 * 2) / 3) {
        this.lost = `the lease could not be renewed for ${Math.round(silentMs / 1000)}s: ${(err as Error).message}`;
      }
    }
  }

  /** Throws if the lease was lost while working: another run may be acting on the group now. */
  check(): void {
    if (this.lost) throw new Error(`stopped: ${this.lost}; run the command again once the other run is done`);
  }

  /**
   * Lets the lease go: deletes it only if it is as last seen, so a Lease another run took meanwhile
   * (its resourceVersion changed) is left alone. One this run stopped renewing still goes, if no
   * one took it: the next run need not wait it out.
   */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.renewing;
    if (this.resourceVersion === undefined) return;
    try {
      await this.client.delete(RESOURCES.leases, this.name, this.namespace, {resourceVersion: this.resourceVersion});
    } catch (err) {
      if (!(err instanceof KubeError && (err.code === 404 || err.code === 409))) throw err;
    } finally {
      this.resourceVersion = undefined;
    }
  }
}

/** Where a command keeps its lease across passes; released in the command's finally. */
export interface LeaseSlot {
  lease?: GroupLease;
}

/**
 * Holds the group's lease before a write. Returns true when taking it meant waiting for another
 * run: the caller must observe again before acting, since that run may have changed the group.
 */
export async function holdLease(
  slot: LeaseSlot,
  state: {home: {client: ClusterClient}; namespace: string; name: string; kind: string},
  options: LeaseOptions & {waitMs?: number},
): Promise<boolean> {
  slot.lease ??= new GroupLease(state.home.client, state.namespace, state.name, state.kind, options);
  if (slot.lease.held) {
    slot.lease.check();
    return false;
  }
  const {signal, waitMs} = options;
  if (waitMs === undefined) await slot.lease.acquire();
  else await withTimeLimit(signal, waitMs, () => new Error(`the lease was not free within ${waitMs / 1000}s`), (limited) => slot.lease!.acquire(limited));
  return slot.lease.waited;
}
