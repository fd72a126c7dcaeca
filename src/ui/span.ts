import type {SpanResult} from '../reconcile/span.js';
import {renderTable} from './table.js';

/** What `span` did (or would do): one row per worker that moves, then the ones that fit nowhere. */
export function renderSpanResult(result: SpanResult): string {
  const what = `${result.kind.toLowerCase()}/${result.group}`;
  const lines: string[] = [];
  if (result.repairs.length > 0) {
    lines.push(`${what}: ${result.dryRun ? 'would repair' : 'repaired'} what an earlier run or a change left${result.dryRun ? ' (dry run: nothing was changed)' : ''}`);
    lines.push(renderTable(['REPAIR', 'OBJECT', 'CONTEXT', 'WHY'], result.repairs.map((r) => [r.action, r.object, r.context, r.why])).trimEnd());
  }
  if (result.moves.length === 0 && result.stuck.length === 0) {
    if (result.repairs.length === 0) lines.push(`${what}: no worker is waiting for room on ${result.home}; nothing to span`);
    return `${lines.join('\n')}\n`;
  }
  if (result.moves.length > 0) {
    lines.push(`${what}: ${result.moves.length} worker(s) ${result.dryRun ? 'would span' : 'spanned'} from ${result.home}${result.dryRun ? ' (dry run: nothing was changed)' : ''}`);
    lines.push(
      renderTable(
        ['PENDING WORKER', 'GROUP', 'RUNS AS', 'IN'],
        result.moves.map((m) => [m.pending, m.workerGroup, m.name, m.to]),
      ).trimEnd(),
    );
    for (const m of result.moves) for (const why of m.leftOut ?? []) lines.push(`${m.name} in ${m.to} leaves out ${why}`);
  }
  for (const s of result.stuck) lines.push(stuckLine(s, 'fits no other cluster either'));
  for (const s of result.skipped ?? []) lines.push(`${s.context} is skipped: ${s.reasons.join('; ')}`);
  return `${lines.join('\n')}\n`;
}

const HOLDS = {'multi-host': 'stays at home', 'head-service': 'waits at home'} as const;

/** A Pending worker left at home: `fits` words the lack of room; one held there for another reason says so. */
export function stuckLine(s: SpanResult['stuck'][number], fits: string): string {
  return `${s.pending} ${s.hold ? HOLDS[s.hold] : fits}: ${s.reason}`;
}

export function spanDocument(result: SpanResult): unknown {
  const {kind, group, namespace, ...rest} = result;
  return {apiVersion: 'superskyray.io/v1alpha1', kind: 'SpanResult', group: {kind, name: group, namespace}, ...rest};
}
