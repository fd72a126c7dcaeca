/**
 * What `watch` keeps of each fleet cluster (docs/fleet-scale.md): one list-then-watch per kind it
 * reads, scoped to the namespace it manages. Passes read these; writes go to the API.
 */
import {withoutManagedFields, type InformerSpec} from '../kube/informer.js';
import {RESOURCES} from '../kube/resources.js';
import type {KubeObject, Node, Pod, PodSpec} from '../kube/types.js';
import {GROUP_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {KUBE_SYSTEM} from './fleet-status.js';

/** Read by name on every pass, and kept a minute: the kube-system Namespace, whose UID names the cluster. */
export const REMEMBERED = [{type: RESOURCES.namespaces, name: KUBE_SYSTEM}];

export const NON_TERMINAL = 'status.phase!=Succeeded,status.phase!=Failed';

/**
 * A pod kept only for the room it takes: what placement and the capacity summary read, and
 * nothing else. Tens of thousands of them fit in tens of megabytes.
 */
export function roomOf(o: KubeObject): KubeObject {
  const pod = o as Pod;
  const spec: PodSpec = pod.spec ?? {containers: []};
  const resources = (c: {name: string; resources?: unknown; restartPolicy?: string}) => ({name: c.name, ...(c.resources ? {resources: c.resources} : {}), ...(c.restartPolicy ? {restartPolicy: c.restartPolicy} : {})});
  const nodeAffinity = (spec.affinity as {nodeAffinity?: unknown} | undefined)?.nodeAffinity;
  return {
    metadata: {
      name: o.metadata?.name,
      namespace: o.metadata?.namespace,
      uid: o.metadata?.uid,
      resourceVersion: o.metadata?.resourceVersion,
      ...(o.metadata?.labels ? {labels: o.metadata.labels} : {}),
      ...(o.metadata?.deletionTimestamp ? {deletionTimestamp: o.metadata.deletionTimestamp} : {}),
    },
    spec: {
      ...(spec.nodeName ? {nodeName: spec.nodeName} : {}),
      containers: (spec.containers ?? []).map(resources),
      ...(spec.initContainers ? {initContainers: spec.initContainers.map(resources)} : {}),
      ...(spec.overhead ? {overhead: spec.overhead} : {}),
      ...(spec.nodeSelector ? {nodeSelector: spec.nodeSelector} : {}),
      ...(nodeAffinity ? {affinity: {nodeAffinity}} : {}),
      ...(spec.tolerations ? {tolerations: spec.tolerations} : {}),
    },
    status: {phase: pod.status?.phase},
  };
}

/** A node without its image list and managed fields, which a real node carries by the kilobyte. */
export function nodeOf(o: KubeObject): KubeObject {
  const node = o as Node;
  const {images: _images, ...status} = (node.status ?? {}) as Record<string, unknown>;
  const {managedFields: _managed, ...metadata} = node.metadata ?? {};
  return {...node, metadata, status};
}

/**
 * Label keys that only Ray pods carry (KubeRay's, and the tool's, which it puts only on Ray pods and
 * the copies): a list that requires one of them finds every match among the Ray pods.
 */
const RAY_POD_KEYS = [RAY_NODE_TYPE_LABEL, RAY_CLUSTER_LABEL, GROUP_LABEL, ROLE_LABEL, MANAGED_BY_LABEL];
const requiresRayKey = (terms: string[]) => terms.some((t) => RAY_POD_KEYS.some((k) => t === k || t.startsWith(`${k}=`) || t.startsWith(`${k}==`) || t.startsWith(`${k}in(`)));

/**
 * The informers of one cluster, for groups in `namespace` (undefined: every namespace).
 *
 * Pods are watched twice. The Ray pods of the namespace, whole and in every phase, are what the
 * groups are made of. Every non-terminal pod of the cluster, kept small, is the room that placement
 * counts: a node is full whoever's pods fill it. A field selector on spec.nodeName per node pool
 * would not do: field selectors take one value per requirement and no set, so that would be one
 * watch per node, and Pending pods, which take room first, have no node.
 */
export function informerSpecs(namespace: string | undefined): InformerSpec[] {
  const copies = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  return [
    {type: RESOURCES.nodes, keep: nodeOf, shared: true},
    {type: RESOURCES.pods, fieldSelector: NON_TERMINAL, keep: roomOf, shared: true, answersLabels: (terms) => terms.length === 0},
    {type: RESOURCES.pods, namespace, labelSelector: RAY_NODE_TYPE_LABEL, answersLabels: requiresRayKey},
    {type: RESOURCES.rayclusters, namespace},
    {type: RESOURCES.rayservices, namespace},
    {type: RESOURCES.rayjobs, namespace},
    // What the preflight weighs a remote worker against, before it is made.
    {type: RESOURCES.resourcequotas, namespace},
    {type: RESOURCES.services, namespace, labelSelector: copies},
    ...copySpecs(namespace),
  ];
}

/**
 * The copies of the tool's other than Services, by its label. Without the secrets role the Secrets'
 * list is refused, and reads of Secrets go to the API as before.
 */
function copySpecs(namespace: string | undefined): InformerSpec[] {
  const copies = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  return [RESOURCES.endpointslices, RESOURCES.configmaps, RESOURCES.serviceaccounts, RESOURCES.secrets].map((type) => ({type, namespace, labelSelector: copies}));
}

/** A Ray pod whole (the groups are made of them), any other only for the room it takes. */
function rayPodOrRoom(o: KubeObject): KubeObject {
  const labels = o.metadata?.labels ?? {};
  return RAY_POD_KEYS.some((k) => labels[k] !== undefined) ? withoutManagedFields(o) : roomOf(o);
}

/**
 * What `status -A` (and `status -n NS`) lists of each cluster, once per kind: the room, every Ray
 * object, and what the groups are made of. Every group is then read from these lists, never with
 * a request of its own. One list of every pod serves both the room and the Ray pods. Services and
 * PodDisruptionBudgets are listed whole, since the home head Service (KubeRay's) and the
 * placeholders' budget are read by name; the copies carry the tool's label.
 */
export function listingSpecs(namespace: string | undefined): InformerSpec[] {
  return [
    {type: RESOURCES.nodes, keep: nodeOf, shared: true},
    {type: RESOURCES.pods, keep: rayPodOrRoom},
    {type: RESOURCES.rayclusters, namespace},
    {type: RESOURCES.rayservices, namespace},
    {type: RESOURCES.rayjobs, namespace},
    {type: RESOURCES.services, namespace},
    {type: RESOURCES.poddisruptionbudgets, namespace},
    ...copySpecs(namespace),
  ];
}
