import yaml from 'js-yaml';
import type {WatchReport} from '../reconcile/watch.js';
import {stuckLine} from './span.js';

/**
 * One line per action or state change, for a log or a script: a timestamp, the group or cluster,
 * what happened and why. Passes that changed nothing print nothing. With json, one object per line.
 */
export function watchLines(r: WatchReport, format: 'text' | 'json' | 'yaml'): string[] {
  if (r.type === 'status' || r.type === 'fleet') return [];
  // watch --once accounts for every group, even one with nothing to do.
  const quiet = r.type === 'pass' && r.result.steps.length === 0 && r.result.stuck.length === 0 && r.result.warnings.length === 0 && r.trigger !== 'once';
  if (format !== 'text') {
    if (quiet) return [];
    const doc = r.type === 'pass' ? {type: r.type, at: r.at, group: r.group, trigger: r.trigger, ms: r.ms, steps: r.result.steps, moves: r.result.moves, stuck: r.result.stuck, warnings: r.result.warnings} : r;
    return format === 'json' ? [JSON.stringify(doc)] : [`---\n${yaml.dump(doc, {lineWidth: -1, noRefs: true}).trimEnd()}`];
  }
  switch (r.type) {
    case 'cluster':
      return [`${r.at} cluster ${r.context}: ${r.state}${r.reason ? ` (${r.reason})` : ''}`];
    case 'groups':
      return [`${r.at} watching ${r.groups.length} group(s)${r.groups.length > 0 ? `: ${r.groups.map((g) => g.key).join(', ')}` : ''}`];
    case 'wait':
      return [`${r.at} ${r.group}: ${r.message}`];
    case 'error':
      return [`${r.at} ${r.group ? `${r.group}: ` : ''}error: ${r.message}`];
    case 'collected': {
      const lines = r.result.steps.map((s) => `${r.at} ${s.context}: ${s.action} ${s.object} (${s.why})`);
      for (const u of r.result.unobserved) lines.push(`${r.at} garbage collection waits for context "${u.context}", which did not answer (${u.reason})`);
      for (const w of r.result.warnings) lines.push(`${r.at} garbage collection: warning: ${w}`);
      return lines;
    }
    case 'pass': {
      const lines = r.result.steps.map((s) => `${r.at} ${r.group}: ${s.context}: ${s.action} ${s.object} (${s.why})`);
      for (const m of r.result.moves) lines.push(`${r.at} ${r.group}: spanned ${m.pending} to ${m.to} as ${m.name} (a pass of ${r.ms} ms, woken by: ${r.trigger})`);
      for (const w of r.result.warnings) lines.push(`${r.at} ${r.group}: warning: ${w}`);
      if (r.trigger === 'once') {
        for (const s of r.result.stuck) lines.push(`${r.at} ${r.group}: ${stuckLine(s, 'fits no cluster of the fleet')}`);
        if (lines.length === 0) lines.push(`${r.at} ${r.group}: in step, nothing to do`);
      }
      return lines;
    }
  }
}
