import * as Flags from '@oclif/core/flags';
import {SandboxCommand} from '../../cli/sandbox-command.js';

export default class SandboxUp extends SandboxCommand {
  static override summary = 'Start a sandbox fleet on this machine: simulated clusters with KubeRay, one kubeconfig context each.';
  static override description =
    'Each cluster is an API server on 127.0.0.1 with fake nodes (from --profile, the format of test/env/profiles), a scheduler, a kubelet, the controllers the tool relies on and a KubeRay operator, all in one background process. Nothing is pulled or installed. The kubeconfig has one context per cluster, named as the cluster. It returns once the fleet answers; "sandbox down" stops it.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --clusters dc1,dc2,cloud --profile fleet.yaml'];
  static override flags = {
    clusters: Flags.string({description: 'The clusters, most preferred first.', default: 'onprem,cloud'}),
    profile: Flags.string({description: 'A node profile file: per cluster, its node pools (cpu, memory, nvidia.com/gpu, labels, taints).'}),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(SandboxUp);
    const {sandboxUp, defaultSandboxDir} = await import('../../sandbox/daemon.js');
    const clusters = flags.clusters.split(',').map((c) => c.trim()).filter(Boolean);
    const result = await sandboxUp({dir: flags.dir ?? defaultSandboxDir(), clusters, profileFile: flags.profile, entry: process.argv[1]!});
    const {renderSandboxUp} = await import('../../ui/sandbox.js');
    process.stdout.write(renderSandboxUp(result, flags.dir));
  }
}
