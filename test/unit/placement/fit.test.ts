import {describe, expect, it} from 'vitest';
import {ClusterRoom, staticMiss} from '../../../src/placement/fit.js';
import {podShape} from '../../../src/placement/snapshot.js';
import {cluster, node, pod, spec, tolerate} from '../../support/placement.js';

const gpuTaint = {key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' as const};

describe('staticMiss: the filters that do not depend on what runs on the node', () => {
  it.each([
    {name: 'a ready, plain node', n: node('a', {cpu: '4'}), s: spec({cpu: '1'}), want: undefined},
    {name: 'a node that is not Ready', n: node('a', {cpu: '4'}, {ready: false}), s: spec({cpu: '1'}), want: {kind: 'not-ready'}},
    {name: 'a cordoned node', n: node('a', {cpu: '4'}, {unschedulable: true}), s: spec({cpu: '1'}), want: {kind: 'unschedulable'}},
    {
      name: 'a cordoned node, tolerated',
      n: node('a', {cpu: '4'}, {unschedulable: true}),
      s: spec({cpu: '1'}, {tolerations: [tolerate('node.kubernetes.io/unschedulable')]}),
      want: undefined,
    },
    {name: 'an untolerated NoSchedule taint', n: node('a', {cpu: '4'}, {taints: [gpuTaint]}), s: spec({cpu: '1'}), want: {kind: 'taint', taint: gpuTaint}},
    {name: 'a tolerated taint (Exists)', n: node('a', {cpu: '4'}, {taints: [gpuTaint]}), s: spec({cpu: '1'}, {tolerations: [tolerate('nvidia.com/gpu')]}), want: undefined},
    {
      name: 'a toleration with the wrong value',
      n: node('a', {cpu: '4'}, {taints: [gpuTaint]}),
      s: spec({cpu: '1'}, {tolerations: [{key: 'nvidia.com/gpu', operator: 'Equal', value: 'absent'}]}),
      want: {kind: 'taint', taint: gpuTaint},
    },
    {
      name: 'a toleration of another effect',
      n: node('a', {cpu: '4'}, {taints: [gpuTaint]}),
      s: spec({cpu: '1'}, {tolerations: [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoExecute'}]}),
      want: {kind: 'taint', taint: gpuTaint},
    },
    {name: 'a tolerate-everything toleration', n: node('a', {cpu: '4'}, {taints: [gpuTaint]}), s: spec({cpu: '1'}, {tolerations: [{operator: 'Exists'}]}), want: undefined},
    {name: 'PreferNoSchedule does not filter', n: node('a', {cpu: '4'}, {taints: [{key: 'x', effect: 'PreferNoSchedule'}]}), s: spec({cpu: '1'}), want: undefined},
    {name: 'a nodeSelector miss', n: node('a', {cpu: '4'}, {labels: {pool: 'cpu'}}), s: spec({cpu: '1'}, {nodeSelector: {pool: 'gpu'}}), want: {kind: 'node-selector', key: 'pool', want: 'gpu'}},
    {name: 'a nodeSelector hit', n: node('a', {cpu: '4'}, {labels: {pool: 'gpu'}}), s: spec({cpu: '1'}, {nodeSelector: {pool: 'gpu'}}), want: undefined},
    {
      name: 'a required node affinity miss',
      n: node('a', {cpu: '4'}, {labels: {zone: 'a'}}),
      s: spec({cpu: '1'}, {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: 'zone', operator: 'In', values: ['b', 'c']}]}]}}}}),
      want: {kind: 'affinity'},
    },
    {
      name: 'terms are ORed, expressions ANDed',
      n: node('a', {cpu: '4'}, {labels: {zone: 'a', gen: '5'}}),
      s: spec(
        {cpu: '1'},
        {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {matchExpressions: [{key: 'zone', operator: 'In', values: ['b']}]},
                  {matchExpressions: [{key: 'zone', operator: 'NotIn', values: ['b']}, {key: 'gen', operator: 'Gt', values: ['4']}, {key: 'spot', operator: 'DoesNotExist'}]},
                ],
              },
            },
          },
        },
      ),
      want: undefined,
    },
    {
      name: 'matchFields on the node name',
      n: node('gpu-7', {cpu: '4'}),
      s: spec({cpu: '1'}, {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchFields: [{key: 'metadata.name', operator: 'In', values: ['gpu-1']}]}]}}}}),
      want: {kind: 'affinity'},
    },
  ])('$name', ({n, s, want}) => {
    expect(staticMiss(n, podShape(s))).toEqual(want);
  });
});

describe('ClusterRoom.fitAll: all of them or none', () => {
  it('takes no room when only some fit, and all of it when all do', () => {
    const c = cluster('cloud', 1, [node('g1', {cpu: '8', 'nvidia.com/gpu': '1'}), node('g2', {cpu: '8', 'nvidia.com/gpu': '1'})]);
    const room = ClusterRoom.of(c);
    const host = podShape(spec({cpu: '1', 'nvidia.com/gpu': '1'}));
    expect(room.fitAll(host, 3)).toBe(false);
    expect(room.fitAll(host, 2)).toBe(true);
    expect(room.fit(host, 1)).toBe(0);
  });
});

describe('ClusterRoom.fit: node by node, never pooled', () => {
  it('does not fit a 4-GPU worker on two nodes with 2 GPUs free each (fragmentation)', () => {
    const c = cluster('onprem', 1, [node('g1', {cpu: '32', 'nvidia.com/gpu': '2'}), node('g2', {cpu: '32', 'nvidia.com/gpu': '2'})]);
    const room = ClusterRoom.of(c);
    const shape = podShape(spec({cpu: '1', 'nvidia.com/gpu': '4'}));
    expect(room.fit(shape, 1)).toBe(0);
    expect(room.misses(shape)).toEqual([
      {node: 'g1', miss: {kind: 'insufficient', resource: 'nvidia.com/gpu', needs: 4, free: 2}},
      {node: 'g2', miss: {kind: 'insufficient', resource: 'nvidia.com/gpu', needs: 4, free: 2}},
    ]);
  });

  it('subtracts what bound pods request, and ignores Pending ones for room', () => {
    const c = cluster('onprem', 1, [node('n1', {cpu: '8', memory: '16Gi'})], [pod('busy', 'n1', {cpu: '6'}), pod('waiting', undefined, {cpu: '8'})]);
    expect(ClusterRoom.of(c).fit(podShape(spec({cpu: '2'})), 5)).toBe(1);
  });

  it('counts the pods limit of a node', () => {
    const c = cluster('onprem', 1, [node('n1', {cpu: '64', pods: '3'})], [pod('a', 'n1', {cpu: '1'})]);
    expect(ClusterRoom.of(c).fit(podShape(spec({cpu: '1'})), 5)).toBe(2);
  });

  it('uses the max of init containers against the sum of the app containers', () => {
    const c = cluster('onprem', 1, [node('n1', {cpu: '4'})]);
    const initHeavy = podShape({initContainers: [{name: 'warm', resources: {requests: {cpu: '3'}}}], containers: [{name: 'a', resources: {requests: {cpu: '1'}}}]});
    // 3 cpu needed while the init container runs: one pod fits, not two (a sum would say 4 each).
    expect(ClusterRoom.of(c).fit(initHeavy, 2)).toBe(1);
  });

  it('fills nodes first fit, in node order', () => {
    const c = cluster('onprem', 1, [node('n1', {cpu: '3'}), node('n2', {cpu: '8'})]);
    const room = ClusterRoom.of(c);
    expect(room.fit(podShape(spec({cpu: '2'})), 3)).toBe(3);
    expect(room.free.map((f) => f.cpu)).toEqual([1000, 4000]);
  });
});

describe('ClusterRoom.bind: a node for a pod bound by name, as no scheduler checks it', () => {
  const tiny = podShape(spec({cpu: '1m', memory: '4Mi'}));
  it.each([
    {name: 'the first node that takes it', nodes: [node('a', {cpu: '4', memory: '1Gi'}), node('b', {cpu: '4', memory: '1Gi'})], pods: [], want: ['a', 'a']},
    {name: 'never a node that is not Ready', nodes: [node('a', {cpu: '4', memory: '1Gi'}, {ready: false}), node('b', {cpu: '4', memory: '1Gi'})], pods: [], want: ['b', 'b']},
    {name: 'never a cordoned node (a drain is emptying it)', nodes: [node('a', {cpu: '4', memory: '1Gi'}, {unschedulable: true}), node('b', {cpu: '4', memory: '1Gi'})], pods: [], want: ['b', 'b']},
    {name: 'never a node with a taint it does not tolerate', nodes: [node('a', {cpu: '4', memory: '1Gi'}, {taints: [gpuTaint]}), node('b', {cpu: '4', memory: '1Gi'})], pods: [], want: ['b', 'b']},
    {name: 'the room each bind takes counts for the next', nodes: [node('a', {cpu: '1m', memory: '1Gi'}), node('b', {cpu: '4', memory: '1Gi'})], pods: [], want: ['a', 'b']},
    {name: 'what runs there counts', nodes: [node('a', {cpu: '1', memory: '1Gi'}), node('b', {cpu: '4', memory: '1Gi'})], pods: [pod('busy', 'a', {cpu: '1'})], want: ['b', 'b']},
    {name: 'none when no node has room', nodes: [node('a', {cpu: '1', memory: '1Gi'})], pods: [pod('busy', 'a', {cpu: '1'})], want: [undefined, undefined]},
  ])('$name', ({nodes, pods, want}) => {
    const room = ClusterRoom.of(cluster('home', 0, nodes, pods));
    expect([room.bind(tiny), room.bind(tiny)]).toEqual(want);
  });
});
