import {describe, expect, it} from 'vitest';
import {desiredGroupObjects} from '../../../src/kuberay/group.js';
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
