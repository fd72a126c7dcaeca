import * as Flags from '@oclif/core/flags';
import {BaseCommand, claim, EXIT} from '../cli/base-command.js';

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override summary = 'Check every context of the fleet before trusting the tool with it.';
  static override description =
    'Per context: reachable and which version, credentials accepted, every verb the tool uses allowed (SelfSubjectAccessReview, in -n), the KubeRay CRDs, the Ray version and Ray autoscaler of each autoscaled RayCluster, RayService and RayJob in -n, Cilium Cluster Mesh with --mesh cilium (cluster name, unique cluster id, EndpointSlice sync), one cluster domain across the fleet, pod CIDRs apart across the fleet, NetworkPolicies in -n that would drop Ray traffic between clusters, and no cluster reached through two contexts. Each check is ok, warn or fail, with the fix. Exits 1 if any check fails. It changes nothing.';
  static override examples = ['<%= config.bin %> <%= command.id %> --context onprem --context cloud', '<%= config.bin %> <%= command.id %> -n ml --copy-secrets -o json'];
  static override flags = {
    'copy-secrets': Flags.boolean({description: 'Also check the Secret verbs that --copy-secrets needs.'}),
    mesh: Flags.option({options: ['cilium', 'endpoints'] as const, default: 'cilium' as const, description: 'The mesh mode the groups use (place --mesh): Cilium Cluster Mesh is checked only for cilium.'})(),
    claim,
  };

  async run(): Promise<void> {
    const fleet = await this.openFleet();
    const {doctor} = await import('../reconcile/doctor.js');
    const report = await doctor(fleet, {namespace: this.namespaceIn(fleet), copySecrets: this.flags['copy-secrets'], mesh: this.flags.mesh, signal: this.runSignal()});
    const ui = await import('../ui/doctor.js');
    await this.output(report, {document: ui.doctorDocument, text: ui.renderDoctor});
    if (report.clusters.some((c) => c.checks.some((k) => k.status === 'fail'))) process.exitCode = EXIT.failed;
  }
}
