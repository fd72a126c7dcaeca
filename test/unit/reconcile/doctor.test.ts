import {describe, expect, it} from 'vitest';
import {autoscalerCheck, ciliumChecks, clusterDomainOf} from '../../../src/reconcile/doctor.js';

describe('ciliumChecks', () => {
  const mesh = (name: string, id: string, sync = 'true') => ({'cluster-name': name, 'cluster-id': id, 'clustermesh-enable-endpoint-sync': sync});
  it.each([
    {name: 'two clusters with their own names and ids, sync on', facts: [{context: 'a', config: mesh('east', '1')}, {context: 'b', config: mesh('west', '2')}], want: {a: 'ok', b: 'ok'}},
    {name: 'a shared cluster id fails both', facts: [{context: 'a', config: mesh('east', '3')}, {context: 'b', config: mesh('west', '3')}], want: {a: 'fail', b: 'fail'}},
    {name: 'no cluster id, or the default name, fails', facts: [{context: 'a', config: mesh('east', '0')}, {context: 'b', config: mesh('default', '2')}], want: {a: 'fail', b: 'fail'}},
    {name: 'EndpointSlice sync off warns: the head Service is headless', facts: [{context: 'a', config: mesh('east', '1', 'false')}], want: {a: 'warn'}},
    {name: 'no cilium-config warns', facts: [{context: 'a'}], want: {a: 'warn'}},
  ])('$name', ({facts, want}) => {
    const checks = ciliumChecks(facts);
    expect(Object.fromEntries([...checks].map(([context, c]) => [context, c.status]))).toEqual(want);
  });

  it('names the other cluster with the same id', () => {
    expect(ciliumChecks([{context: 'a', config: mesh('east', '3')}, {context: 'b', config: mesh('west', '3')}]).get('a')?.detail).toBe('cluster-id 3 is also the id of b');
  });
});

describe('clusterDomainOf', () => {
  it.each([
    {corefile: '.:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n      pods insecure\n    }\n}', want: 'cluster.local'},
    {corefile: '.:53 {\n    kubernetes corp.example in-addr.arpa\n}', want: 'corp.example'},
    {corefile: '.:53 {\n    forward . /etc/resolv.conf\n}', want: undefined},
    {corefile: undefined, want: undefined},
  ])('reads $want', ({corefile, want}) => {
    expect(clusterDomainOf(corefile)).toBe(want);
  });
});

describe('autoscalerCheck', () => {
  const rc = (name: string, spec: Record<string, unknown>) => ({apiVersion: 'ray.io/v1', kind: 'RayCluster', metadata: {name}, spec});
  const env = (value: string) => ({headGroupSpec: {template: {spec: {containers: [{env: [{name: 'RAY_enable_autoscaler_v2', value}]}]}}}});
  it.each([
    {name: 'no group autoscales: no check', clusters: [rc('plain', {rayVersion: '2.60.0'})], want: undefined},
    {
      name: 'Ray 2.60 defaults to v2',
      clusters: [rc('gpu', {enableInTreeAutoscaling: true, rayVersion: '2.60.0'})],
      want: {status: 'ok', detail: 'raycluster/gpu: v2 (Ray 2.60.0 defaults to v2 under KubeRay)'},
    },
    {
      name: 'the head forcing v1 warns and says the fix',
      clusters: [rc('gpu', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', autoscalerOptions: {version: 'v2'}}), rc('old', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', ...env('0')})],
      want: {
        status: 'warn',
        detail: 'raycluster/gpu: v2 (autoscalerOptions.version is v2); raycluster/old: v1 (the head sets RAY_enable_autoscaler_v2=0); raycluster/old is never spanned: v1 matches Ray nodes to pods by IP, and would never scale in a remote worker',
        fix: 'set autoscalerOptions.version: v2 (Ray 2.10 or newer) and no RAY_enable_autoscaler_v2 on the head, or turn off in-tree autoscaling',
      },
    },
  ])('$name', ({clusters, want}) => {
    const check = autoscalerCheck(clusters);
    if (want === undefined) expect(check).toBeUndefined();
    else expect(check).toEqual({check: 'ray autoscaler', ...want});
  });
});
