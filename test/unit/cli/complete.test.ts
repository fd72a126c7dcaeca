import {describe, expect, it} from 'vitest';
import {complete, type CompletionCommand, type GroupChoice} from '../../../src/cli/complete.js';

const shared = [
  {name: 'namespace', char: 'n', type: 'option' as const, summary: 'The namespace of the Ray app.'},
  {name: 'kubeconfig', type: 'option' as const},
  {name: 'context', type: 'option' as const, multiple: true},
  {name: 'output', char: 'o', type: 'option' as const, options: ['table', 'wide', 'json', 'yaml']},
  {name: 'verbose', char: 'v', type: 'boolean' as const},
];
const COMMANDS: CompletionCommand[] = [
  {id: '__complete', flags: []},
  {id: 'status', summary: 'Show the fleet.', flags: shared, groupArgument: 'one'},
  {id: 'scale', summary: 'Resize a group.', flags: [...shared, {name: 'replicas', type: 'option'}, {name: 'dry-run', type: 'boolean'}], groupArgument: 'one'},
  {id: 'watch', summary: 'Reconcile.', flags: shared, groupArgument: 'many'},
  {id: 'place', summary: 'Place a group.', flags: [...shared, {name: 'filename', char: 'f', type: 'option'}, {name: 'mesh', type: 'option', options: ['cilium', 'endpoints']}]},
  {id: 'runbook:run', summary: 'Run a runbook.', flags: shared, fileArgument: true},
];

const GROUPS: GroupChoice[] = [
  {namespace: 'ml', kind: 'RayCluster', name: 'app', home: 'onprem'},
  {namespace: 'ml', kind: 'RayService', name: 'serve', home: 'onprem'},
  {namespace: 'ml', kind: 'RayJob', name: 'serve', home: 'cloud'},
];

describe('complete', () => {
  let asked = 0;
  let listed = 0;
  const groups = async () => {
    listed++;
    return GROUPS;
  };
  const contexts = async () => {
    asked++;
    return ['onprem', 'cloud', 'edge'];
  };

  it.each([
    ['the commands and topics, without hidden ones', [''], ['place\tPlace a group.', 'runbook\tScripted steps.', 'scale\tResize a group.', 'status\tShow the fleet.', 'watch\tReconcile.', ':4']],
    ['a command from its start', ['s'], ['scale\tResize a group.', 'status\tShow the fleet.', ':4']],
    ['the commands of a topic', ['runbook', ''], ['run\tRun a runbook.', ':4']],
    ['the flags of the command, with their summary', ['scale', 'app', '--re'], ['--replicas', ':4']],
    ['no flag given twice, unless repeatable', ['status', '-o', 'json', '--context', 'a', '--'], ['--namespace\tThe namespace of the Ray app.', '--kubeconfig', '--context', '--verbose', ':4']],
    ['the values of an option flag', ['status', '-o', ''], ['table', 'wide', 'json', 'yaml', ':4']],
    ['a value written with =', ['place', '--mesh=e'], ['--mesh=endpoints', ':4']],
    ['contexts from the kubeconfig for --context', ['scale', 'app', '--context', 'onprem', '--context', ''], ['onprem', 'cloud', 'edge', ':4']],
    ['files for a file flag, by the shell', ['place', '-f', ''], [':0']],
    ['files for a file argument, by the shell', ['runbook', 'run', ''], [':0']],
    ['the groups for a group argument, kind/name where two kinds share a name', ['scale', ''], ['app\tRayCluster in ml, home onprem', 'rayjob/serve\tRayJob in ml, home cloud', 'rayservice/serve\tRayService in ml, home onprem', ':4']],
    ['the groups that start with the word', ['status', '--context', 'onprem', 'a'], ['app\tRayCluster in ml, home onprem', ':4']],
    ['kind/name once the word names a kind', ['status', 'raycluster/'], ['raycluster/app\tRayCluster in ml, home onprem', ':4']],
    ['no second group for a command that takes one', ['scale', 'app', '-o', 'json', ''], [':4']],
    ['more groups for watch', ['watch', 'app', ''], ['app\tRayCluster in ml, home onprem', 'rayjob/serve\tRayJob in ml, home cloud', 'rayservice/serve\tRayService in ml, home onprem', ':4']],
    ['nothing after an unknown command', ['stauts', ''], [':4']],
  ])('offers %s', async (_what, words, lines) => {
    expect(await complete(words, COMMANDS, contexts, {runbook: 'Scripted steps.'}, groups)).toEqual(lines);
  });

  it('reads the kubeconfig only to complete a context, and the groups only to complete a group', async () => {
    asked = 0;
    listed = 0;
    await complete(['status', '-o', ''], COMMANDS, contexts, {}, groups);
    await complete(['status', '--'], COMMANDS, contexts, {}, groups);
    expect([asked, listed]).toEqual([0, 0]);
    await complete(['status', '--context=o'], COMMANDS, contexts, {}, groups);
    expect([asked, listed]).toEqual([1, 0]);
    await complete(['status', ''], COMMANDS, contexts, {}, groups);
    expect([asked, listed]).toEqual([1, 1]);
  });
});
