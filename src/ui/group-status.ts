import type {GroupCluster, GroupStatus, WorkerCounts} from '../reconcile/group-status.js';
import {renderTable} from './table.js';

/** Not applicable here (a count another kind of cluster has). */
const NONE = '-';
/** Not known: the cluster did not answer. Never shown as zero. */
const UNKNOWN = '?';

function contextCell(cluster: GroupCluster): string {
  return cluster.home ? `${cluster.context} (home)` : cluster.context;
}

function count(value: number | undefined): string {
  return value === undefined ? NONE : String(value);
}

function headline(status: GroupStatus): string[] {
  const lines = [
    `${status.kind.toLowerCase()}/${status.group} in ${status.namespace}: ${status.mode}${status.relocatingTo ? ` to ${status.relocatingTo}` : ''}, home ${status.home}, RayCluster ${status.rayCluster ?? 'none yet'}, mesh ${status.mesh}, relocate ${status.relocate}, autoscaling ${status.autoscaling ? 'on' : 'off'}`,
  ];
  const head = status.head;
  lines.push(head ? `head ${head.name}: ${head.phase}${head.node ? ` on ${head.node}` : ''}` : `head: no head pod in ${status.home}`);
  for (const other of status.otherRayClusters) {
    const where = other.remote.map((r) => `${r.workers} remote worker(s) in ${r.context}`).join(', ') || 'no remote worker';
    lines.push(`also RayCluster ${other.name}, ${other.exists ? 'the other of the two a RayService switches between' : 'gone: what was made for it goes on the next pass'}: ${where}`);
  }
  return lines;
}

function workerRows(status: GroupStatus): string[][] {
  const replicas = new Map(status.workerGroups.map((g) => [g.name, g.replicas]));
  return status.clusters.flatMap((cluster) => {
    const lead = [contextCell(cluster), cluster.state];
    if (!cluster.workers) {
      // The counts this cluster would have are unknown, not zero.
      const unknown = (c: GroupCluster) => (c.home ? [UNKNOWN, UNKNOWN, UNKNOWN, NONE] : [NONE, NONE, NONE, UNKNOWN]);
      const names = status.workerGroups.length > 0 ? status.workerGroups.map((g) => g.name) : [NONE];
      return names.map((name) => [...lead, name, NONE, ...unknown(cluster)]);
    }
    if (cluster.workers.length === 0) return [[...lead, NONE, NONE, NONE, NONE, NONE, NONE]];
    return cluster.workers.map((w: WorkerCounts) => [
      ...lead,
      w.workerGroup,
      cluster.home ? count(replicas.get(w.workerGroup)) : NONE,
      count(w.local),
      count(w.pending),
      count(w.placeholders),
      count(w.remote),
    ]);
  });
}

function objectRows(status: GroupStatus, wide: boolean): string[][] {
  return status.clusters.flatMap((cluster) => {
    if (!cluster.objects) return [[contextCell(cluster), UNKNOWN, `unknown: ${cluster.state}`, UNKNOWN, UNKNOWN]];
    return cluster.objects
      .filter((o) => wide || o.role !== 'dependency copy')
      .map((o) => [contextCell(cluster), `${o.object}${o.terminating ? ' (terminating)' : ''}`, o.role, o.global ?? NONE, o.shared ?? NONE]);
  });
}

/** One group across the fleet: a headline, its workers per cluster and worker group, its Services; with wide, the placeholders, every Pending worker's reason and the repairs due. */
export function renderGroupStatus(status: GroupStatus, wide: boolean): string {
  const sections = [
    headline(status).join('\n'),
    renderTable(['CONTEXT', 'STATUS', 'WORKER-GROUP', 'DESIRED', 'LOCAL', 'PENDING', 'PLACEHOLDERS', 'REMOTE'], workerRows(status)).trimEnd(),
  ];
  const objects = objectRows(status, wide);
  if (objects.length > 0) sections.push(renderTable(['CONTEXT', 'OBJECT', 'ROLE', 'GLOBAL', 'SHARED'], objects).trimEnd());
  if (wide) {
    if (status.placeholders.length > 0) {
      sections.push(
        renderTable(
          ['PLACEHOLDER', 'WORKER-GROUP', 'READY', 'TWIN-IN', 'TWIN'],
          status.placeholders.map((p) => [p.name, p.workerGroup, p.ready ? 'yes' : 'no', p.twinIn, p.twin]),
        ).trimEnd(),
      );
    }
    if (status.pending.length > 0) {
      sections.push(
        renderTable(
          ['PENDING WORKER', 'WORKER-GROUP', 'SPAN-TO', 'WHY'],
          status.pending.map((p) => [p.name, p.workerGroup, p.spanTo ?? NONE, p.reason]),
        ).trimEnd(),
      );
    }
    if (status.skipped?.length) {
      sections.push(renderTable(['SKIPPED CLUSTER', 'WHY'], status.skipped.map((s) => [s.context, s.reasons.join('; ')])).trimEnd());
    }
    if (status.repairs.length > 0) {
      sections.push(
        renderTable(['REPAIR DUE', 'OBJECT', 'CONTEXT', 'WHY'], status.repairs.map((r) => [r.action, r.object, r.context, r.why])).trimEnd(),
      );
    }
  } else if (status.pending.length > 0 || status.repairs.length > 0) {
    const what = [
      ...(status.pending.length > 0 ? [`why ${status.pending.length} worker(s) wait`] : []),
      ...(status.repairs.length > 0 ? [`${status.repairs.length} repair(s) due`] : []),
    ];
    sections.push(`-o wide shows ${what.join(' and ')}`);
  }
  return `${sections.join('\n\n')}\n`;
}

/** One line per problem and warning, for stderr, in the fleet view's words. */
export function renderGroupProblems(status: GroupStatus): string[] {
  return [
    ...status.clusters.flatMap((cluster) =>
      cluster.problems.map(
        (problem) => `warning: context "${cluster.context}" is ${cluster.state.toLowerCase()}: ${problem.message}${problem.fix ? `; ${problem.fix}` : ''}`,
      ),
    ),
    ...status.warnings.map((w) => `warning: ${w}`),
  ];
}

export function groupStatusDocument(status: GroupStatus): unknown {
  const {kind, group, namespace, ...rest} = status;
  return {apiVersion: 'superskyray.io/v1alpha1', kind: 'GroupStatus', group: {kind, name: group, namespace}, ...rest};
}
