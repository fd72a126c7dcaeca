import {Command} from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import {reportFailure} from './base-command.js';

/** The sandbox commands take no fleet: they make one. They fail as every command does. */
export abstract class SandboxCommand extends Command {
  static override baseFlags = {
    dir: Flags.string({description: 'The sandbox\'s folder: kubeconfig, state and log. [default: $XDG_STATE_HOME/kubectl-superskyray/sandbox, else ~/.local/state/...]'}),
  };

  protected override async catch(err: Error & {exitCode?: number}): Promise<void> {
    reportFailure(err, this.id ?? '', this.argv);
  }
}
