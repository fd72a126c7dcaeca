import type {RemoveResult} from '../reconcile/remove.js';

/** kubectl delete style: one line per object, "<kind>/<name> deleted (context)". */
export function renderRemoveResult(result: RemoveResult): string {
  const lines = result.steps.map((s) => `${s.object} ${s.action === 'release' ? 'released' : 'deleted'} (${s.context})${result.dryRun ? ' (dry run)' : ''}`);
  if (lines.length === 0) lines.push(`${result.kind ? `${result.kind.toLowerCase()}/` : ''}${result.group}: nothing left to delete`);
  return `${lines.join('\n')}\n`;
}

export function removeDocument(result: RemoveResult): unknown {
  const {kind, group, namespace, ...rest} = result;
  return {apiVersion: 'superskyray.io/v1alpha1', kind: 'RemoveResult', group: {kind, name: group, namespace}, ...rest};
}
