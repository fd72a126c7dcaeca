import {describe, expect, it} from 'vitest';
import {ciliumSlices, MESH_MANAGER, type ClusterServices} from '../../../test/env/cilium-standin.js';
import type {EndpointSlice} from '../../../test/env/dataplane.js';

const service = (annotations: Record<string, string>, clusterIP = 'None', uid = 'svc-uid') => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {name: 'real-head-svc', namespace: 'team', uid, labels: {app: 'ray'}, annotations},
  spec: {clusterIP},
});

const ownSlice = (addresses: string[], ready = true): EndpointSlice => ({
  metadata: {name: 'real-head-svc-abc', namespace: 'team', labels: {'kubernetes.io/service-name': 'real-head-svc', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io'}},
  addressType: 'IPv4',
  ports: [{name: 'gcs', port: 6379, protocol: 'TCP'}],
  endpoints: addresses.map((a) => ({addresses: [a], conditions: {ready}})),
});

const GLOBAL = {'service.cilium.io/global': 'true'};
const REMOTE_COPY = {'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'};

function fleet(home: Record<string, string>, remote: Record<string, string> | undefined, homeSlices = [ownSlice(['10.100.0.2'])], remoteSlices: EndpointSlice[] = []): ClusterServices[] {
  return [
    {cluster: 'onprem', services: [service(home)], slices: homeSlices},
    {cluster: 'cloud', services: remote ? [service(remote, 'None', 'copy-uid')] : [], slices: remoteSlices},
  ];
}

describe('the Cilium stand-in writes what Cilium\'s EndpointSlice synchronisation writes', () => {
  it('gives the remote copy of a global headless Service the home backends, as Cilium names and labels them', () => {
    const {create, update, remove} = ciliumSlices('cloud', fleet(GLOBAL, REMOTE_COPY));
    expect(update).toEqual([]);
    expect(remove).toEqual([]);
    expect(create).toEqual([
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          generateName: 'real-head-svc-onprem-',
          namespace: 'team',
          labels: {
            app: 'ray',
            'kubernetes.io/service-name': 'real-head-svc',
            'endpointslice.kubernetes.io/managed-by': MESH_MANAGER,
            'multicluster.kubernetes.io/source-cluster': 'onprem',
            'service.kubernetes.io/headless': '',
          },
          ownerReferences: [{apiVersion: 'v1', kind: 'Service', name: 'real-head-svc', uid: 'copy-uid', controller: true}],
        },
        addressType: 'IPv4',
        ports: [{name: 'gcs', port: 6379, protocol: 'TCP'}],
        endpoints: [{addresses: ['10.100.0.2'], conditions: {ready: true, serving: true, terminating: false}, nodeName: 'onprem', zone: 'onprem'}],
      },
    ]);
  });

  it.each([
    ['the home Service is not global', {}, REMOTE_COPY],
    ['there is no copy in the remote cluster', GLOBAL, undefined],
    ['the copy is not global', GLOBAL, {}],
  ])('writes nothing in the remote cluster when %s', (_, home, remote) => {
    expect(ciliumSlices('cloud', fleet(home, remote)).create).toEqual([]);
  });

  it('shares nothing from a cluster whose Service says shared: "false"', () => {
    // The copy in cloud has no backends of its own, and shares none: onprem gets no slice from it.
    expect(ciliumSlices('onprem', fleet(GLOBAL, REMOTE_COPY)).create).toEqual([]);
    // Shared (the default), its backends do reach onprem.
    const shared = ciliumSlices('onprem', fleet(GLOBAL, GLOBAL, [ownSlice(['10.100.0.2'])], [ownSlice(['10.101.0.9'])])).create;
    expect(shared.map((s) => s.endpoints?.[0]?.addresses)).toEqual([['10.101.0.9']]);
  });

  it('syncs a ClusterIP Service only when it asks with global-sync-endpoint-slices', () => {
    const clusterIP = (annotations: Record<string, string>): ClusterServices[] => [
      {cluster: 'onprem', services: [service(GLOBAL, '10.64.3.4')], slices: [ownSlice(['10.100.0.2'])]},
      {cluster: 'cloud', services: [service(annotations, '10.65.3.4', 'copy-uid')], slices: []},
    ];
    expect(ciliumSlices('cloud', clusterIP(REMOTE_COPY)).create).toEqual([]);
    expect(ciliumSlices('cloud', clusterIP({...REMOTE_COPY, 'service.cilium.io/global-sync-endpoint-slices': 'true'})).create).toHaveLength(1);
  });

  it('exports only endpoints that are ready or serving, and never its own mesh slices back', () => {
    const meshSlice = {...ownSlice(['10.102.0.1']), metadata: {...ownSlice([]).metadata, labels: {'kubernetes.io/service-name': 'real-head-svc', 'endpointslice.kubernetes.io/managed-by': MESH_MANAGER}}};
    const {create} = ciliumSlices('cloud', fleet(GLOBAL, REMOTE_COPY, [ownSlice(['10.100.0.3'], false), ownSlice(['10.100.0.2']), meshSlice]));
    expect(create.flatMap((s) => s.endpoints ?? []).map((e) => e.addresses[0])).toEqual(['10.100.0.2']);
  });

  it('updates its slice in place when the home backends change, and deletes it when the pair no longer qualifies', () => {
    const [written] = ciliumSlices('cloud', fleet(GLOBAL, REMOTE_COPY)).create;
    const existing = {...written!, metadata: {...written!.metadata, name: 'real-head-svc-onprem-x7k2p'}};
    // Unchanged: nothing to do.
    expect(ciliumSlices('cloud', fleet(GLOBAL, REMOTE_COPY, undefined, [existing]))).toEqual({create: [], update: [], remove: []});
    // A new head pod IP: the same slice, updated.
    const moved = ciliumSlices('cloud', fleet(GLOBAL, REMOTE_COPY, [ownSlice(['10.100.0.9'])], [existing]));
    expect(moved.create).toEqual([]);
    expect(moved.update.map((s) => [s.metadata?.name, s.endpoints?.[0]?.addresses])).toEqual([['real-head-svc-onprem-x7k2p', ['10.100.0.9']]]);
    // The home Service is no longer global: the slice goes.
    expect(ciliumSlices('cloud', fleet({}, REMOTE_COPY, undefined, [existing])).remove.map((s) => s.metadata?.name)).toEqual(['real-head-svc-onprem-x7k2p']);
  });
});
