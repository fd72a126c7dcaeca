import type {ClusterStatus, FleetStatus} from '../reconcile/fleet-status.js';
import {renderTable} from './table.js';
import {formatUse, toDocumentAmount} from './units.js';

const NONE = '-';

function use(cluster: ClusterStatus, resource: string): string {
  const found = cluster.capacity?.resources[resource];
  return found ? formatUse(resource, found) : NONE;
}

/** The fleet as a table: one row per context, most preferred first. */
export function renderFleetTable(status: FleetStatus, wide: boolean): string {
  const headers = ['CONTEXT', 'STATUS', 'VERSION', 'CLUSTER-ID', 'NODES', 'CPU', 'MEMORY', 'GPU', 'PENDING'];
  if (wide) headers.push('PODS', 'SERVER');
  const rows = status.clusters.map((cluster) => {
    const capacity = cluster.capacity;
    const row = [
      cluster.context,
      cluster.state,
      cluster.version ?? NONE,
      cluster.clusterId ? (wide ? cluster.clusterId : cluster.clusterId.slice(0, 8)) : NONE,
      capacity ? `${capacity.nodes.ready}/${capacity.nodes.total}` : NONE,
      use(cluster, 'cpu'),
      use(cluster, 'memory'),
      use(cluster, 'nvidia.com/gpu'),
      capacity ? String(capacity.pods.pending) : NONE,
    ];
    if (wide) row.push(use(cluster, 'pods'), cluster.server);
    return row;
  });
  return renderTable(headers, rows);
}

/** One line per problem, for stderr: what is wrong where, and the fix. */
export function renderProblems(status: FleetStatus): string[] {
  return status.clusters.flatMap((cluster) =>
    cluster.problems.map(
      (problem) => `warning: context "${cluster.context}" is ${cluster.state.toLowerCase()}: ${problem.message}${problem.fix ? `; ${problem.fix}` : ''}`,
    ),
  );
}

/** The fleet as data, for -o json and -o yaml: cpu in cores, memory and storage in bytes. */
export function fleetStatusDocument(status: FleetStatus): unknown {
  return {
    apiVersion: 'superskyray.io/v1alpha1',
    kind: 'FleetStatus',
    clusters: status.clusters.map((cluster) => ({
      context: cluster.context,
      server: cluster.server,
      state: cluster.state,
      reachable: cluster.state !== 'Unreachable',
      ...(cluster.problems.length > 0 ? {problems: cluster.problems} : {}),
      ...(cluster.version ? {version: cluster.version} : {}),
      ...(cluster.clusterId ? {clusterId: cluster.clusterId} : {}),
      ...(cluster.capacity
        ? {
            nodes: cluster.capacity.nodes,
            pods: cluster.capacity.pods,
            resources: Object.fromEntries(
              Object.entries(cluster.capacity.resources).map(([name, amounts]) => [
                name,
                {allocatable: toDocumentAmount(name, amounts.allocatable), requested: toDocumentAmount(name, amounts.requested)},
              ]),
            ),
          }
        : {}),
    })),
  };
}
