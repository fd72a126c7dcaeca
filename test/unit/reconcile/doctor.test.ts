import {describe, expect, it} from 'vitest';
import {ciliumChecks, clusterDomainOf} from '../../../src/reconcile/doctor.js';

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
