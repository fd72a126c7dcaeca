import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import {BaseCommand} from '../cli/base-command.js';

export default class Delete extends BaseCommand<typeof Delete> {
  static override summary = 'Remove a Ray app and everything the tool made for it, in every cluster of the fleet.';
  static override description =
    'Deletes the Ray object at home first (so nothing is recreated), then the remote workers, the placeholders, the head-Service and dependency copies in other clusters, and the objects place applied. It refuses to start while a fleet cluster does not answer, since remote workers could run there.';
  static override examples = ['<%= config.bin %> <%= command.id %> raycluster/my-app -n ml --context onprem --context cloud', '<%= config.bin %> <%= command.id %> my-app --dry-run'];
  static override args = {group: Args.string({description: 'rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME', required: true})};
  static override flags = {
    'dry-run': Flags.boolean({description: 'Print what would be deleted, and change nothing.'}),
  };

  async run(): Promise<void> {
    const fleet = await this.openFleet();
    const {removeGroup} = await import('../reconcile/remove.js');
    const result = await removeGroup(fleet, {group: this.args.group, namespace: this.namespaceIn(fleet), dryRun: this.flags['dry-run'], signal: this.runSignal(), onWait: (holder) => this.say(`waiting for ${holder}, which is changing this group`)});
    const ui = await import('../ui/remove.js');
    await this.output(result, {document: ui.removeDocument, text: ui.renderRemoveResult});
  }
}
