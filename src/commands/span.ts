import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import {BaseCommand, placeholderImage, joinTimeout, claim} from '../cli/base-command.js';
import {ConvergeTimeoutError} from '../errors.js';
import type {SpanResult} from '../reconcile/span.js';

export default class Span extends BaseCommand<typeof Span> {
  static override summary = 'Move the workers of a Ray app that cannot run at home to other clusters of the fleet, now.';
  static override description =
    'Each worker the home scheduler left Pending is swapped without a restart of anything running: a placeholder at home keeps KubeRay\'s count, and the worker runs in the first cluster (in fleet order) that fits it, joined to the same head through the multi-cluster network.';
  static override examples = ['<%= config.bin %> <%= command.id %> raycluster/my-app -n ml --context onprem --context cloud', '<%= config.bin %> <%= command.id %> my-app --to cloud --dry-run'];
  static override args = {group: Args.string({description: 'rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME', required: true})};
  static override flags = {
    to: Flags.string({description: 'Span only to this context of the fleet.'}),
    'dry-run': Flags.boolean({description: 'Print which workers would move where, and change nothing.'}),
    'copy-secrets': Flags.boolean({description: 'Copy the Secrets the workers need to the other cluster (never done without this flag).'}),
    'placeholder-image': placeholderImage,
    'join-timeout': joinTimeout,
    claim,
    wait: Flags.boolean({description: 'Also wait until every remote worker is Ready, and KubeRay counts its placeholder as ready.'}),
  };

  async run(): Promise<void> {
    const fleet = await this.openFleet();
    const [{spanGroup}, ui] = await Promise.all([import('../reconcile/span.js'), import('../ui/span.js')]);
    const show = (result: SpanResult) => this.output(result, {document: ui.spanDocument, text: ui.renderSpanResult});
    let result: SpanResult;
    try {
      result = await spanGroup(fleet, {
        group: this.args.group,
        namespace: this.namespaceIn(fleet),
        to: this.flags.to,
        dryRun: this.flags['dry-run'],
        copySecrets: this.flags['copy-secrets'],
        wait: this.flags.wait,
        signal: this.runSignal(),
        onWait: (holder) => this.say(`waiting for ${holder}, which is changing this group`),
      });
    } catch (err) {
      // The deadline fell after the swaps were made: show what was done, then exit 3.
      if (err instanceof ConvergeTimeoutError && err.partial) await show(err.partial as SpanResult);
      throw err;
    }
    await show(result);
    for (const warning of result.warnings) this.say(`warning: ${warning}`);
  }
}
