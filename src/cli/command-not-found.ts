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
  process.stderr.write(
    `error: unknown command "${words.join(' ')}" for "kubectl superskyray"; the commands are: ${commands.join(', ')} (see "kubectl superskyray --help")\n`,
  );
  process.exitCode = EXIT.usage;
};

export default hook;
