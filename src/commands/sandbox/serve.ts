import * as Flags from '@oclif/core/flags';
import {SandboxCommand} from '../../cli/sandbox-command.js';

/** The background process of "sandbox up". Hidden: people start it through "sandbox up". */
export default class SandboxServe extends SandboxCommand {
  static override hidden = true;
  static override summary = 'Run the sandbox fleet in this process until SIGTERM.';
  static override flags = {
    clusters: Flags.string({default: 'onprem,cloud'}),
    profile: Flags.string(),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(SandboxServe);
    const {serveSandbox, defaultSandboxDir} = await import('../../sandbox/daemon.js');
    await serveSandbox({dir: flags.dir ?? defaultSandboxDir(), clusters: flags.clusters.split(',').map((c) => c.trim()).filter(Boolean), profileFile: flags.profile});
  }
}
