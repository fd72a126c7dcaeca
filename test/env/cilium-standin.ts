/**
 * A stand-in for Cilium Cluster Mesh's EndpointSlice synchronisation of global Services
 * (cilium-operator with clustermesh-enable-endpoint-sync; pkg/clustermesh/endpointslicesync), for the
 * test clusters, which run no Cilium. It writes what that controller writes, as its code has it:
 *
 * - for a local Service annotated `service.cilium.io/global: "true"` that syncs (headless, or
 *   `service.cilium.io/global-sync-endpoint-slices: "true"`), one EndpointSlice per other cluster
 *   whose same-named Service is global and shared (`service.cilium.io/shared` is not "false");
 * - named `<service>-<cluster>-<random>`, labelled with the Service's labels, `kubernetes.io/service-name`,
 *   `endpointslice.kubernetes.io/managed-by: endpointslice-mesh-controller.cilium.io`,
 *   `multicluster.kubernetes.io/source-cluster` and, for a headless Service, `service.kubernetes.io/headless`;
 * - owned by the local Service; its ports are the remote backends' ports; each remote endpoint that
 *   is ready or serving is written ready and serving, with the remote cluster as nodeName and zone.
 *
 * A pair that stops qualifying (the remote Service gone, or no longer global or shared) loses its
 * slices. Plain functions: dataplane.ts makes the calls.
 */
import type {KubeObject} from '../../src/kube/types.js';
import type {EndpointSlice} from './dataplane.js';

export const MESH_MANAGER = 'endpointslice-mesh-controller.cilium.io';
const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const SERVICE_NAME = 'kubernetes.io/service-name';
const SOURCE_CLUSTER = 'multicluster.kubernetes.io/source-cluster';
const HEADLESS = 'service.kubernetes.io/headless';

interface Service extends KubeObject {
  spec?: {clusterIP?: string};
}

export interface ClusterServices {
  cluster: string;
  services: Service[];
  slices: EndpointSlice[];
}

const annotation = (s: KubeObject, key: string) => s.metadata?.annotations?.[`service.cilium.io/${key}`];
const isGlobal = (s: Service) => annotation(s, 'global') === 'true';
const isHeadless = (s: Service) => !s.spec?.clusterIP || s.spec.clusterIP === 'None';
const syncs = (s: Service) => isGlobal(s) && (annotation(s, 'global-sync-endpoint-slices') === undefined ? isHeadless(s) : annotation(s, 'global-sync-endpoint-slices')!.toLowerCase() === 'true');
const shared = (s: Service) => isGlobal(s) && annotation(s, 'shared')?.toLowerCase() !== 'false';
const key = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** The endpoints one cluster exports for a Service: its own slices' ready or serving endpoints. */
function exported(from: ClusterServices, service: Service): Pick<EndpointSlice, 'endpoints' | 'ports'> {
  const own = from.slices.filter(
    (s) => s.metadata?.namespace === service.metadata?.namespace && s.metadata?.labels?.[SERVICE_NAME] === service.metadata?.name && s.metadata?.labels?.[MANAGED_BY] !== MESH_MANAGER,
  );
  const endpoints = own.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false || e.conditions?.serving === true));
  const ports = own[0]?.ports ?? [];
  return {
    ports: ports.map((p) => ({...(p.name !== undefined ? {name: p.name} : {}), protocol: p.protocol ?? 'TCP', port: p.port})),
    endpoints: endpoints.map((e) => ({addresses: e.addresses, conditions: {ready: true, serving: true, terminating: false}, ...(e.hostname ? {hostname: e.hostname} : {}), nodeName: from.cluster, zone: from.cluster} as NonNullable<EndpointSlice['endpoints']>[number])),
  };
}

const content = (s: Pick<EndpointSlice, 'endpoints' | 'ports'>) => JSON.stringify({endpoints: s.endpoints ?? [], ports: s.ports ?? []});

/** The slices to create in `local`, and the stand-in's own there to update in place or delete. */
export function ciliumSlices(local: string, clusters: ClusterServices[]): {create: EndpointSlice[]; update: EndpointSlice[]; remove: EndpointSlice[]} {
  const here = clusters.find((c) => c.cluster === local);
  if (!here) return {create: [], update: [], remove: []};
  const desired = new Map<string, EndpointSlice>();
  for (const service of here.services.filter(syncs)) {
    for (const remote of clusters) {
      if (remote.cluster === local) continue;
      const twin = remote.services.find((s) => key(s) === key(service));
      if (!twin || !shared(twin)) continue;
      const name = service.metadata!.name!;
      desired.set(`${key(service)}@${remote.cluster}`, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          generateName: `${name}-${remote.cluster}-`,
          namespace: service.metadata!.namespace,
          labels: {
            ...service.metadata?.labels,
            [SERVICE_NAME]: name,
            [MANAGED_BY]: MESH_MANAGER,
            [SOURCE_CLUSTER]: remote.cluster,
            ...(isHeadless(service) ? {[HEADLESS]: ''} : {}),
          },
          ownerReferences: [{apiVersion: 'v1', kind: 'Service', name, uid: service.metadata!.uid!, controller: true}],
        },
        addressType: 'IPv4',
        ...exported(remote, twin),
      } as EndpointSlice);
    }
  }
  const create: EndpointSlice[] = [];
  const update: EndpointSlice[] = [];
  const remove: EndpointSlice[] = [];
  const mine = here.slices.filter((s) => s.metadata?.labels?.[MANAGED_BY] === MESH_MANAGER);
  const kept = new Set<string>();
  for (const slice of mine) {
    const pair = `${slice.metadata?.namespace}/${slice.metadata?.labels?.[SERVICE_NAME]}@${slice.metadata?.labels?.[SOURCE_CLUSTER]}`;
    const want = desired.get(pair);
    const owner = here.services.find((s) => key(s) === `${slice.metadata?.namespace}/${slice.metadata?.labels?.[SERVICE_NAME]}`);
    const ownedByIt = slice.metadata?.ownerReferences?.some((o) => o.uid === owner?.metadata?.uid);
    if (want && ownedByIt && !kept.has(pair)) {
      kept.add(pair);
      if (content(slice) !== content(want)) update.push({...slice, endpoints: want.endpoints, ports: want.ports});
    } else {
      remove.push(slice);
    }
  }
  for (const [pair, slice] of desired) if (!kept.has(pair)) create.push(slice);
  return {create, update, remove};
}
