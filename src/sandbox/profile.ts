/**
 * Which clusters a sandbox fleet has and what fake nodes each holds: the node profiles of the real
 * test clusters (test/env/profiles), same format, so that a scenario sees the same capacity on both.
 *
 *   <cluster>:
 *     kuberay: true            # run the KubeRay operator in this cluster (default true)
 *     nodes:
 *       - {name: cpu, count: 1, cpu: "8", memory: 32Gi, gpu: 0, pods: 110, labels: {...}, taints: [...]}
 */
import yaml from 'js-yaml';

export interface NodePool {
  name: string;
  count?: number;
  cpu?: string;
  memory?: string;
  gpu?: number;
  pods?: number;
  labels?: Record<string, string>;
  taints?: Array<{key: string; value?: string; effect: string}>;
}

export interface ClusterProfile {
  kuberay?: boolean;
  nodes: NodePool[];
}

export type FleetProfile = Record<string, ClusterProfile>;

/** The profile of test/env/profiles/default.yaml: a small on-premise cluster with one GPU, a bigger cloud. */
export const DEFAULT_PROFILE: FleetProfile = {
  onprem: {nodes: [{name: 'node', count: 1, cpu: '8', memory: '32Gi', gpu: 1}]},
  cloud: {nodes: [{name: 'node', count: 2, cpu: '8', memory: '32Gi', gpu: 1}]},
  default: {nodes: [{name: 'node', count: 1, cpu: '8', memory: '32Gi'}]},
};

export const DEFAULT_CLUSTERS = ['onprem', 'cloud'];

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** Reads a profile file's text; throws an Error naming what is wrong. */
export function readProfile(text: string, source: string): FleetProfile {
  const doc = yaml.load(text);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${source} is not a map of cluster names to profiles`);
  const profile: FleetProfile = {};
  for (const [cluster, raw] of Object.entries(doc as Record<string, unknown>)) {
    const entry = raw as Partial<ClusterProfile> | null;
    if (!entry || !Array.isArray(entry.nodes)) throw new Error(`${source}: ${cluster} needs a list of nodes`);
    for (const pool of entry.nodes) {
      if (!pool || typeof pool.name !== 'string' || !NAME.test(pool.name)) throw new Error(`${source}: ${cluster} has a node pool without a valid name`);
    }
    profile[cluster] = {...(entry.kuberay === false ? {kuberay: false} : {}), nodes: entry.nodes};
  }
  return profile;
}

/** The profile of one cluster: its own entry, else `default`. */
export function profileFor(profile: FleetProfile, cluster: string): ClusterProfile {
  if (!NAME.test(cluster)) throw new Error(`"${cluster}" is not a valid cluster name`);
  const found = profile[cluster] ?? profile.default;
  if (!found) throw new Error(`the profile has no entry for cluster "${cluster}" and no "default"`);
  return found;
}
