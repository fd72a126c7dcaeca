import type {Hook} from '@oclif/core';
import {loadHelpClass} from '@oclif/core/help';
import {EXIT} from './base-command.js';

/**
 * `kubectl superskyray help [COMMAND]` shows help, as kubectl's own `help` does; anything else that is
 * not a command gets one kubectl-style line and exit code 2.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const words = options.id.split(':');
  if (words[0] === 'help') {
    const Help = await loadHelpClass(options.config);
    await new Help(options.config).showHelp([...words.slice(1), ...(options.argv ?? [])]);
    return;
  }
  const commands = options.config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' ')).sort();
  const typed = words.join(' ');
  const near = commands.filter((c) => editDistance(c, typed) <= 2 || editDistance(c.split(' ')[0]!, words[0] ?? '') <= 1);
  const hint = near.length > 0 ? `did you mean ${near.map((c) => `"${c}"`).join(' or ')}? ` : '';
  process.stderr.write(`error: unknown command "${typed}" for "kubectl superskyray"; ${hint}the commands are: ${commands.join(', ')} (see "kubectl superskyray --help")\n`);
  process.exitCode = EXIT.usage;
};

export default hook;

/** Levenshtein distance, as kubectl's (Cobra's) suggestions use. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({length: b.length + 1}, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
