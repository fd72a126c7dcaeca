import {describe, expect, it} from 'vitest';
import type {Node, Pod, PodSpec} from '../../../src/kube/types.js';
import {podRequests, summariseCapacity} from '../../../src/placement/capacity.js';

const c = (name: string, requests: Record<string, string>, extra: Record<string, unknown> = {}) => ({name, resources: {requests}, ...extra});

describe('podRequests', () => {
  it.each<{name: string; spec: PodSpec; want: Record<string, number>}>([
    {name: 'sums app containers', spec: {containers: [c('a', {cpu: '500m', memory: '1Gi'}), c('b', {cpu: '1', 'nvidia.com/gpu': '1'})]}, want: {cpu: 1500, memory: 2 ** 30, 'nvidia.com/gpu': 1}},
    {name: 'an init container larger than the app wins', spec: {initContainers: [c('init', {cpu: '4'})], containers: [c('a', {cpu: '1', memory: '1Gi'})]}, want: {cpu: 4000, memory: 2 ** 30}},
    {name: 'init containers take the max, not the sum', spec: {initContainers: [c('i1', {cpu: '2'}), c('i2', {cpu: '3'})], containers: [c('a', {cpu: '1'})]}, want: {cpu: 3000}},
    {
      name: 'a sidecar runs beside the app and beside later init containers',
      spec: {initContainers: [c('mesh', {cpu: '500m'}, {restartPolicy: 'Always'}), c('setup', {cpu: '2'})], containers: [c('a', {cpu: '1'})]},
      want: {cpu: 2500},
    },
    {name: 'sidecars add to the app', spec: {initContainers: [c('log', {cpu: '1'}, {restartPolicy: 'Always'})], containers: [c('a', {cpu: '1'})]}, want: {cpu: 2000}},
    {name: 'overhead is added', spec: {containers: [c('a', {cpu: '1'})], overhead: {cpu: '250m', memory: '120Mi'}}, want: {cpu: 1250, memory: 120 * 2 ** 20}},
    {
      name: 'a limit without a request counts as the request',
      spec: {containers: [{name: 'a', resources: {limits: {cpu: '2', 'nvidia.com/gpu': '1'}, requests: {cpu: '1'}}}]},
      want: {cpu: 1000, 'nvidia.com/gpu': 1},
    },
    {name: 'no requests at all', spec: {containers: [{name: 'a'}]}, want: {}},
  ])('$name', ({spec, want}) => {
    expect(podRequests(spec)).toEqual(want);
  });
});

const node = (name: string, allocatable: Record<string, string>, opts: {ready?: boolean; unschedulable?: boolean} = {}): Node => ({
  metadata: {name},
  spec: {unschedulable: opts.unschedulable},
  status: {allocatable, conditions: [{type: 'Ready', status: opts.ready === false ? 'False' : 'True'}]},
});
const pod = (name: string, nodeName: string | undefined, requests: Record<string, string>, phase = nodeName ? 'Running' : 'Pending'): Pod => ({
  metadata: {name},
  spec: {nodeName, containers: [c('main', requests)]},
  status: {phase},
});

describe('summariseCapacity', () => {
  it('sums allocatable over nodes and requests over bound, non-terminal pods', () => {
    const summary = summariseCapacity(
      [
        node('cpu-1', {cpu: '8', memory: '32Gi', pods: '110'}),
        node('gpu-1', {cpu: '16', memory: '64Gi', 'nvidia.com/gpu': '4', pods: '110'}),
        node('old', {cpu: '4', memory: '8Gi', pods: '110'}, {ready: false}),
        node('cordoned', {cpu: '4', memory: '8Gi', pods: '110'}, {unschedulable: true}),
      ],
      [
        pod('head', 'cpu-1', {cpu: '2', memory: '4Gi'}),
        pod('worker', 'gpu-1', {cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '2'}),
        pod('waiting', undefined, {cpu: '64'}),
        // A placeholder stands for a remote worker: unbound, and waiting for nothing.
        {...pod('stand-in', undefined, {cpu: '2'}), metadata: {name: 'stand-in', labels: {'superskyray.io/role': 'placeholder'}}},
        pod('done', 'cpu-1', {cpu: '8'}, 'Succeeded'),
        pod('crashed', 'gpu-1', {cpu: '8'}, 'Failed'),
      ],
    );
    expect(summary.nodes).toEqual({total: 4, ready: 3, schedulable: 2});
    expect(summary.pods).toEqual({bound: 2, pending: 1});
    expect(summary.resources).toEqual({
      cpu: {allocatable: 32_000, requested: 6000},
      memory: {allocatable: 112 * 2 ** 30, requested: 20 * 2 ** 30},
      'nvidia.com/gpu': {allocatable: 4, requested: 2},
      pods: {allocatable: 440, requested: 2},
    });
  });

  it('shows cpu, memory and gpu even for an empty cluster', () => {
    expect(summariseCapacity([], []).resources).toEqual({
      cpu: {allocatable: 0, requested: 0},
      memory: {allocatable: 0, requested: 0},
      'nvidia.com/gpu': {allocatable: 0, requested: 0},
      pods: {allocatable: 0, requested: 0},
    });
  });
});
