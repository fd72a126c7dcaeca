import {describe, expect, it} from 'vitest';
import {thrown} from '../../support/errors.js';
import type {RayKind} from '../../../src/kuberay/demand.js';
import {
  deterministicHeadPodName,
  gcsPort,
  headPodGenerateName,
  headServiceFqdn,
  headServiceName,
  workerPodGenerateName,
} from '../../../src/kuberay/names.js';


// A 53-character RayCluster name: the longest KubeRay accepts.
const longest = 'c'.repeat(43) + '-0123456789';

describe('workerPodGenerateName', () => {
  it.each<{name: string; cluster: string; group: string; want: string}>([
    {name: 'short names are kept whole', cluster: 'small', group: 'cpu', want: 'small-cpu-worker-'},
    {name: 'a 50-character prefix is kept whole', cluster: 'a'.repeat(40), group: 'g'.repeat(9), want: `${'a'.repeat(40)}-${'g'.repeat(9)}-worker-`},
    {name: 'a 51-character prefix loses its last character', cluster: 'a'.repeat(40), group: 'g'.repeat(10), want: `${'a'.repeat(40)}-${'g'.repeat(9)}-worker-`},
    {name: 'the cut keeps the start, so the group can vanish', cluster: longest, group: 'gpu', want: `${longest.slice(0, 50)}-worker-`},
    {name: 'capitals in the group name are lowered', cluster: 'small', group: 'GPU-A100', want: 'small-gpu-a100-worker-'},
    {name: 'a cut ending in a dash keeps it', cluster: 'a'.repeat(49), group: 'gpu', want: `${'a'.repeat(49)}--worker-`},
  ])('$name', ({cluster, group, want}) => {
    const got = workerPodGenerateName(cluster, group);
    expect(got).toBe(want);
    // With the 5 generated characters the pod name still fits a DNS label.
    expect(got.length + 5).toBeLessThanOrEqual(63);
  });
});

describe('head pod names', () => {
  it.each<{name: string; cluster: string; generateName: string; fixed: string}>([
    {name: 'a short name', cluster: 'small', generateName: 'small-head-', fixed: 'small-head'},
    {name: 'a 50-character name is kept whole', cluster: 'h'.repeat(50), generateName: `${'h'.repeat(50)}-head-`, fixed: `${'h'.repeat(50)}-head`},
    {name: 'the longest RayCluster name is cut to 50', cluster: longest, generateName: `${longest.slice(0, 50)}-head-`, fixed: `${longest.slice(0, 50)}-head`},
  ])('$name', ({cluster, generateName, fixed}) => {
    expect(headPodGenerateName(cluster)).toBe(generateName);
    expect(deterministicHeadPodName(cluster)).toBe(fixed);
  });
});

describe('headServiceName', () => {
  const custom = {headGroupSpec: {headService: {metadata: {name: 'my-head'}}, template: {}}};
  it.each<{name: string; kind: RayKind; owner: string; spec?: unknown; want: string}>([
    {name: 'a RayCluster without a custom Service', kind: 'RayCluster', owner: 'small', want: 'small-head-svc'},
    {name: 'a RayCluster with headService.metadata.name', kind: 'RayCluster', owner: 'small', spec: custom, want: 'my-head'},
    {name: 'an empty custom name falls back', kind: 'RayCluster', owner: 'small', spec: {headGroupSpec: {headService: {metadata: {name: ''}}}}, want: 'small-head-svc'},
    {name: 'the RayCluster a RayService created', kind: 'RayCluster', owner: 'serve-x7k2p', want: 'serve-x7k2p-head-svc'},
    {name: 'a RayService owns its own, whatever the spec says', kind: 'RayService', owner: 'serve', spec: custom, want: 'serve-head-svc'},
    {name: 'a RayJob owns its own', kind: 'RayJob', owner: 'train', spec: custom, want: 'train-head-svc'},
    {name: 'the longest RayCluster name is not cut', kind: 'RayCluster', owner: longest, want: `${longest}-head-svc`},
  ])('$name', ({kind, owner, spec, want}) => {
    expect(headServiceName(kind, owner, spec)).toBe(want);
  });
});

describe('headServiceFqdn', () => {
  it.each<{name: string; args: [string, string, string?]; want: string}>([
    {name: 'cluster.local by default', args: ['small-head-svc', 'ml'], want: 'small-head-svc.ml.svc.cluster.local'},
    {name: 'another cluster domain', args: ['small-head-svc', 'ml', 'onprem.example'], want: 'small-head-svc.ml.svc.onprem.example'},
  ])('$name', ({args, want}) => {
    expect(headServiceFqdn(...args)).toBe(want);
  });
});

describe('gcsPort', () => {
  it.each<{name: string; params: unknown; want: number}>([
    {name: 'no rayStartParams', params: undefined, want: 6379},
    {name: 'rayStartParams without port', params: {'num-cpus': '0'}, want: 6379},
    {name: 'port as the CRD has it, a string', params: {port: '6380'}, want: 6380},
    {name: 'port as a number', params: {port: 10001}, want: 10001},
  ])('$name', ({params, want}) => {
    expect(gcsPort(params)).toBe(want);
  });

  it.each<{name: string; params: unknown; message: string}>([
    {name: 'not a number', params: {port: 'gcs'}, message: 'headGroupSpec.rayStartParams.port is "gcs", not a port number'},
    {name: 'zero', params: {port: '0'}, message: 'headGroupSpec.rayStartParams.port is "0", not a port number'},
    {name: 'too large', params: {port: '70000'}, message: 'headGroupSpec.rayStartParams.port is "70000", not a port number'},
    {name: 'not whole', params: {port: 6379.5}, message: 'headGroupSpec.rayStartParams.port is 6379.5, not a port number'},
  ])('refuses $name', ({params, message}) => {
    const error = thrown(() => gcsPort(params));
    expect(error.message).toBe(message);
    expect(error.fix).toBe('Set rayStartParams.port to a number from 1 to 65535 in quotes, such as "6379", or remove it to use 6379.');
  });
});
