import {describe, expect, it} from 'vitest';
import type {KubeObject} from '../../../src/kube/types.js';
import {isUpToDate} from '../../../src/reconcile/diff.js';

const cm = (data: Record<string, string>, labels: Record<string, string> = {}, extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {name: 'c', namespace: 'ml', labels},
  data,
  ...extra,
});

describe('isUpToDate: would applying desired change nothing?', () => {
  it.each([
    {name: 'nothing live', live: undefined, desired: cm({a: '1'}), want: false},
    {name: 'the same', live: cm({a: '1'}, {x: 'y'}), desired: cm({a: '1'}, {x: 'y'}), want: true},
    {
      name: 'live has more: server metadata, defaults, other labels, status',
      live: {...cm({a: '1'}, {x: 'y', other: 'z'}), metadata: {name: 'c', uid: 'u', resourceVersion: '9', labels: {x: 'y', other: 'z'}}, status: {ready: true}},
      desired: cm({a: '1'}, {x: 'y'}),
      want: true,
    },
    {name: 'a value differs', live: cm({a: '1'}), desired: cm({a: '2'}), want: false},
    {name: 'a label is missing', live: cm({a: '1'}), desired: cm({a: '1'}, {x: 'y'}), want: false},
    {
      name: 'an annotation differs',
      live: {...cm({}), metadata: {name: 'c', annotations: {p: '1'}}},
      desired: {...cm({}), metadata: {name: 'c', annotations: {p: '2'}}},
      want: false,
    },
    {
      name: 'an array of another length',
      live: {kind: 'RayCluster', metadata: {name: 'r'}, spec: {workerGroupSpecs: [{groupName: 'a'}, {groupName: 'b'}]}},
      desired: {kind: 'RayCluster', metadata: {name: 'r'}, spec: {workerGroupSpecs: [{groupName: 'a'}]}},
      want: false,
    },
    {
      name: 'array items with defaults added by the server',
      live: {kind: 'RayCluster', metadata: {name: 'r'}, spec: {workerGroupSpecs: [{groupName: 'a', numOfHosts: 1, replicas: 2}]}},
      desired: {kind: 'RayCluster', metadata: {name: 'r'}, spec: {workerGroupSpecs: [{groupName: 'a', replicas: 2}]}},
      want: true,
    },
    {
      name: "a Secret's stringData, stored base64 in data",
      live: {kind: 'Secret', metadata: {name: 's'}, data: {token: Buffer.from('abc').toString('base64')}},
      desired: {kind: 'Secret', metadata: {name: 's'}, stringData: {token: 'abc'}},
      want: true,
    },
    {
      name: "a Secret's stringData that changed",
      live: {kind: 'Secret', metadata: {name: 's'}, data: {token: Buffer.from('abc').toString('base64')}},
      desired: {kind: 'Secret', metadata: {name: 's'}, stringData: {token: 'xyz'}},
      want: false,
    },
    {
      name: 'an owner to add (placed before dependencies were owned)',
      live: cm({a: '1'}),
      desired: {...cm({a: '1'}), metadata: {name: 'c', ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'r', uid: 'u1'}]}},
      want: false,
    },
    {
      name: 'the owner is there, beside another',
      live: {...cm({a: '1'}), metadata: {name: 'c', ownerReferences: [{apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u0'}, {apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'r', uid: 'u1'}]}},
      desired: {...cm({a: '1'}), metadata: {name: 'c', ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'r', uid: 'u1'}]}},
      want: true,
    },
    {
      name: 'an owner of the same name made again (another UID)',
      live: {...cm({a: '1'}), metadata: {name: 'c', ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'r', uid: 'u1'}]}},
      desired: {...cm({a: '1'}), metadata: {name: 'c', ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'r', uid: 'u2'}]}},
      want: false,
    },
  ])('$name: $want', ({live, desired, want}) => {
    expect(isUpToDate(live, desired)).toBe(want);
  });
});
