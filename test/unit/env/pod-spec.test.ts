import {describe, expect, it} from 'vitest';
import type {Pod} from '../../../src/kube/types.js';
import {containerArgv, containerEnv, expand, fieldValue, hostsFile, resolvConf, resourceValue, type Container, type Lookups} from '../../../test/env/pod-spec.js';

const pod = {
  metadata: {name: 'real-cpu-worker-abcde', namespace: 'team', uid: 'u-1', labels: {'ray.io/cluster': 'real', 'ray.io/group': 'cpu'}, annotations: {note: 'x'}},
  spec: {nodeName: 'cloud-node-0', serviceAccountName: 'real', containers: [{name: 'ray-worker', resources: {limits: {cpu: '3', memory: '2Gi'}}}]},
  status: {podIP: '10.101.0.7', hostIP: '127.51.0.1'},
} as unknown as Pod;

const none: Lookups = {
  configMap: async () => undefined,
  configMapData: async () => undefined,
  secret: async () => undefined,
  secretData: async () => undefined,
};

describe('the pod runner makes of a pod what a kubelet does', () => {
  it.each([
    ['$(A) and $(B)', {A: '1', B: '2'}, '1 and 2'],
    ['$(MISSING) stays', {}, '$(MISSING) stays'],
    ['$$(A) is escaped', {A: '1'}, '$(A) is escaped'],
    ['a lone $ and $x', {}, 'a lone $ and $x'],
    ['unterminated $(A', {A: '1'}, 'unterminated $(A'],
    ['$(A)$(A)', {A: 'z'}, 'zz'],
  ])('expands %j', (text, env, expected) => {
    expect(expand(text, env)).toBe(expected);
  });

  it.each([
    ['metadata.name', 'real-cpu-worker-abcde'],
    ['metadata.namespace', 'team'],
    ['metadata.uid', 'u-1'],
    ["metadata.labels['ray.io/group']", 'cpu'],
    ["metadata.labels['absent']", ''],
    ["metadata.annotations['note']", 'x'],
    ['spec.nodeName', 'cloud-node-0'],
    ['spec.serviceAccountName', 'real'],
    ['status.podIP', '10.101.0.7'],
    ['status.hostIP', '127.51.0.1'],
  ])('resolves fieldRef %s', (field, expected) => {
    expect(fieldValue(pod, field)).toBe(expected);
  });

  it('refuses a fieldRef it does not know, rather than giving an empty value', () => {
    expect(() => fieldValue(pod, 'status.phase')).toThrow(/not one the pod runner resolves/);
  });

  it.each([
    ['limits.cpu', '1', '3'],
    ['limits.cpu', '1m', '3000'],
    ['limits.memory', '1Mi', '2048'],
    ['requests.memory', '1', '2147483648'],
  ])('resolves resourceFieldRef %s with divisor %s', (resource, divisor, expected) => {
    const container = {name: 'c', resources: {limits: {cpu: '3', memory: '2Gi'}, requests: {memory: '2Gi'}}} as Container;
    expect(resourceValue(container, resource, divisor)).toBe(expected);
  });

  it('builds the environment in order: kubelet variables, envFrom, then env expanded against what came before', async () => {
    const container: Container = {
      name: 'ray-worker',
      envFrom: [{configMapRef: {name: 'settings'}, prefix: 'CFG_'}],
      env: [
        {name: 'RAY_CLOUD_INSTANCE_ID', valueFrom: {fieldRef: {fieldPath: 'metadata.name'}}},
        {name: 'GREETING', value: 'on $(KUBERNETES_SERVICE_HOST) as $(RAY_CLOUD_INSTANCE_ID), $(CFG_MODE)'},
        {name: 'CPUS', valueFrom: {resourceFieldRef: {resource: 'limits.cpu'}}},
        {name: 'TOKEN', valueFrom: {secretKeyRef: {name: 'creds', key: 'token'}}},
        {name: 'OPTIONAL', valueFrom: {configMapKeyRef: {name: 'absent', key: 'k', optional: true}}},
      ],
      resources: {limits: {cpu: '3'}},
    };
    const lookups: Lookups = {
      ...none,
      configMapData: async (name) => (name === 'settings' ? {MODE: 'fast'} : undefined),
      secret: async (name, key) => (name === 'creds' && key === 'token' ? 's3cret' : undefined),
    };
    const env = await containerEnv(pod, container, {KUBERNETES_SERVICE_HOST: '10.65.0.1'}, lookups);
    expect(env).toEqual({
      KUBERNETES_SERVICE_HOST: '10.65.0.1',
      CFG_MODE: 'fast',
      RAY_CLOUD_INSTANCE_ID: 'real-cpu-worker-abcde',
      GREETING: 'on 10.65.0.1 as real-cpu-worker-abcde, fast',
      CPUS: '3',
      TOKEN: 's3cret',
    });
  });

  it('refuses a missing key that is not optional', async () => {
    const container: Container = {name: 'c', env: [{name: 'X', valueFrom: {configMapKeyRef: {name: 'absent', key: 'k'}}}]};
    await expect(containerEnv(pod, container, {}, none)).rejects.toThrow(/configmap absent has no key k/);
  });

  it('runs command then args, expanded, and refuses a container that relies on its image entrypoint', () => {
    expect(containerArgv({name: 'c', command: ['/bin/bash', '-c', '--'], args: ['ray start --address=$(FQ_RAY_IP):6379']}, {FQ_RAY_IP: 'h.ns.svc.cluster.local'})).toEqual([
      '/bin/bash',
      '-c',
      '--',
      'ray start --address=h.ns.svc.cluster.local:6379',
    ]);
    expect(() => containerArgv({name: 'c', args: ['serve']}, {})).toThrow(/no command/);
    expect(() => containerArgv({name: 'c', image: 'rayproject/ray:2.60.0'}, {})).toThrow(/no command/);
  });

  it.each(['registry.k8s.io/pause:3.10', 'pause', 'example.com/mirror/pause@sha256:0123abcd'])('runs the pause image %s as the pause entrypoint: waiting until stopped', (image) => {
    expect(containerArgv({name: 'placeholder', image}, {})).toEqual(['/bin/sleep', 'infinity']);
  });

  it('writes the hosts file and resolv.conf a kubelet writes for a ClusterFirst pod', () => {
    expect(hostsFile(pod).split('\n')).toEqual(expect.arrayContaining(['127.0.0.1\tlocalhost', '10.101.0.7\treal-cpu-worker-abcde']));
    const withSubdomain = {...pod, spec: {...pod.spec!, hostname: 'w', subdomain: 'sub'}} as Pod;
    expect(hostsFile(withSubdomain)).toContain('10.101.0.7\tw.sub.team.svc.cluster.local\tw\n');
    expect(resolvConf(pod, '10.96.0.11')).toBe('search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.11\noptions ndots:5\n');
  });
});
