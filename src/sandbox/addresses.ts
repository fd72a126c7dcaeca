/**
 * The pod addresses of a fleet's cluster number `cluster` (0, 1, ...), one /24 per node: the sandbox
 * and the real test clusters (test/env/network.ts) give pods the same ones, in a private range that
 * nothing outside test/env's own network namespaces routes.
 */
export function nodePodCIDR(cluster: number, node: number): string {
  return `10.${100 + cluster}.${node}.0/24`;
}
