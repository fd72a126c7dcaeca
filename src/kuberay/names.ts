import {InputError} from '../errors.js';
import type {RayKind} from './demand.js';

/**
 * The names KubeRay gives to what it creates for a RayCluster. Pure string functions: the callers
 * pass the live RayCluster's name, which for a RayService or RayJob is `<owner>-<5 random chars>`
 * and so only known once KubeRay created it.
 */

/**
 * Longest pod-name prefix KubeRay keeps: 63 - len("-worker-") - 5 generated characters
 * (utils.PodName). Longer prefixes are cut, keeping the start.
 */
export const MAX_POD_NAME_PREFIX = 50;

/** KubeRay's default cluster domain (utils.DefaultDomainName; the operator's CLUSTER_DOMAIN overrides it). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** The GCS port when the head's rayStartParams have no `port` (utils.DefaultGcsServerPort). */
export const DEFAULT_GCS_PORT = 6379;

// utils.PodName: cut the prefix to its first 50 characters, then append the node type, and lower-case
// the whole (a groupName may carry capitals; a pod name may not).
function podNameBase(prefix: string, nodeType: 'head' | 'worker'): string {
  return `${prefix.slice(0, MAX_POD_NAME_PREFIX)}-${nodeType}`.toLowerCase();
}

/**
 * The generateName of a worker group's pods: `<cluster>-<group>-worker-` when `<cluster>-<group>`
 * has at most 50 characters. KubeRay (raycluster_controller.buildWorkerPod -> utils.PodName)
 * keeps only the first 50, so two groups whose names differ after that share one prefix; KubeRay
 * still tells them apart by the `ray.io/group` label, not by name.
 */
export function workerPodGenerateName(clusterName: string, groupName: string): string {
  return `${podNameBase(`${clusterName}-${groupName}`, 'worker')}-`;
}

/** The head pod's generateName, `<cluster>-head-` (buildHeadPod -> utils.PodName, same 50-character cut). */
export function headPodGenerateName(clusterName: string): string {
  return `${podNameBase(clusterName, 'head')}-`;
}

/**
 * The head pod's fixed name when the operator runs with ENABLE_DETERMINISTIC_HEAD_POD_NAME=true:
 * `<cluster>-head`, with the same cut (utils.PodName with isGenerateName false).
 */
export function deterministicHeadPodName(clusterName: string): string {
  return podNameBase(clusterName, 'head');
}

function customHeadServiceName(clusterSpec: unknown): string | undefined {
  const spec = asRecord(clusterSpec);
  const head = asRecord(spec?.['headGroupSpec']);
  const service = asRecord(head?.['headService']);
  const metadata = asRecord(service?.['metadata']);
  const name = metadata?.['name'];
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * The head Service that `owner` owns (utils.GenerateHeadServiceName):
 * - a RayCluster's: `headGroupSpec.headService.metadata.name` when set, else `<cluster>-head-svc`.
 *   This is the one worker pods dial (utils.GenerateFQDNServiceName always asks for the
 *   RayCluster's own Service), so it is the one a remote worker needs reachable.
 * - a RayService's or RayJob's: always `<owner>-head-svc`, never the custom name. A RayService keeps
 *   this second Service pointed at whichever of its RayClusters is active (zero-downtime upgrades);
 *   a RayJob's points at its one RayCluster. Workers do not use it.
 * There is no length cut: KubeRay keeps names short enough instead (RayCluster at most 53
 * characters, RayService and RayJob at most 47).
 */
export function headServiceName(kind: RayKind, ownerName: string, clusterSpec?: unknown): string {
  const generated = `${ownerName}-head-svc`;
  return kind === 'RayCluster' ? (customHeadServiceName(clusterSpec) ?? generated) : generated;
}

/** `<service>.<namespace>.svc.<cluster domain>`, the address KubeRay gives workers (FQ_RAY_IP). */
export function headServiceFqdn(serviceName: string, namespace: string, clusterDomain: string = DEFAULT_CLUSTER_DOMAIN): string {
  return `${serviceName}.${namespace}.svc.${clusterDomain}`;
}

/**
 * The GCS port workers connect to: the head's rayStartParams `port`, else 6379
 * (common.GetHeadPort). KubeRay passes the string through unchecked; a value that is not a port
 * number would only fail inside the pods, so it is an InputError here.
 */
export function gcsPort(headRayStartParams?: unknown): number {
  const params = asRecord(headRayStartParams);
  const value = params?.['port'];
  if (value === undefined || value === null) return DEFAULT_GCS_PORT;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text === 'string' && /^[0-9]{1,5}$/.test(text)) {
    const port = Number(text);
    if (port >= 1 && port <= 65535) return port;
  }
  throw new InputError(
    `headGroupSpec.rayStartParams.port is ${JSON.stringify(value)}, not a port number`,
    `Set rayStartParams.port to a number from 1 to 65535 in quotes, such as "6379", or remove it to use ${DEFAULT_GCS_PORT}.`,
  );
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
