import {describe, expect, it} from 'vitest';
import {rayDemand} from '../../../src/kuberay/demand.js';
import {readGroupManifest} from '../../../src/kuberay/manifest.js';
import {decideGrowth, decidePlace} from '../../../src/placement/decide.js';
import {cluster, node, pod} from '../../support/placement.js';

/** The seed's first use case, from the YAML a user applies to what placement decides. */
const app = (replicas: number) => `
apiVersion: v1
kind: ConfigMap
metadata: {name: serve-code}
data: {app.py: "print('hi')"}
---
apiVersion: ray.io/v1
kind: RayService
metadata: {name: serve}
spec:
  serveConfigV2: |
    applications: []
  rayClusterConfig:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.9.0
              resources: {requests: {cpu: "1", memory: 2Gi}}
    workerGroupSpecs:
      - groupName: workers
        replicas: ${replicas}
        minReplicas: 1
        maxReplicas: 5
        rayStartParams: {}
        template:
          spec:
            containers:
              - name: ray-worker
                image: rayproject/ray:2.9.0
                resources: {requests: {cpu: "3", memory: 4Gi}}
`;

const demandOf = (replicas: number) => rayDemand(readGroupManifest(app(replicas), 'app.yaml').ray, 'ml');

describe('seed use case 1, from the manifest', () => {
  const onprem = (pods = [] as ReturnType<typeof pod>[]) => cluster('onprem', 2, [node('onprem-0', {cpu: '8', memory: '32Gi'})], pods);
  const cloud = cluster('cloud', 1, [node('cloud-0', {cpu: '8', memory: '32Gi'}), node('cloud-1', {cpu: '8', memory: '32Gi'})]);
  const key = {namespace: 'ml', rayCluster: 'serve-raycluster-q8w4z'};
  const labels = (type: string) => ({'ray.io/cluster': key.rayCluster, 'ray.io/group': type === 'head' ? 'headgroup' : 'workers', 'ray.io/node-type': type});
  const running = onprem([
    pod('head', 'onprem-0', {cpu: '1', memory: '2Gi'}, labels('head'), 'ml'),
    pod('w1', 'onprem-0', {cpu: '3', memory: '4Gi'}, labels('worker'), 'ml'),
    pod('w2', 'onprem-0', {cpu: '3', memory: '4Gi'}, labels('worker'), 'ml'),
    pod('w3', undefined, {cpu: '3', memory: '4Gi'}, labels('worker'), 'ml'),
  ]);

  it('reads the RayService demand through its rayClusterConfig', () => {
    const demand = demandOf(3);
    expect(demand.kind).toBe('RayService');
    expect(demand.workers.map((w) => [w.group, w.count])).toEqual([['workers', 3]]);
  });

  it('places 2 workers on onprem', () => {
    expect(decidePlace(demandOf(2), [onprem(), cloud])).toMatchObject({action: 'place', home: 'onprem'});
  });

  it('spans the third worker to cloud with --skip-capacity-relocate', () => {
    expect(decideGrowth(demandOf(3), [running, cloud], 'onprem', key, {relocate: 'never'})).toMatchObject({
      action: 'span',
      assignments: [{cluster: 'cloud', workers: {workers: 1}}],
    });
  });

  it('relocates to cloud without it', () => {
    expect(decideGrowth(demandOf(3), [running, cloud], 'onprem', key, {relocate: 'if-fits'})).toMatchObject({action: 'relocate', home: 'cloud'});
  });
});
