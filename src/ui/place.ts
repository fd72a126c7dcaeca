import {stuckLine} from './span.js';
import type {ObjectOutcome, PlaceResult} from '../reconcile/place.js';
import {renderTable} from './table.js';

const WOULD: Record<ObjectOutcome, string> = {created: 'would create', configured: 'would configure', unchanged: 'unchanged'};

/** What `place` did (or, with --dry-run, would do), kubectl style: one line per object. */
export function renderPlaceResult(result: PlaceResult, wide: boolean): string {
  const what = `${result.kind.toLowerCase()}/${result.group}`;
  const where = `${result.home.context} (cluster ${result.home.clusterId.slice(0, 8)})`;
  const headline = result.alreadyPlaced ? `${what} stays on ${where}` : `${what} ${result.dryRun ? 'would be placed' : 'placed'} on ${where}`;
  const lines = [`${headline}${result.dryRun ? ' (dry run: nothing was changed)' : ''}`];
  if (result.dryRun || wide) for (const reason of result.reasons) lines.push(`  - ${reason}`);
  const table = renderTable(
    ['OBJECT', 'CONTEXT', 'RESULT'],
    result.objects.map((o) => [`${o.kind.toLowerCase()}/${o.name}`, o.context, result.dryRun ? WOULD[o.outcome] : o.outcome]),
  );
  const span = result.span;
  const spanned =
    span && span.moves.length > 0
      ? `${span.moves.length} worker(s) spanned from ${result.home.context}\n${renderTable(['PENDING WORKER', 'GROUP', 'RUNS AS', 'IN'], span.moves.map((m) => [m.pending, m.workerGroup, m.name, m.to]))}`
      : '';
  const stuck = (span?.stuck ?? []).map((s) => `${stuckLine(s, 'fits no other cluster either')}\n`).join('');
  return `${lines.join('\n')}\n${table}${spanned}${stuck}`;
}

export function placeDocument(result: PlaceResult): unknown {
  const {kind, group, namespace, ...rest} = result;
  return {apiVersion: 'superskyray.io/v1alpha1', kind: 'PlaceResult', group: {kind, name: group, namespace}, ...rest};
}
