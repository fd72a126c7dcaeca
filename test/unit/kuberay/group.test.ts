import {describe, expect, it} from 'vitest';
import {desiredGroupObjects, keepLiveReplicas, relocatedObject} from '../../../src/kuberay/group.js';
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

describe('keepLiveReplicas', () => {
  const rayService = (replicas: Record<string, number>) => ({
    apiVersion: 'ray.io/v1',
    kind: 'RayService',
    metadata: {name: 'svc'},
    spec: {rayClusterConfig: {workerGroupSpecs: Object.entries(replicas).map(([groupName, n]) => ({groupName, replicas: n}))}},
  });
  it.each<{name: string; desired: Record<string, number>; live: Record<string, number>; applied: Record<string, number>; kept: unknown[]}>([
    {name: 'the manifest agrees with what runs', desired: {cpu: 2}, live: {cpu: 2}, applied: {cpu: 2}, kept: []},
    {name: 'scale grew it since', desired: {cpu: 2}, live: {cpu: 3}, applied: {cpu: 3}, kept: [{group: 'cpu', live: 3, manifest: 2}]},
    {name: 'a group only in the manifest is new, and takes its size from it', desired: {cpu: 2, gpu: 1}, live: {cpu: 2}, applied: {cpu: 2, gpu: 1}, kept: []},
  ])('$name', ({desired, live, applied, kept}) => {
    const out = keepLiveReplicas(rayService(desired), rayService(live), 'spec.rayClusterConfig');
    expect(out.object).toEqual(rayService(applied));
    expect(out.kept).toEqual(kept);
  });
});
