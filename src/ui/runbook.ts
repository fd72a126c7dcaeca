import type {StepResult} from '../reconcile/runbook.js';
import type {Runbook} from '../runbook/format.js';
import {renderFleetTable} from './fleet-status.js';
import {renderGroupStatus} from './group-status.js';
import {renderPlaceResult} from './place.js';
import {renderScaleResult} from './scale.js';
import {renderSpanResult} from './span.js';

const firstLine = (text: string) => text.split('\n').find((line) => line.trim() !== '') ?? '';

/** `runbook run --dry-run`: the steps as they would run, variables filled in. */
export function renderRunbookPlan(runbook: Runbook): string {
  const lines = [
    `runbook "${runbook.name}": ${runbook.steps.length} step(s) in namespace ${runbook.namespace}${runbook.contexts ? `, fleet ${runbook.contexts.join(', ')}` : ''} (dry run: nothing was run)`,
    ...runbook.steps.map((s) => `  ${s.index}. ${s.title}${s.kind === 'wait' ? ` (at most ${s.timeoutMs / 1000}s)` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function runbookDocument(runbook: Runbook): unknown {
  return {
    name: runbook.name,
    namespace: runbook.namespace,
    ...(runbook.contexts ? {contexts: runbook.contexts} : {}),
    steps: runbook.steps.map((s) => {
      if (s.kind === 'place') {
        const {text: _text, ...rest} = s;
        return rest;
      }
      return s;
    }),
  };
}

/** One line about what a step did. */
export function stepSummary(r: StepResult): string {
  switch (r.kind) {
    case 'place':
      return firstLine(renderPlaceResult(r.result, false));
    case 'scale':
      return firstLine(renderScaleResult(r.result, false));
    case 'span':
      return firstLine(renderSpanResult(r.result));
    case 'status':
      return `${r.result.mode}, home ${r.result.home}`;
    case 'fleet-status':
      return `${r.result.clusters.filter((c) => c.state === 'Ready').length} of ${r.result.clusters.length} cluster(s) Ready`;
    case 'wait':
      return `so after ${(r.ms / 1000).toFixed(1)}s`;
    case 'assert':
      return 'holds';
    case 'apply':
      return `applied ${r.objects.join(', ')} in ${r.context}`;
    case 'patch':
      return `patched ${r.object} in ${r.context}`;
    case 'sleep':
      return `slept ${r.ms / 1000}s`;
    case 'watch':
      return `watching ${r.groups.length > 0 ? r.groups.join(', ') : 'every group'} until the run ends`;
  }
}

/** What a status step shows under its line. */
export function stepDetail(r: StepResult): string | undefined {
  if (r.kind === 'status') return renderGroupStatus(r.result, false);
  if (r.kind === 'fleet-status') return renderFleetTable(r.result, false);
  return undefined;
}
