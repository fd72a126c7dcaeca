import * as fs from 'node:fs';
import * as path from 'node:path';
import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import {BaseCommand, duration, formatDuration, placeholderImage, joinTimeout, claim} from '../../cli/base-command.js';
import {ConvergeTimeoutError, InputError, InterruptedError} from '../../errors.js';

export default class RunbookRun extends BaseCommand<typeof RunbookRun> {
  static override summary = 'Run a runbook: place, scale, span, status, wait, assert, apply, patch, sleep and watch steps, in order.';
  static override description =
    'FILE is YAML: a name, vars, the fleet\'s contexts, a namespace and a list of steps (see the README). ${var} in any value is filled from vars or --set. The whole file is checked before the first step runs. A step that fails stops the run with exit 1, naming the step and why. On a terminal it shows listr2 progress; elsewhere one line per step on stderr, and status tables on stdout. Fleet: --context, else the runbook\'s contexts, else $SUPERSKYRAY_CONTEXTS or the fleet file.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> examples/runbooks/manual-scale.yaml --set namespace=ray-demo',
    '<%= config.bin %> <%= command.id %> examples/runbooks/autoscaler-gpu.yaml --dry-run',
  ];
  static override args = {file: Args.string({description: 'The runbook (YAML).', required: true})};
  static override flags = {
    set: Flags.string({description: 'Set a variable, as key=value (repeatable); it wins over the runbook\'s vars.', multiple: true}),
    'dry-run': Flags.boolean({description: 'Check the runbook and print its steps, variables filled in; contact no cluster.'}),
    'placeholder-image': placeholderImage,
    'join-timeout': joinTimeout,
    claim,
    timeout: duration({
      description: 'How long the whole run may take, e.g. 30m; 0 waits forever (each wait step has its own timeout).',
      default: 0,
      defaultHelp: async () => '0',
      helpGroup: 'TIMING',
    }),
  };

  async run(): Promise<void> {
    const file = this.args.file;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read runbook ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'pass the path of a runbook YAML file');
    }
    const {readRunbook, parseSet} = await import('../../runbook/format.js');
    const dir = path.dirname(path.resolve(file));
    const runbook = readRunbook(text, file, {set: parseSet(this.flags.set), namespace: this.flags.namespace, readFile: (p) => fs.readFileSync(path.resolve(dir, p), 'utf8')});
    const [ui, {RunbookSession, checkRunbook}] = await Promise.all([import('../../ui/runbook.js'), import('../../reconcile/runbook.js')]);
    checkRunbook(runbook.steps);
    if (this.flags['dry-run']) return this.output(runbook, {document: ui.runbookDocument, text: ui.renderRunbookPlan});

    const [{withSteps, StepError}, {watchLines}] = await Promise.all([import('../../ui/progress.js'), import('../../ui/watch-lines.js')]);
    const signal = this.runSignal();
    const session = new RunbookSession({
      openFleet: () => this.openFleet(runbook.contexts),
      signal,
      onWatch: this.flags.verbose ? (report) => watchLines(report, 'text').forEach((line) => this.say(`watch: ${line}`)) : undefined,
    });
    try {
      await session.checkFleet(runbook.steps);
      await withSteps(runbook.steps.map((step) => ({title: step.title, run: (say) => session.run(step, say), summary: ui.stepSummary, detail: ui.stepDetail})));
    } catch (err) {
      if (signal.aborted && err instanceof StepError) {
        const stop = signal.reason instanceof ConvergeTimeoutError ? ConvergeTimeoutError : InterruptedError;
        const what = stop === ConvergeTimeoutError ? `did not finish within --timeout ${formatDuration(this.flags.timeout ?? 0)}` : 'was interrupted';
        throw new stop(`runbook "${runbook.name}" ${what}: step ${err.index} (${err.title}) was running`);
      }
      throw err;
    } finally {
      await session.close();
    }
    this.say(`runbook "${runbook.name}": all ${runbook.steps.length} step(s) passed`);
  }
}
