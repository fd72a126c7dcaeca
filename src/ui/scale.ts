import {stuckLine} from './span.js';
import type {ScaleResult} from '../reconcile/scale.js';
import {renderTable} from './table.js';

const HEADLINE: Record<ScaleResult['action'], string> = {
  unchanged: 'keeps its size',
  serve: 'keeps its size',
  fits: 'grows at home',
  span: 'grows across clusters',
  relocate: 'moves whole, restarting the app',
  shrink: 'shrinks, remote workers first',
};

/** What `scale` did (or would do): a headline, the reasons, then every step taken. */
export function renderScaleResult(result: ScaleResult, wide: boolean): string {
  const what = `${result.kind.toLowerCase()}/${result.group}`;
  const lines = [
    `${what}: worker group ${result.workerGroup} ${result.from} -> ${result.to}, ${HEADLINE[result.action]} (${result.relocatedTo && !result.dryRun ? `home ${result.relocatedTo}, was ${result.home}` : `home ${result.home}`})${result.dryRun ? ' (dry run: nothing was changed)' : ''}`,
  ];
  for (const c of result.serve) lines.push(`${what}: Serve deployment ${c.app}.${c.deployment} num_replicas ${c.from ?? 'unset'} -> ${c.to}${result.dryRun ? ' (would be set)' : ''}`);
  if (result.relocatedTo) lines.push(`${what} ${result.dryRun ? 'would move' : 'moved'} whole from ${result.home} to ${result.relocatedTo}, make before break`);
  if (result.dryRun || wide) for (const reason of result.reasons) lines.push(`  - ${reason}`);
  else if (result.autoscaling) lines.push(`  - ${result.reasons[0]}`);
  if (result.moves.length > 0) {
    lines.push(renderTable(['PENDING WORKER', 'GROUP', 'RUNS AS', 'IN'], result.moves.map((m) => [m.pending, m.workerGroup, m.name, m.to])).trimEnd());
  }
  if (result.removing.length > 0) lines.push(renderTable(['REMOVED WORKER', 'WAS'], result.removing.map((r) => [r.name, r.where])).trimEnd());
  if (wide && result.steps.length > 0) {
    lines.push(renderTable(['ACTION', 'OBJECT', 'CONTEXT', 'WHY'], result.steps.map((s) => [s.action, s.object, s.context, s.why])).trimEnd());
  }
  for (const s of result.stuck) lines.push(stuckLine(s, 'fits no cluster of the fleet'));
  return `${lines.join('\n')}\n`;
}

export function scaleDocument(result: ScaleResult): unknown {
  const {kind, group, namespace, ...rest} = result;
  return {apiVersion: 'superskyray.io/v1alpha1', kind: 'ScaleResult', group: {kind, name: group, namespace}, ...rest};
}
