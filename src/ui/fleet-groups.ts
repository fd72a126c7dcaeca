import type {ClusterWorkers, FleetGroups, ListedGroup} from '../reconcile/fleet-groups.js';
import {fleetStatusDocument, renderFleetTable} from './fleet-status.js';
import {renderTable} from './table.js';
import {age} from './units.js';

const NONE = '-';

/** A group as kubectl names it: kind/name, or the name alone when its home did not say the kind. */
function groupName(g: ListedGroup): string {
  return g.kind ? `${g.kind.toLowerCase()}/${g.name}` : g.name;
}

/** Where its workers are, cluster by cluster, leaving out what is none; `?` where a cluster could not be read. */
function workersCell(g: ListedGroup): string {
  const cell = (w: ClusterWorkers) => {
    if (!w.observed) return `${w.context}: ?`;
    const counts: Array<[number | undefined, string]> = [
      [w.local, 'local'],
      [w.placeholders, 'placeholder'],
      [w.remote, 'remote'],
      [w.pending, 'Pending'],
    ];
    const some = counts.filter(([n]) => n !== undefined && n > 0).map(([n, what]) => `${n} ${what}`);
    if (some.length > 0) return `${w.context}: ${some.join(', ')}`;
    return w.home ? `${w.context}: none` : undefined;
  };
  return g.workers.map(cell).filter(Boolean).join('; ') || NONE;
}

/** The groups as a table, one row per group; NAMESPACE only when every namespace is listed. */
export function renderGroupTable(status: FleetGroups, wide: boolean, now = Date.now()): string {
  const all = status.namespace === undefined;
  const headers = [...(all ? ['NAMESPACE'] : []), 'GROUP', 'HOME', 'MODE', 'WORKERS', 'AGE', 'REPAIR'];
  if (wide) headers.push('MESH', 'RELOCATE', 'REASONS');
  const rows = status.groups.map((g) => {
    const row = [...(all ? [g.namespace] : []), groupName(g), g.home, g.mode, workersCell(g), g.createdAt ? age(g.createdAt, now) : NONE, g.repairs.length > 0 ? String(g.repairs.length) : NONE];
    if (wide) row.push(g.mesh ?? NONE, g.relocate ?? NONE, [...g.repairs.map((r) => `${r.action} ${r.object} in ${r.context}: ${r.why}`), ...g.reasons].join('; ') || NONE);
    return row;
  });
  return renderTable(headers, rows);
}

/** The clusters, then the groups: `status -A` and `status -n NS`. */
export function renderFleetGroups(status: FleetGroups, wide: boolean, now = Date.now()): string {
  const where = status.namespace === undefined ? 'in any namespace' : `in namespace "${status.namespace}"`;
  const groups = status.groups.length > 0 ? renderGroupTable(status, wide, now) : `No groups of kubectl-superskyray ${where}.\n`;
  return `${renderFleetTable(status, wide)}\n${groups}`;
}

/** One line per degraded group, for stderr: which, and why. */
export function renderGroupProblems(status: FleetGroups): string[] {
  return status.groups.filter((g) => g.mode === 'degraded').map((g) => `warning: group ${groupName(g)} in ${g.namespace} is degraded: ${g.reasons.join('; ') || 'some of it could not be read'}`);
}

/** The clusters and the groups as data, for -o json and -o yaml. */
export function fleetGroupsDocument(status: FleetGroups): unknown {
  return {
    ...(fleetStatusDocument(status) as object),
    ...(status.namespace !== undefined ? {namespace: status.namespace} : {}),
    groups: status.groups.map((g) => ({
      namespace: g.namespace,
      ...(g.kind ? {kind: g.kind} : {}),
      name: g.name,
      home: g.home,
      ...(g.homeClusterId ? {homeClusterId: g.homeClusterId} : {}),
      mode: g.mode,
      ...(g.mesh ? {mesh: g.mesh} : {}),
      ...(g.relocate ? {relocate: g.relocate} : {}),
      workers: g.workers,
      ...(g.createdAt ? {createdAt: g.createdAt} : {}),
      repairs: g.repairs,
      reasons: g.reasons,
    })),
  };
}
