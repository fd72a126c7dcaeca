import {describe, expect, it} from 'vitest';
import {desiredGroupObjects, keepLiveSizes, ownedBy, relocatedObject} from '../../../src/kuberay/group.js';
import {readGroupManifest} from '../../../src/kuberay/manifest.js';

const manifest = readGroupManifest(
  `
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: app, labels: {team: ml}, annotations: {note: mine}}
spec:
  headGroupSpec: {rayStartParams: {}, template: {spec: {containers: [{name: h, image: ray}]}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: code}
data: {main.py: "print(1)"}
`,
  'app.yaml',
);

describe('desiredGroupObjects', () => {
  const policy = {fleet: ['id-a', 'id-b'], relocate: 'never' as const, mesh: 'cilium' as const};
  const objects = desiredGroupObjects(manifest, 'ml', policy, {home: 'id-a'});

  it('puts the dependencies first and the Ray object last, all in the namespace', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`)).toEqual(['ConfigMap/ml/code', 'RayCluster/ml/app']);
  });

  it("labels every object as the group's, keeping the user's labels", () => {
    expect(objects.map((o) => o.metadata?.labels)).toEqual([
      {'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': 'app'},
      {team: 'ml', 'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': 'app'},
    ]);
  });

  it('keeps the policy and the placement on the Ray object only, beside its own annotations', () => {
    expect(objects[0]?.metadata?.annotations).toBeUndefined();
    expect(objects[1]?.metadata?.annotations).toEqual({
      note: 'mine',
      'superskyray.io/policy': '{"fleet":["id-a","id-b"],"relocate":"never","mesh":"cilium"}',
      'superskyray.io/placement': '{"home":"id-a"}',
    });
  });

  it('leaves the manifest as it was', () => {
    expect(manifest.ray.metadata?.labels).toEqual({team: 'ml'});
  });

  it('makes the dependencies owned by the live Ray object, not a controller reference, and never the Ray object itself', () => {
    const live = {apiVersion: 'ray.io/v1', kind: 'RayCluster', metadata: {name: 'app', uid: 'rc-1'}};
    const owned = desiredGroupObjects(manifest, 'ml', policy, {home: 'id-a'}, live);
    expect(owned[0]?.metadata?.ownerReferences).toEqual([{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'app', uid: 'rc-1'}]);
    expect(owned[1]?.metadata?.ownerReferences).toBeUndefined();
    expect(objects[0]?.metadata?.ownerReferences).toBeUndefined();
  });
});

describe('ownedBy', () => {
  const cm = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'code', ownerReferences: [{apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'p-1'}]}};
  it('keeps owners the user gave and adds the Ray object once', () => {
    const ray = {apiVersion: 'ray.io/v1', kind: 'RayJob', metadata: {name: 'job', uid: 'j-1'}};
    const once = ownedBy(cm, ray);
    expect(ownedBy(once, ray).metadata?.ownerReferences).toEqual([
      {apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'p-1'},
      {apiVersion: 'ray.io/v1', kind: 'RayJob', name: 'job', uid: 'j-1'},
    ]);
  });
  it('adds nothing for a Ray object not made yet (no UID)', () => {
    expect(ownedBy(cm, {kind: 'RayJob', metadata: {name: 'job'}})).toBe(cm);
  });
});

describe('relocatedObject', () => {
  it('keeps what the user gave and drops what the old cluster gave', () => {
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'app-svc',
        namespace: 'ml',
        uid: 'u1',
        resourceVersion: '7',
        labels: {'superskyray.io/group': 'app'},
        annotations: {'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'kept'},
        managedFields: [{}],
      },
      spec: {clusterIP: '10.0.0.9', clusterIPs: ['10.0.0.9'], ports: [{port: 80}], selector: {app: 'x'}},
      status: {loadBalancer: {}},
    };
    expect(relocatedObject(service, {'superskyray.io/relocated-from': 'home-id'})).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name: 'app-svc', namespace: 'ml', labels: {'superskyray.io/group': 'app'}, annotations: {note: 'kept', 'superskyray.io/relocated-from': 'home-id'}},
      spec: {ports: [{port: 80}], selector: {app: 'x'}},
    });
  });

  it('drops workersToDelete, which names pods of the old cluster, and annotations set to undefined', () => {
    const rc = {
      apiVersion: 'ray.io/v1',
      kind: 'RayCluster',
      metadata: {name: 'app', annotations: {'superskyray.io/relocating-to': 'cloud-id'}},
      spec: {workerGroupSpecs: [{groupName: 'cpu', replicas: 2, scaleStrategy: {workersToDelete: ['app-cpu-worker-x']}}]},
    };
    const out = relocatedObject(rc, {'superskyray.io/relocating-to': undefined}) as {metadata: {annotations?: unknown}; spec: {workerGroupSpecs: Array<Record<string, unknown>>}};
    expect(out.spec.workerGroupSpecs[0]).toEqual({groupName: 'cpu', replicas: 2});
    expect(out.metadata.annotations).toBeUndefined();
    expect(rc.spec.workerGroupSpecs[0]!.scaleStrategy.workersToDelete).toEqual(['app-cpu-worker-x']);
  });
});

describe('keepLiveSizes', () => {
  type Sizes = Record<string, {replicas?: number; minReplicas?: number; maxReplicas?: number}>;
  const rayService = (groups: Sizes) => ({
    apiVersion: 'ray.io/v1',
    kind: 'RayService',
    metadata: {name: 'svc'},
    spec: {rayClusterConfig: {workerGroupSpecs: Object.entries(groups).map(([groupName, sizes]) => ({groupName, ...sizes}))}},
  });
  it.each<{name: string; desired: Sizes; live: Sizes; applied: Sizes; kept: unknown[]}>([
    {name: 'the manifest agrees with what runs', desired: {cpu: {replicas: 2, maxReplicas: 5}}, live: {cpu: {replicas: 2, maxReplicas: 5}}, applied: {cpu: {replicas: 2, maxReplicas: 5}}, kept: []},
    {name: 'scale grew it since', desired: {cpu: {replicas: 2}}, live: {cpu: {replicas: 3}}, applied: {cpu: {replicas: 3}}, kept: [{group: 'cpu', field: 'replicas', live: 3, manifest: 2}]},
    {
      name: 'scale raised maxReplicas past the manifest\'s',
      desired: {cpu: {replicas: 2, maxReplicas: 5}},
      live: {cpu: {replicas: 6, maxReplicas: 6}},
      applied: {cpu: {replicas: 6, maxReplicas: 6}},
      kept: [
        {group: 'cpu', field: 'replicas', live: 6, manifest: 2},
        {group: 'cpu', field: 'maxReplicas', live: 6, manifest: 5},
      ],
    },
    {name: 'a bound the manifest leaves out stays', desired: {cpu: {replicas: 2}}, live: {cpu: {replicas: 2, minReplicas: 1}}, applied: {cpu: {replicas: 2, minReplicas: 1}}, kept: [{group: 'cpu', field: 'minReplicas', live: 1}]},
    {name: 'a group only in the manifest is new, and takes its size from it', desired: {cpu: {replicas: 2}, gpu: {replicas: 1}}, live: {cpu: {replicas: 2}}, applied: {cpu: {replicas: 2}, gpu: {replicas: 1}}, kept: []},
  ])('$name', ({desired, live, applied, kept}) => {
    const out = keepLiveSizes(rayService(desired), rayService(live), 'spec.rayClusterConfig');
    expect(out.object).toEqual(rayService(applied));
    expect(out.kept).toEqual(kept);
  });
});
