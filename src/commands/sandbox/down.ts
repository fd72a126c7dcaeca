import {SandboxCommand} from '../../cli/sandbox-command.js';

export default class SandboxDown extends SandboxCommand {
  static override summary = 'Stop the sandbox fleet that "sandbox up" started.';

  async run(): Promise<void> {
    const {flags} = await this.parse(SandboxDown);
    const {sandboxDown, defaultSandboxDir} = await import('../../sandbox/daemon.js');
    const stopped = await sandboxDown(flags.dir ?? defaultSandboxDir());
    process.stdout.write(stopped ? 'sandbox stopped\n' : 'no sandbox is running\n');
  }
}
