import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import {BaseCommand, placeholderImage, joinTimeout, claim, EXIT} from '../cli/base-command.js';
import {ConvergeTimeoutError} from '../errors.js';
import type {ScaleResult} from '../reconcile/scale.js';

export default class Scale extends BaseCommand<typeof Scale> {
  static override summary = 'Resize a worker group of a Ray app, then span, relocate or shrink it so that it fits.';
  static override description =
    'Growth that fits at home stays there. Growth that does not is spanned: the new workers run in other clusters of the fleet, and nothing running restarts. A shrink removes remote workers first, and once none is left the copies in other clusters go too. With the Ray autoscaler on, only minReplicas or maxReplicas is written. It returns when the group has settled, or exits 3 at --timeout.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> raycluster/my-app --replicas 3 --skip-capacity-relocate -n ml --context onprem --context cloud',
    '<%= config.bin %> <%= command.id %> my-app --replicas 2 --worker-group gpu --dry-run',
    '<%= config.bin %> <%= command.id %> rayservice/fraud --serve fraud.Model=4',
  ];
  static override args = {group: Args.string({description: 'rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME', required: true})};
  static override flags = {
    replicas: Flags.integer({description: 'The number of workers the group should have.', min: 0}),
    'worker-group': Flags.string({description: 'The worker group to resize (needed when there are several).'}),
    serve: Flags.string({description: 'Set a Serve deployment\'s num_replicas in a RayService, as APP.DEPLOYMENT=N (repeatable).', multiple: true}),
    'skip-capacity-relocate': Flags.boolean({description: 'When growth does not fit at home, span it even if another cluster fits the whole group.'}),
    'copy-secrets': Flags.boolean({description: 'Copy the Secrets the workers need to other clusters (never done without this flag).'}),
    'placeholder-image': placeholderImage,
    'join-timeout': joinTimeout,
    claim,
    'dry-run': Flags.boolean({description: 'Print the plan with a reason for every decision, and change nothing.'}),
    wait: Flags.boolean({description: 'Also wait until every worker runs, showing progress on stderr.'}),
    'allow-pending': Flags.boolean({description: 'Grow even when some new workers fit no cluster of the fleet; they wait Pending at home (refused without it).'}),
  };

  async run(): Promise<void> {
    const [{scaleGroup, checkScaleInput}, {parseServeReplicas}, {withProgress}] = await Promise.all([import('../reconcile/scale.js'), import('../kuberay/serve.js'), import('../ui/progress.js')]);
    const serve = this.flags.serve?.map(parseServeReplicas);
    checkScaleInput({group: this.args.group, replicas: this.flags.replicas, serve});
    const fleet = await this.openFleet();
    const scale = (progress?: (line: string) => void) => scaleGroup(fleet, {
      group: this.args.group,
      namespace: this.namespaceIn(fleet),
      replicas: this.flags.replicas,
      workerGroup: this.flags['worker-group'],
      serve,
      skipCapacityRelocate: this.flags['skip-capacity-relocate'],
      copySecrets: this.flags['copy-secrets'],
      dryRun: this.flags['dry-run'],
      wait: this.flags.wait,
      signal: this.runSignal(),
      progress,
      allowPending: this.flags['allow-pending'],
      onWait: (holder) => this.say(`waiting for ${holder}, which is changing this group`),
    });
    const ui = await import('../ui/scale.js');
    const show = (result: ScaleResult) => this.output(result, {document: ui.scaleDocument, text: ui.renderScaleResult});
    let result: ScaleResult;
    try {
      result = this.flags.wait && !this.flags['dry-run'] ? await withProgress(`scale ${this.args.group}`, scale) : await scale(this.flags.verbose ? (line) => this.say(line) : undefined);
    } catch (err) {
      // The deadline fell after the change was made: show what was done, then exit 3.
      if (err instanceof ConvergeTimeoutError && err.partial) await show(err.partial as ScaleResult);
      throw err;
    }
    await show(result);
    for (const warning of result.warnings) this.say(`warning: ${warning}`);
    if (result.stuck.length > 0 && !result.dryRun && !this.flags['allow-pending']) {
      this.say(`error: ${result.stuck.length} worker(s) fit no cluster of the fleet and wait Pending at home; add room, or lower --replicas`);
      process.exitCode = EXIT.failed;
    }
  }
}
