import {BaseCommand, EXIT} from '../cli/base-command.js';

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show every cluster of the fleet: reachable or not, version, identity and capacity.';
  static override description =
    'Asks every fleet context at once. An unreachable cluster is shown as such, never as empty; the others are still reported, and the exit code is 1.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --context onprem --context cloud',
    'SUPERSKYRAY_CONTEXTS=onprem,cloud <%= config.bin %> <%= command.id %> -o json',
  ];

  async run(): Promise<void> {
    const fleet = await this.openFleet();
    const {fleetStatus} = await import('../reconcile/fleet-status.js');
    const status = await fleetStatus(fleet, this.deadline());
    const ui = await import('../ui/fleet-status.js');
    await this.output(status, {document: ui.fleetStatusDocument, text: ui.renderFleetTable});
    if (this.outputFormat !== 'json' && this.outputFormat !== 'yaml') for (const line of ui.renderProblems(status)) this.say(line);
    if (status.clusters.some((cluster) => cluster.state !== 'Ready')) process.exitCode = EXIT.failed;
  }
}
