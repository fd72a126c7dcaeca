import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import {BaseCommand, claim, EXIT} from '../cli/base-command.js';
import {InputError} from '../errors.js';

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show every cluster of the fleet: reachable or not, version, identity and capacity; with -n or -A, the groups too; given GROUP, where that Ray app runs.';
  static override description =
    'Asks every fleet context at once. An unreachable cluster is shown as such, never as empty; the others are still reported, and the exit code is 1.\n\n' +
    'With -n NS and no GROUP, or -A (every namespace): below the clusters, one row per group the tool manages there: its home, mode (single, spanned, relocating, unstarted, or degraded when its home or a cluster of its remote workers did not answer), its workers per cluster (local, placeholder, remote, Pending), age, and how many repairs a pass would make. A group whose home did not answer is shown from the remote workers and copies the other clusters hold for it. -o wide adds the mesh mode, the relocate policy and the reasons. It reads one list per kind and cluster, never one per group.\n\n' +
    'With GROUP: its home cluster, live RayCluster and mode (single, spanned or relocating), its local, Pending, placeholder and remote workers per cluster and worker group, and its head Service and head-Service copies. -o wide adds why each Pending worker waits, the clusters it may not go to and why (the span preflight\'s reads, which -o json and yaml make too), and where each placeholder\'s remote worker runs. Nothing is changed.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --context onprem --context cloud',
    'SUPERSKYRAY_CONTEXTS=onprem,cloud <%= config.bin %> <%= command.id %> -o json',
    '<%= config.bin %> <%= command.id %> -A --context onprem --context cloud',
    '<%= config.bin %> <%= command.id %> raycluster/my-app -n ml -o wide --context onprem --context cloud',
  ];
  static override args = {group: Args.string({description: 'rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME; without it, the fleet', required: false})};
  static override flags = {
    'all-namespaces': Flags.boolean({char: 'A', description: 'List the groups of every namespace (without GROUP).', helpGroup: 'FLEET'}),
    claim,
  };

  async run(): Promise<void> {
    if (this.flags['all-namespaces'] && this.args.group) throw new InputError(`status ${this.args.group} looks at one group and takes -n, not -A`, 'drop -A, or drop GROUP to list every group');
    if (this.flags['all-namespaces'] && this.flags.namespace !== undefined) throw new InputError('-A lists every namespace; -n names one', 'give one of -A and -n');
    const fleet = await this.openFleet();
    const data = this.outputFormat === 'json' || this.outputFormat === 'yaml';
    if (this.args.group) {
      const {observeGroupStatus} = await import('../reconcile/group-status.js');
      const status = await observeGroupStatus(fleet, this.args.group, this.namespaceIn(fleet), this.runSignal(), {preflight: this.outputFormat !== 'table'});
      const ui = await import('../ui/group-status.js');
      await this.output(status, {document: ui.groupStatusDocument, text: ui.renderGroupStatus});
      if (!data) for (const line of ui.renderGroupProblems(status)) this.say(line);
      if (status.clusters.some((cluster) => cluster.state !== 'Ready')) process.exitCode = EXIT.failed;
      return;
    }
    if (this.flags['all-namespaces'] || this.flags.namespace !== undefined) {
      const {listFleetGroups} = await import('../reconcile/fleet-groups.js');
      const status = await listFleetGroups(fleet, this.flags['all-namespaces'] ? undefined : this.flags.namespace, this.runSignal());
      const ui = await import('../ui/fleet-groups.js');
      const fleetUi = await import('../ui/fleet-status.js');
      await this.output(status, {document: ui.fleetGroupsDocument, text: (s, wide) => ui.renderFleetGroups(s, wide)});
      if (!data) for (const line of [...fleetUi.renderProblems(status), ...ui.renderGroupProblems(status)]) this.say(line);
      if (status.clusters.some((cluster) => cluster.state !== 'Ready') || status.groups.some((g) => g.mode === 'degraded')) process.exitCode = EXIT.failed;
      return;
    }
    const {fleetStatus} = await import('../reconcile/fleet-status.js');
    const status = await fleetStatus(fleet, this.runSignal());
    const ui = await import('../ui/fleet-status.js');
    await this.output(status, {document: ui.fleetStatusDocument, text: ui.renderFleetTable});
    if (!data) for (const line of ui.renderProblems(status)) this.say(line);
    if (status.clusters.some((cluster) => cluster.state !== 'Ready')) process.exitCode = EXIT.failed;
  }
}
