import {describe, expect, it} from 'vitest';
import {complete, type CompletionCommand} from '../../../src/cli/complete.js';

const shared = [
  {name: 'namespace', char: 'n', type: 'option' as const, summary: 'The namespace of the Ray app.'},
  {name: 'kubeconfig', type: 'option' as const},
  {name: 'context', type: 'option' as const, multiple: true},
  {name: 'output', char: 'o', type: 'option' as const, options: ['table', 'wide', 'json', 'yaml']},
  {name: 'verbose', char: 'v', type: 'boolean' as const},
];
const COMMANDS: CompletionCommand[] = [
  {id: '__complete', flags: []},
  {id: 'status', summary: 'Show the fleet.', flags: shared},
  {id: 'scale', summary: 'Resize a group.', flags: [...shared, {name: 'replicas', type: 'option'}, {name: 'dry-run', type: 'boolean'}]},
  {id: 'place', summary: 'Place a group.', flags: [...shared, {name: 'filename', char: 'f', type: 'option'}, {name: 'mesh', type: 'option', options: ['cilium', 'endpoints']}]},
  {id: 'runbook:run', summary: 'Run a runbook.', flags: shared, fileArgument: true},
];

describe('complete', () => {
  let asked = 0;
  const contexts = async () => {
    asked++;
    return ['onprem', 'cloud', 'edge'];
  };

  it.each([
    ['the commands and topics, without hidden ones', [''], ['place\tPlace a group.', 'runbook\tScripted steps.', 'scale\tResize a group.', 'status\tShow the fleet.', ':4']],
    ['a command from its start', ['s'], ['scale\tResize a group.', 'status\tShow the fleet.', ':4']],
    ['the commands of a topic', ['runbook', ''], ['run\tRun a runbook.', ':4']],
    ['the flags of the command, with their summary', ['scale', 'app', '--re'], ['--replicas', ':4']],
    ['no flag given twice, unless repeatable', ['status', '-o', 'json', '--context', 'a', '--'], ['--namespace\tThe namespace of the Ray app.', '--kubeconfig', '--context', '--verbose', ':4']],
    ['the values of an option flag', ['status', '-o', ''], ['table', 'wide', 'json', 'yaml', ':4']],
    ['a value written with =', ['place', '--mesh=e'], ['--mesh=endpoints', ':4']],
    ['contexts from the kubeconfig for --context', ['scale', 'app', '--context', 'onprem', '--context', ''], ['onprem', 'cloud', 'edge', ':4']],
    ['files for a file flag, by the shell', ['place', '-f', ''], [':0']],
    ['files for a file argument, by the shell', ['runbook', 'run', ''], [':0']],
    ['nothing for a group argument', ['scale', ''], [':4']],
    ['nothing after an unknown command', ['stauts', ''], [':4']],
  ])('offers %s', async (_what, words, lines) => {
    expect(await complete(words, COMMANDS, contexts, {runbook: 'Scripted steps.'})).toEqual(lines);
  });

  it('reads the kubeconfig only to complete a context', async () => {
    asked = 0;
    await complete(['status', '-o', ''], COMMANDS, contexts);
    await complete(['status', '--'], COMMANDS, contexts);
    expect(asked).toBe(0);
    await complete(['status', '--context=o'], COMMANDS, contexts);
    expect(asked).toBe(1);
  });
});
