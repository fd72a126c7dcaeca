/** The labels KubeRay counts pods by (docs/design.md §4) and the tool's own (docs/design.md §3). */

export const RAY_CLUSTER_LABEL = 'ray.io/cluster';
export const RAY_GROUP_LABEL = 'ray.io/group';
export const RAY_NODE_TYPE_LABEL = 'ray.io/node-type';

export const MANAGED_BY_LABEL = 'superskyray.io/managed-by';
export const MANAGED_BY = 'kubectl-superskyray';
export const GROUP_LABEL = 'superskyray.io/group';
export const ROLE_LABEL = 'superskyray.io/role';
export const HOME_CLUSTER_LABEL = 'superskyray.io/home-cluster';

export type Role = 'placeholder' | 'placeholder-budget' | 'remote-worker' | 'head-service-copy' | 'dependency-copy';
