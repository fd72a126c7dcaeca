/** The labels KubeRay counts pods by (docs/design.md §4) and the tool's own (docs/design.md §3). */

export const RAY_CLUSTER_LABEL = 'ray.io/cluster';
export const RAY_GROUP_LABEL = 'ray.io/group';
export const RAY_NODE_TYPE_LABEL = 'ray.io/node-type';
/** A multi-host replica's name, on its hosts, only with KubeRay's RayMultiHostIndexing feature gate. */
export const REPLICA_NAME_LABEL = 'ray.io/worker-group-replica-name';

export const MANAGED_BY_LABEL = 'superskyray.io/managed-by';
export const MANAGED_BY = 'kubectl-superskyray';
export const GROUP_LABEL = 'superskyray.io/group';
export const ROLE_LABEL = 'superskyray.io/role';
export const HOME_CLUSTER_LABEL = 'superskyray.io/home-cluster';

export type Role = 'placeholder' | 'placeholder-budget' | 'remote-worker' | 'head-service-copy' | 'dependency-copy';

/** The app labels KubeRay gives every pod it makes, beside its `ray.io/` ones. */
export const KUBERAY_APP_LABELS: Readonly<Record<string, string>> = {'app.kubernetes.io/name': 'kuberay', 'app.kubernetes.io/created-by': 'kuberay-operator'};
