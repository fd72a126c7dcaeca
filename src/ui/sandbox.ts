/** What "sandbox up" says: where the kubeconfig is, and how to use and stop the fleet. */
export function renderSandboxUp(result: {started: boolean; state: {kubeconfig: string; clusters: Array<{name: string; url: string}>}; log: string}, dir?: string): string {
  const contexts = result.state.clusters.map((c) => c.name);
  const fleet = contexts.map((c) => `--context ${c}`).join(' ');
  return [
    `sandbox ${result.started ? 'started' : 'already running'}: ${result.state.clusters.map((c) => `${c.name} (${c.url})`).join(', ')}`,
    `kubeconfig: ${result.state.kubeconfig}`,
    '',
    'Try:',
    `  export KUBECONFIG=${result.state.kubeconfig}`,
    `  kubectl superskyray status ${fleet}`,
    `  kubectl superskyray watch ${fleet}`,
    `  kubectl --context ${contexts[0]} get pods -A`,
    `  kubectl --context ${contexts[0]} get rayclusters -A`,
    '',
    `Stop it with: kubectl superskyray sandbox down${dir ? ` --dir ${dir}` : ''}   (log: ${result.log})`,
    '',
  ].join('\n');
}
