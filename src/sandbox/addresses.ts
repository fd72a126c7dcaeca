/**
 * The pod addresses of a fleet's cluster number `cluster` (0, 1, ...), one /24 per node: the sandbox
 * and the real test clusters (test/env/network.ts) give pods the same ones, in a private range that
 * nothing outside test/env's own network namespaces routes.
 *
 * A cluster's own /16 holds only 240 such blocks (its .250 is KWOK's fallback), so the nodes past the
 * 240th (a benchmark's fleet of a thousand) get a /27 each (30 pods) from the pod network's spare
 * 10.116.0.0 - 10.127.255.255, OVERFLOW_NODES per cluster.
 */
export const OVERFLOW_FROM = 240;
export const OVERFLOW_NODES = 1536;

export function nodePodCIDR(cluster: number, node: number): string {
  if (node < OVERFLOW_FROM) return `10.${100 + cluster}.${node}.0/24`;
  const block = node - OVERFLOW_FROM;
  if (block >= OVERFLOW_NODES) throw new Error(`cluster ${cluster}: node ${node} has no pod CIDR (at most ${OVERFLOW_FROM + OVERFLOW_NODES} nodes per cluster)`);
  const base = (116 << 16) + (cluster * OVERFLOW_NODES + block) * 32;
  return `10.${(base >> 16) & 255}.${(base >> 8) & 255}.${base & 255}/27`;
}
