import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import {BaseCommand, placeholderImage, joinTimeout, claim, EXIT} from '../cli/base-command.js';

export default class Watch extends BaseCommand<typeof Watch> {
  static override summary = 'Reconcile continuously: span new workers that do not fit at home, follow shrinks, collapse.';
  static override description =
    'Watches pods and Ray objects in every fleet cluster and reconciles each group when something changes: a Pending worker that does not fit at home is spanned within about a second; when the group shrinks (the autoscaler or scale), remote workers go with their placeholders, and a group with none left collapses. It never writes replicas or workersToDelete of an autoscaled group. On a terminal it shows a TUI: the groups with their workers per cluster, the clusters with their capacity, a log of recent actions, and the detail of the selected group (keys: q quit, p pause reconciling and only observe, up/down select, enter detail). Elsewhere, or with --no-tui, -o wide/json or --once, it prints one line per action or state change (-o json: one JSON object per line). q, Ctrl-C or SIGTERM stops it cleanly.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --context onprem --context cloud',
    '<%= config.bin %> <%= command.id %> raycluster/my-app -n ml --once',
  ];
  static override strict = false;
  static override args = {group: Args.string({description: 'rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME (several allowed); none: every group the tool manages'})};
  static override flags = {
    once: Flags.boolean({description: 'Reconcile every group once, then exit (for cron jobs and scripts).'}),
    'no-tui': Flags.boolean({description: 'Plain lines even on a terminal.'}),
    'copy-secrets': Flags.boolean({description: 'Copy the Secrets the workers need to other clusters (never done without this flag).'}),
    'placeholder-image': placeholderImage,
    'join-timeout': joinTimeout,
    claim,
  };

  async run(): Promise<void> {
    const groups = this.positionals;
    const fleet = await this.openFleet();
    // Runs until stopped: Ctrl-C, SIGTERM or q end it after the pass in flight, with exit 0. Only
    // --once, a single pass for scripts, is bounded by --timeout.
    const signal = this.runSignal({deadline: this.flags.once});
    const stop = new AbortController();
    signal.addEventListener('abort', () => stop.abort(signal.reason), {once: true});
    const options = {
      groups,
      // -n, else the contexts' namespace; with neither, every namespace.
      namespace: this.flags.namespace ?? fleet.namespace,
      once: this.flags.once,
      copySecrets: this.flags['copy-secrets'],
      signal: stop.signal,
    };
    const tui = process.stdout.isTTY === true && !this.flags['no-tui'] && this.outputFormat === 'table' && !this.flags.once;
    if (!tui) {
      const [{watchFleet}, {watchLines}] = await Promise.all([import('../reconcile/watch.js'), import('../ui/watch-lines.js')]);
      const format = this.outputFormat === 'json' || this.outputFormat === 'yaml' ? this.outputFormat : 'text';
      const {failedPasses, degraded} = await watchFleet(fleet, {
        ...options,
        report: (r) => {
          for (const line of watchLines(r, format)) process.stdout.write(`${line}\n`);
        },
      });
      if (this.flags.once) {
        // A cron job must see that a group could not be reconciled, or a cluster not looked at.
        if (signal.aborted) throw signal.reason;
        if (failedPasses > 0 || degraded.length > 0) process.exitCode = EXIT.failed;
      }
      return;
    }
    // Only here are ink and React loaded: the plain lines and every other command do without them.
    const [{watchFleet}, {startWatchTui}] = await Promise.all([import('../reconcile/watch.js'), import('../ui/watch-tui.js')]);
    const view = startWatchTui({
      contexts: fleet.clusters.map((c) => c.context),
      onQuit: () => {
        // Once: stop after the pass in flight. Twice: stop now.
        if (!stop.signal.aborted) return stop.abort();
        void view.close().then(() => process.exit(130));
      },
    });
    try {
      await watchFleet(fleet, {...options, report: view.report, paused: view.paused, detail: true});
    } finally {
      await view.close();
    }
  }
}
