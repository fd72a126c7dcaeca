import type {KubeObject} from '../kube/types.js';
import type {GroupManifest} from './demand.js';
import {GROUP_LABEL, MANAGED_BY, MANAGED_BY_LABEL} from './labels.js';

export const POLICY_ANNOTATION = 'superskyray.io/policy';
export const PLACEMENT_ANNOTATION = 'superskyray.io/placement';

/** What the user chose for the group; kept on its Ray object so that any machine acts the same. */
export interface GroupPolicy {
  /** The fleet's cluster ids, most preferred first. */
  fleet: string[];
  relocate: 'if-fits' | 'never';
  mesh: 'cilium' | 'endpoints' | 'mcs';
}

/**
 * The objects of a group as the tool applies them: each in the group's namespace and labelled as
 * the group's, the Ray object also carrying the policy and the last placement. Dependencies come
 * first, so that the Ray object never starts without the ConfigMaps and Secrets it mounts.
 */
export function desiredGroupObjects(manifest: GroupManifest, namespace: string, policy: GroupPolicy, placement: unknown): KubeObject[] {
  const group = manifest.ray.metadata?.name ?? '';
  const label = (obj: KubeObject, annotations: Record<string, string> = {}): KubeObject => ({
    ...obj,
    metadata: {
      ...obj.metadata,
      namespace,
      labels: {...obj.metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: group},
      ...(Object.keys(annotations).length > 0 || obj.metadata?.annotations
        ? {annotations: {...obj.metadata?.annotations, ...annotations}}
        : {}),
    },
  });
  return [
    ...manifest.dependencies.map((obj) => label(obj)),
    label(manifest.ray, {
      [POLICY_ANNOTATION]: JSON.stringify(policy),
      [PLACEMENT_ANNOTATION]: JSON.stringify(placement),
    }),
  ];
}
