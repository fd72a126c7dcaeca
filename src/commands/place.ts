import * as fs from 'node:fs';
import * as Flags from '@oclif/core/flags';
import {BaseCommand, placeholderImage, joinTimeout, claim} from '../cli/base-command.js';
import {InputError} from '../errors.js';

export default class Place extends BaseCommand<typeof Place> {
  static override summary = 'Place a Ray app on the cluster of the fleet that fits it best, and apply it there.';
  static override description =
    'Reads the Ray object (RayCluster, RayService or RayJob) and the ConfigMaps, Secrets, Services and ServiceAccounts it needs from FILE, picks the home cluster (one that fits all of it, by fleet order, then least room left over), and applies them there with server-side apply. An app that fits no single cluster is placed across clusters: the head and what fits stay home, and the other workers are spanned as soon as KubeRay makes them. A group that is already placed stays where it is. Only what differs is written.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> -f app.yaml --context onprem --context cloud',
    '<%= config.bin %> <%= command.id %> -f app.yaml --dry-run -o wide',
  ];
  static override flags = {
    filename: Flags.string({char: 'f', description: 'The manifest of the Ray app ("-" for stdin).', required: true}),
    'dry-run': Flags.boolean({description: 'Print the plan with a reason for every decision, and change nothing.'}),
    'skip-capacity-relocate': Flags.boolean({
      description: 'When the app later outgrows its home, span it instead of moving it whole (--no-skip-capacity-relocate: move it whole when another cluster fits). [default: what the group was placed with, else move]',
      allowNo: true,
    }),
    mesh: Flags.option({options: ['cilium', 'endpoints'] as const, description: 'How remote workers reach the head. [default: what the group was placed with, else cilium]'})(),
    'force-conflicts': Flags.boolean({description: 'Take over fields that another field manager owns, as kubectl apply --server-side --force-conflicts does.'}),
    'copy-secrets': Flags.boolean({description: 'Copy the Secrets the workers placed in other clusters need (never done without this flag).'}),
    'placeholder-image': placeholderImage,
    'join-timeout': joinTimeout,
    claim,
    wait: Flags.boolean({description: 'Also wait until every worker runs, in every cluster, and KubeRay counts it ready.'}),
  };

  async run(): Promise<void> {
    const file = this.flags.filename;
    let text: string;
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'pass the path of the app manifest with -f');
    }
    const fleet = await this.openFleet();
    const {placeGroup} = await import('../reconcile/place.js');
    const result = await placeGroup(fleet, {
      source: file === '-' ? 'stdin' : file,
      text,
      namespace: this.flags.namespace,
      relocate: this.flags['skip-capacity-relocate'] === undefined ? undefined : this.flags['skip-capacity-relocate'] ? 'never' : 'if-fits',
      mesh: this.flags.mesh,
      dryRun: this.flags['dry-run'],
      forceConflicts: this.flags['force-conflicts'],
      copySecrets: this.flags['copy-secrets'],
      wait: this.flags.wait,
      signal: this.runSignal(),
      say: this.flags.verbose ? (line) => this.say(line) : undefined,
    });
    const ui = await import('../ui/place.js');
    await this.output(result, {document: ui.placeDocument, text: ui.renderPlaceResult});
    for (const warning of result.warnings) this.say(`warning: ${warning}`);
  }
}
