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
 * A dependency of the group owned by its Ray object, so that Kubernetes' own collector removes it
 * with the Ray object, whoever deletes that (kubectl, a GitOps prune, a RayJob's TTL). Not a
 * controller reference, and without blockOwnerDeletion: nothing else is claimed, and no permission
 * on the Ray object's finalizers is needed.
 */
export function ownedBy(obj: KubeObject, owner: KubeObject): KubeObject {
  const uid = owner.metadata?.uid;
  if (!uid) return obj;
  const ref = {apiVersion: owner.apiVersion ?? 'ray.io/v1', kind: owner.kind ?? '', name: owner.metadata?.name ?? '', uid};
  const others = (obj.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
  return {...obj, metadata: {...obj.metadata, ownerReferences: [...others, ref]}};
}

/**
 * The objects of a group as the tool applies them: each in the group's namespace and labelled as
 * the group's, the Ray object also carrying the policy and the last placement. Dependencies come
 * first, so that the Ray object never starts without the ConfigMaps and Secrets it mounts; they
 * are owned by the Ray object once it exists (`owner`, the live one), so a first placement applies
 * them again, owned, right after it.
 */
export function desiredGroupObjects(manifest: GroupManifest, namespace: string, policy: GroupPolicy, placement: unknown, owner?: KubeObject): KubeObject[] {
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
    ...manifest.dependencies.map((obj) => (owner ? ownedBy(label(obj), owner) : label(obj))),
    label(manifest.ray, {
      [POLICY_ANNOTATION]: JSON.stringify(policy),
      [PLACEMENT_ANNOTATION]: JSON.stringify(placement),
    }),
  ];
}

/** On the Ray object at the old home while the group moves, and on the new one: the other cluster's id. */
export const RELOCATING_TO_ANNOTATION = 'superskyray.io/relocating-to';
export const RELOCATED_FROM_ANNOTATION = 'superskyray.io/relocated-from';

const CLUSTER_BOUND_SPEC: Record<string, string[]> = {
  // Allocated by each cluster from its own ranges.
  Service: ['clusterIP', 'clusterIPs', 'healthCheckNodePort'],
};

/**
 * An object of the group as it is applied in the cluster it moves to: what the user gave, without
 * what the old cluster gave it (identity, status, allocated addresses, token Secrets, the
 * in-flight workersToDelete of the old pods).
 */
export function relocatedObject(obj: KubeObject, annotations: Record<string, string | undefined> = {}): KubeObject {
  const meta = obj.metadata ?? {};
  const {status: _status, metadata: _metadata, ...rest} = obj;
  const out: KubeObject & {spec?: Record<string, unknown>} = JSON.parse(JSON.stringify(rest)) as KubeObject;
  const kept = {...meta.annotations, ...annotations};
  delete kept['kubectl.kubernetes.io/last-applied-configuration'];
  for (const [k, v] of Object.entries(kept)) if (v === undefined) delete kept[k];
  out.metadata = {name: meta.name, namespace: meta.namespace, ...(meta.labels ? {labels: {...meta.labels}} : {}), ...(Object.keys(kept).length > 0 ? {annotations: kept as Record<string, string>} : {})};
  for (const field of CLUSTER_BOUND_SPEC[obj.kind ?? ''] ?? []) delete out.spec?.[field];
  if (obj.kind === 'ServiceAccount') delete (out as {secrets?: unknown}).secrets;
  const groups = (out.spec as {workerGroupSpecs?: Array<{scaleStrategy?: unknown}>} | undefined)?.workerGroupSpecs;
  for (const g of groups ?? []) delete g.scaleStrategy;
  return out;
}

const SIZE_FIELDS = ['replicas', 'minReplicas', 'maxReplicas'] as const;
type SizeField = (typeof SIZE_FIELDS)[number];
type SizedGroup = {groupName?: string} & Partial<Record<SizeField, number>>;

/** One size a re-applied manifest would have changed, kept as it is live. */
export interface KeptSize {
  group: string;
  field: SizeField;
  live: number;
  /** undefined: the manifest does not set it. */
  manifest?: number;
}

/**
 * The Ray object to apply over a live one, with each worker group's sizes (replicas, minReplicas,
 * maxReplicas) kept as they are live. Sizes change through `scale`, which removes remote workers
 * first and records why; re-applying a manifest must neither shrink a running group behind
 * KubeRay's back (it would delete workers at random, remote twins left running) nor undo a bound
 * `scale` moved. Returns the object and what of the manifest was set aside.
 */
export function keepLiveSizes(desired: KubeObject, live: KubeObject, specPath: string): {object: KubeObject; kept: KeptSize[]} {
  const at = (obj: KubeObject): SizedGroup[] | undefined => {
    let node = obj as Record<string, any> | undefined;
    for (const key of specPath.split('.')) node = node?.[key];
    return node?.workerGroupSpecs as SizedGroup[] | undefined;
  };
  const liveGroups = at(live) ?? [];
  const out = JSON.parse(JSON.stringify(desired)) as KubeObject;
  const kept: KeptSize[] = [];
  for (const g of at(out) ?? []) {
    const current = liveGroups.find((l) => l.groupName === g.groupName);
    if (!current) continue;
    for (const field of SIZE_FIELDS) {
      const value = current[field];
      if (value === undefined || g[field] === value) continue;
      kept.push({group: g.groupName ?? '', field, live: value, ...(g[field] !== undefined ? {manifest: g[field]} : {})});
      g[field] = value;
    }
  }
  return {object: out, kept};
}
