/**
 * Remote workers that never join: one that cannot start in the cluster it was sent to (its image
 * cannot be pulled there, its init container never sees the head's GCS, no node there takes it) is
 * given up on, and that cluster is not tried again for its worker group until the group's template
 * changes. The record lives on the group's Ray object, so that any run, on any machine, knows it.
 */
import {createHash} from 'node:crypto';
import type {KubeObject, Pod} from '../kube/types.js';
import type {WorkerGroupTemplate} from './swap.js';

/** On the group's top Ray object: per worker group and cluster id, the remote worker that did not join there. */
export const NOT_JOINED_ANNOTATION = 'superskyray.io/not-joined';

/** How long a remote worker may take to start before it is given up on, unless a flag says otherwise. */
export const DEFAULT_JOIN_TIMEOUT_MS = 5 * 60_000;

/** Container states that no retry ends: the pod will not start as it is. */
const BROKEN = new Set(['InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError']);
/**
 * Container states a retry may end (a registry that throttles, a head that restarts), given up on
 * once they have lasted STUCK_GRACE_MS, or the bound when it is shorter.
 */
const STUCK = new Set(['ImagePullBackOff', 'ErrImagePull', 'CreateContainerError', 'RunContainerError', 'CrashLoopBackOff']);
export const STUCK_GRACE_MS = 60_000;

export interface NotJoined {
  /** templateHash of the worker group when it did not join: a changed template is tried again. */
  template: string;
  reason: string;
  at: string;
}

/** Worker group -> cluster id -> the remote worker that did not join there. */
export type NotJoinedRecord = Record<string, Record<string, NotJoined>>;

/** A short, stable digest of a worker group's pod template. */
export function templateHash(group: WorkerGroupTemplate): string {
  return createHash('sha256').update(stableJson(group.template ?? {})).digest('hex').slice(0, 12);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The record on a Ray object; an unreadable one (edited by hand) counts as none. */
export function notJoinedOf(object: KubeObject): NotJoinedRecord {
  try {
    const parsed = JSON.parse(object.metadata?.annotations?.[NOT_JOINED_ANNOTATION] ?? '{}') as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as NotJoinedRecord) : {};
  } catch {
    return {};
  }
}

/** The record with one more cluster a worker group did not join in, as the merge patch of the Ray object's annotation. */
export function notJoinedPatch(object: KubeObject, workerGroup: string, cluster: string, entry: NotJoined): {metadata: {annotations: Record<string, string>}} {
  const record = notJoinedOf(object);
  record[workerGroup] = {...record[workerGroup], [cluster]: entry};
  return {metadata: {annotations: {[NOT_JOINED_ANNOTATION]: JSON.stringify(record)}}};
}

/** Why a worker group's remote workers are not sent to a cluster again, or undefined when they may be. */
export function notJoinedThere(record: NotJoinedRecord, workerGroup: string, cluster: string, hash: string): NotJoined | undefined {
  const entry = record[workerGroup]?.[cluster];
  return entry?.template === hash ? entry : undefined;
}

/**
 * Why a remote worker has not joined and will not, or undefined while it may yet. Only one never
 * seen Ready counts (its placeholder's readiness gate was never written, and it is not Ready now):
 * a worker that ran and joined is not given up on for being unready a while. A container in a
 * state no retry ends (an invalid image name, a missing ConfigMap key) counts at once, one a retry
 * may end (an image pull backing off, a crash loop) once it has lasted a minute; otherwise the
 * worker has `boundMs` from its creation to become Ready (scheduled there, its init containers
 * done, the head's GCS reached). Its age is this machine's clock against the API server's
 * creationTimestamp: clocks apart by minutes shorten or lengthen the bound as much.
 */
export function notJoining(remote: Pod, everReady: boolean, now: number, boundMs: number): string | undefined {
  if (everReady || remote.metadata?.deletionTimestamp || !Number.isFinite(boundMs)) return undefined;
  const created = Date.parse(remote.metadata?.creationTimestamp ?? '');
  const age = Number.isNaN(created) ? 0 : now - created;
  const statuses = [...((remote.status?.initContainerStatuses as ContainerStatus[] | undefined) ?? []), ...((remote.status?.containerStatuses as ContainerStatus[] | undefined) ?? [])];
  for (const s of statuses) {
    const waiting = s.state?.waiting;
    const lasting = waiting?.reason !== undefined && STUCK.has(waiting.reason) && age >= Math.min(STUCK_GRACE_MS, boundMs);
    if (waiting?.reason && (BROKEN.has(waiting.reason) || lasting)) return `container ${s.name} is ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`;
  }
  if (Number.isNaN(created) || age < boundMs) return undefined;
  const after = `${Math.round(boundMs / 1000)} s`;
  const condition = (type: string) => remote.status?.conditions?.find((c) => c.type === type);
  const scheduled = condition('PodScheduled');
  if (scheduled?.status !== 'True') return `it was not scheduled there within ${after}${scheduled?.message ? ` (${scheduled.message})` : ''}`;
  if (condition('Initialized')?.status !== 'True') return `its init containers did not finish within ${after} (wait-gcs-ready waits for the head's GCS)`;
  return `it was not Ready within ${after}`;
}

interface ContainerStatus {
  name: string;
  state?: {waiting?: {reason?: string; message?: string}};
}
