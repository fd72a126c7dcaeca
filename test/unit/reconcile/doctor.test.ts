import {describe, expect, it} from 'vitest';
import {autoscalerCheck, ciliumChecks, clusterDomainChecks, clusterDomainOf, networkPolicyCheck, type NetworkPolicyFacts, parseCidr, podCidrChecks, type PodCidrFacts, selectorMatches} from '../../../src/reconcile/doctor.js';

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

const V1_FIX = 'set autoscalerOptions.version: v2 (Ray 2.10 or newer) and no RAY_enable_autoscaler_v2 on the head, or turn off in-tree autoscaling';
const NEVER = 'which matches Ray nodes to pods by IP: it would never scale in a worker spanned to another cluster, so the tool never spans it';

describe('autoscalerCheck', () => {
  const rc = (name: string, spec: Record<string, unknown>, owner?: string) => ({
    apiVersion: 'ray.io/v1',
    kind: 'RayCluster',
    metadata: {name, uid: `uid-${name}`, ...(owner ? {ownerReferences: [{apiVersion: 'ray.io/v1', kind: 'RayService', name: owner, uid: `uid-${owner}`, controller: true}]} : {})},
    spec,
  });
  const service = (name: string, rayClusterConfig: Record<string, unknown>) => ({apiVersion: 'ray.io/v1', kind: 'RayService', metadata: {name, uid: `uid-${name}`}, spec: {rayClusterConfig}});
  const job = (name: string, rayClusterSpec?: Record<string, unknown>) => ({apiVersion: 'ray.io/v1', kind: 'RayJob', metadata: {name, uid: `uid-${name}`}, spec: rayClusterSpec ? {rayClusterSpec} : {clusterSelector: {name: 'shared'}}});
  const env = (value: string) => ({headGroupSpec: {template: {spec: {containers: [{env: [{name: 'RAY_enable_autoscaler_v2', value}]}]}}}});
  it.each([
    {name: 'no group autoscales: no check', groups: [rc('plain', {rayVersion: '2.60.0'}), job('shared-one')], want: undefined},
    {
      name: 'Ray 2.60 defaults to v2',
      groups: [rc('gpu', {enableInTreeAutoscaling: true, rayVersion: '2.60.0'})],
      want: {status: 'ok', detail: 'raycluster/gpu: autoscaler v2 (Ray 2.60.0 defaults to v2 under KubeRay)'},
    },
    {
      name: 'the head forcing v1 warns in span\'s words, with the Ray version of each group',
      groups: [rc('gpu', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', autoscalerOptions: {version: 'v2'}}), rc('old', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', ...env('0')})],
      want: {
        status: 'warn',
        detail: `raycluster/gpu (Ray 2.60.0): autoscaler v2 (autoscalerOptions.version is v2); raycluster/old (Ray 2.60.0) runs the Ray autoscaler v1 (the head sets RAY_enable_autoscaler_v2=0), ${NEVER}`,
        fix: V1_FIX,
      },
    },
    {
      name: 'a RayService and a RayJob, by the RayCluster spec they make; the RayService\'s RayCluster is not said twice',
      groups: [
        service('serve', {enableInTreeAutoscaling: true, rayVersion: '2.46.0'}),
        rc('serve-x7k2p', {enableInTreeAutoscaling: true, rayVersion: '2.46.0'}, 'serve'),
        job('train', {enableInTreeAutoscaling: true, rayVersion: '2.50.0'}),
      ],
      want: {
        status: 'warn',
        detail: `rayservice/serve runs the Ray autoscaler v1 (Ray 2.46.0 defaults to v1; v2 is the default from Ray 2.48), ${NEVER}; rayjob/train: autoscaler v2 (Ray 2.50.0 defaults to v2 under KubeRay)`,
        fix: V1_FIX,
      },
    },
    {
      name: 'a RayCluster whose owner was not listed is said as itself',
      groups: [rc('serve-x7k2p', {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}}, 'serve')],
      want: {status: 'ok', detail: 'raycluster/serve-x7k2p (no rayVersion): autoscaler v2 (autoscalerOptions.version is v2)'},
    },
    {
      name: 'no rayVersion and no version is v1',
      groups: [job('bare', {enableInTreeAutoscaling: true})],
      want: {status: 'warn', detail: `rayjob/bare runs the Ray autoscaler v1 (rayVersion is not set, and before Ray 2.48 the default is v1), ${NEVER}`, fix: V1_FIX},
    },
  ])('$name', ({groups, want}) => {
    const check = autoscalerCheck(groups);
    if (want === undefined) expect(check).toBeUndefined();
    else expect(check).toEqual({check: 'ray autoscaler', ...want});
  });
});

describe('clusterDomainChecks', () => {
  const MISMATCH = ": KubeRay renders the head address with the home cluster's domain (<svc>.<ns>.svc.<home domain>), and a remote worker in a cluster of another domain cannot resolve it";
  it.each([
    {name: 'one domain: ok', facts: [{context: 'a', domain: 'cluster.local'}, {context: 'b'}], want: {a: ['ok', 'cluster.local'], b: ['ok', 'cluster.local (assumed: no CoreDNS Corefile to read)']}},
    {
      name: 'two domains: both fail, each naming its own and the other',
      facts: [{context: 'a', domain: 'corp.example'}, {context: 'b'}],
      want: {
        a: ['fail', `corp.example, while b has cluster.local (assumed: no CoreDNS Corefile to read)${MISMATCH}`],
        b: ['fail', `cluster.local (assumed: no CoreDNS Corefile to read), while a has corp.example${MISMATCH}`],
      },
    },
    {
      name: 'three clusters, one odd: every cluster has one it cannot span with',
      facts: [{context: 'a', domain: 'cluster.local'}, {context: 'b', domain: 'cluster.local'}, {context: 'c', domain: 'corp.example'}],
      want: {a: ['fail', `cluster.local, while c has corp.example${MISMATCH}`], b: ['fail', `cluster.local, while c has corp.example${MISMATCH}`], c: ['fail', `corp.example, while a, b have cluster.local${MISMATCH}`]},
    },
    {
      name: 'three domains',
      facts: [{context: 'a', domain: 'one.example'}, {context: 'b', domain: 'two.example'}, {context: 'c', domain: 'three.example'}],
      want: {a: ['fail', `one.example, while b has two.example; c has three.example${MISMATCH}`], b: ['fail', `two.example, while a has one.example; c has three.example${MISMATCH}`], c: ['fail', `three.example, while a has one.example; b has two.example${MISMATCH}`]},
    },
    {
      name: 'a Corefile that cannot be read stays a warn, and is taken as cluster.local by the others, said to be assumed',
      facts: [{context: 'a', forbidden: true}, {context: 'b', domain: 'corp.example'}],
      want: {a: ['warn', 'cannot read kube-system/coredns (forbidden); cluster.local is assumed'], b: ['fail', `corp.example, while a has cluster.local (assumed: kube-system/coredns is not readable)${MISMATCH}`]},
    },
  ])('$name', ({facts, want}) => {
    const checks = clusterDomainChecks(facts);
    expect(Object.fromEntries([...checks].map(([context, c]) => [context, [c.status, c.detail]]))).toEqual(want);
    for (const c of checks.values()) {
      if (c.status === 'fail') expect(c.fix).toMatch(/^use one cluster domain in every cluster of the fleet .*CLUSTER_DOMAIN/);
      if (c.status === 'warn') expect(c.fix).toContain('kubectl-superskyray-doctor');
    }
  });
});

describe('parseCidr', () => {
  it.each([
    {cidr: '10.244.0.0/16', want: {family: 4, start: 0x0af40000n, end: 0x0af4ffffn}},
    {cidr: '10.244.1.7/24', want: {family: 4, start: 0x0af40100n, end: 0x0af401ffn}},
    {cidr: '0.0.0.0/0', want: {family: 4, start: 0n, end: 0xffffffffn}},
    {cidr: 'fd00::/8', want: {family: 6, start: 0xfdn << 120n, end: (0xfdn << 120n) | ((1n << 120n) - 1n)}},
    {cidr: 'fd00:10:244::/64', want: {family: 6, start: (0xfd00n << 112n) | (0x10n << 96n) | (0x244n << 80n), end: (0xfd00n << 112n) | (0x10n << 96n) | (0x244n << 80n) | ((1n << 64n) - 1n)}},
    {cidr: '::ffff:10.0.0.0/104', want: {family: 6, start: (0xffffn << 32n) | 0x0a000000n, end: (0xffffn << 32n) | 0x0affffffn}},
    {cidr: '10.0.0.0/33', want: undefined},
    {cidr: '10.0.0/8', want: undefined},
    {cidr: '256.0.0.0/8', want: undefined},
    {cidr: 'fd00::1::/64', want: undefined},
    {cidr: '1:2:3:4:5:6:7:8:9/64', want: undefined},
    {cidr: '10.0.0.0', want: undefined},
  ])('$cidr', ({cidr, want}) => {
    expect(parseCidr(cidr)).toEqual(want);
  });
});

describe('podCidrChecks', () => {
  const nodes = (...cidrs: string[][]) => cidrs.map((c, i) => ({name: `n${i}`, cidrs: c}));
  const FIX = "give each cluster of the fleet a pod CIDR of its own (kube-controller-manager's --cluster-cidr, or the pod network's IPAM pool)";
  const UNIQUE = ': pods reach each other across clusters by pod IP, which must be unique in the fleet';
  it.each<{name: string; facts: PodCidrFacts[]; want: Record<string, [string, string]>}>([
    {
      name: 'apart: ok, with the ranges and whom they were compared with',
      facts: [
        {context: 'onprem', clusterId: '1', nodes: nodes(['10.100.0.0/24'])},
        {context: 'cloud', clusterId: '2', nodes: nodes(['10.101.0.0/24'], ['10.101.1.0/24'])},
      ],
      want: {onprem: ['ok', '10.100.0.0/24 (1 node), apart from those of cloud'], cloud: ['ok', '10.101.0.0/24, 10.101.1.0/24 (2 nodes), apart from those of onprem']},
    },
    {
      name: 'overlapping: both fail, naming both clusters and ranges',
      facts: [
        {context: 'a', clusterId: '1', nodes: nodes(['10.244.0.0/24'], ['10.244.1.0/24'])},
        {context: 'b', clusterId: '2', nodes: nodes(['10.244.1.0/24'], ['10.250.0.0/24'])},
      ],
      want: {a: ['fail', `a's 10.244.1.0/24 overlaps b's 10.244.1.0/24${UNIQUE}`], b: ['fail', `b's 10.244.1.0/24 overlaps a's 10.244.1.0/24${UNIQUE}`]},
    },
    {
      name: 'a range inside a bigger one overlaps it; dual-stack ranges are compared per family',
      facts: [
        {context: 'a', clusterId: '1', nodes: nodes(['10.0.0.0/16', 'fd00:1::/64'])},
        {context: 'b', clusterId: '2', nodes: nodes(['10.0.200.0/24', 'fd00:2::/64'])},
      ],
      want: {a: ['fail', `a's 10.0.0.0/16 overlaps b's 10.0.200.0/24${UNIQUE}`], b: ['fail', `b's 10.0.200.0/24 overlaps a's 10.0.0.0/16${UNIQUE}`]},
    },
    {
      name: 'IPv6 overlap',
      facts: [
        {context: 'a', clusterId: '1', nodes: nodes(['fd00::/48'])},
        {context: 'b', clusterId: '2', nodes: nodes(['fd00:0:0:5::/64'])},
      ],
      want: {a: ['fail', `a's fd00::/48 overlaps b's fd00:0:0:5::/64${UNIQUE}`], b: ['fail', `b's fd00:0:0:5::/64 overlaps a's fd00::/48${UNIQUE}`]},
    },
    {
      name: 'two contexts of one cluster are not compared (another check fails them)',
      facts: [
        {context: 'a', clusterId: '1', nodes: nodes(['10.100.0.0/24'])},
        {context: 'a-again', clusterId: '1', nodes: nodes(['10.100.0.0/24'])},
      ],
      want: {a: ['ok', '10.100.0.0/24 (1 node)'], 'a-again': ['ok', '10.100.0.0/24 (1 node)']},
    },
    {
      name: 'nodes that cannot be listed: a warn there, never "no overlap" with them elsewhere',
      facts: [
        {context: 'a', clusterId: '1', nodes: nodes(['10.100.0.0/24'])},
        {context: 'b', unreadable: 'forbidden'},
        {context: 'c', unreadable: 'not reached'},
      ],
      want: {
        a: ['ok', '10.100.0.0/24 (1 node); not compared with b, c (pod CIDRs unknown)'],
        b: ['warn', 'cannot list the nodes (forbidden), so the pod CIDRs here are unknown'],
        c: ['warn', 'cannot list the nodes (not reached), so the pod CIDRs here are unknown'],
      },
    },
    {
      name: 'no node with a podCIDR (the pod network assigns addresses), or no node: skipped with a note',
      facts: [
        {context: 'a', clusterId: '1', nodes: nodes([], [])},
        {context: 'b', clusterId: '2', nodes: []},
        {context: 'c', clusterId: '3', nodes: nodes(['10.102.0.0/24'])},
      ],
      want: {
        a: ['ok', "not checked: no node has a spec.podCIDR (the pod network assigns addresses itself, e.g. Cilium's cluster-pool IPAM)"],
        b: ['ok', 'not checked: no nodes here'],
        c: ['ok', '10.102.0.0/24 (1 node); not compared with a, b (pod CIDRs unknown)'],
      },
    },
  ])('$name', ({facts, want}) => {
    const checks = podCidrChecks(facts);
    expect(Object.fromEntries([...checks].map(([context, c]) => [context, [c.status, c.detail]]))).toEqual(want);
    for (const c of checks.values()) {
      if (c.status === 'fail') expect(c.fix).toBe(FIX);
      if (c.detail.includes('forbidden')) expect(c.fix).toBe('bind the ClusterRole kubectl-superskyray-fleet (deploy/rbac/) to this user');
    }
  });

  it('says a few overlapping pairs and how many more', () => {
    const a = nodes(...Array.from({length: 5}, (_, i) => [`10.244.${i}.0/24`]));
    const checks = podCidrChecks([
      {context: 'a', clusterId: '1', nodes: a},
      {context: 'b', clusterId: '2', nodes: a},
    ]);
    expect(checks.get('a')?.detail).toBe(`a's 10.244.0.0/24 overlaps b's 10.244.0.0/24, a's 10.244.1.0/24 overlaps b's 10.244.1.0/24 and 3 more${UNIQUE}`);
  });

  it('compares thousands of nodes without comparing every pair', () => {
    const many = (second: number) => nodes(...Array.from({length: 5000}, (_, i) => [`10.${second + Math.floor(i / 256)}.${i % 256}.0/24`]));
    const started = performance.now();
    const checks = podCidrChecks([
      {context: 'a', clusterId: '1', nodes: many(0)},
      {context: 'b', clusterId: '2', nodes: many(100)},
    ]);
    expect(checks.get('a')?.status).toBe('ok');
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('selectorMatches', () => {
  const ray = {'ray.io/is-ray-node': 'yes', 'ray.io/node-type': 'worker', app: 'train'};
  it.each<{name: string; selector: Parameters<typeof selectorMatches>[0]; want: boolean}>([
    {name: 'empty selects all', selector: {}, want: true},
    {name: 'no selector selects all', selector: undefined, want: true},
    {name: 'matchLabels', selector: {matchLabels: {'ray.io/is-ray-node': 'yes'}}, want: true},
    {name: 'matchLabels, another value', selector: {matchLabels: {'ray.io/node-type': 'head'}}, want: false},
    {name: 'In', selector: {matchExpressions: [{key: 'app', operator: 'In', values: ['train', 'serve']}]}, want: true},
    {name: 'In, key absent', selector: {matchExpressions: [{key: 'tier', operator: 'In', values: ['x']}]}, want: false},
    {name: 'NotIn, key absent', selector: {matchExpressions: [{key: 'tier', operator: 'NotIn', values: ['x']}]}, want: true},
    {name: 'NotIn, value listed', selector: {matchExpressions: [{key: 'app', operator: 'NotIn', values: ['train']}]}, want: false},
    {name: 'Exists', selector: {matchExpressions: [{key: 'app', operator: 'Exists'}]}, want: true},
    {name: 'DoesNotExist', selector: {matchExpressions: [{key: 'app', operator: 'DoesNotExist'}]}, want: false},
    {name: 'both must hold', selector: {matchLabels: {app: 'train'}, matchExpressions: [{key: 'ray.io/node-type', operator: 'In', values: ['head']}]}, want: false},
  ])('$name', ({selector, want}) => {
    expect(selectorMatches(selector, ray)).toBe(want);
  });
});

describe('networkPolicyCheck', () => {
  const policy = (name: string, spec: Record<string, unknown>) => ({apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: {name, namespace: 'ml'}, spec});
  const denyAll = policy('deny-all', {podSelector: {}, policyTypes: ['Ingress']});
  const rayPeer = {podSelector: {matchLabels: {'ray.io/is-ray-node': 'yes'}}};
  const cloud = {context: 'cloud', cidrs: ['10.101.0.0/24', '10.101.1.0/24']};
  const base: NetworkPolicyFacts = {context: 'onprem', namespace: 'ml', mesh: 'endpoints', policies: [], others: [cloud]};
  const WHERE = '(namespace ml, context onprem)';
  const DROPS = ': the head and the workers of a group spanned across clusters could not reach each other';
  const FLAT_FIX = "admit ingress to the Ray pods from the other clusters' pod CIDRs (an ipBlock covering each one's: cloud has 10.101.0.0/24, 10.101.1.0/24), or add a rule without from";
  it.each<{name: string; facts: Partial<NetworkPolicyFacts>; want: {status: string; detail: string; fix?: string}}>([
    {name: 'not served (the sandbox, for one): a note', facts: {policies: {notServed: true}}, want: {status: 'ok', detail: 'NetworkPolicies (networking.k8s.io/v1) are not served here: none can drop Ray traffic'}},
    {
      name: 'forbidden: a warn with the RBAC fix',
      facts: {policies: {unreadable: 'forbidden'}},
      want: {status: 'warn', detail: `cannot list the NetworkPolicies of namespace ml, context onprem (forbidden), so whether one drops Ray traffic between clusters is unknown`, fix: 'grant this user list on networkpolicies (networking.k8s.io) in namespace ml'},
    },
    {name: 'none', facts: {}, want: {status: 'ok', detail: 'no NetworkPolicy in namespace ml'}},
    {name: 'one that selects no Ray pod', facts: {policies: [policy('web', {podSelector: {matchLabels: {app: 'web'}}, policyTypes: ['Ingress']})]}, want: {status: 'ok', detail: '1 in namespace ml, none limits ingress to the Ray pods'}},
    {name: 'egress only: ingress is not limited', facts: {policies: [policy('egress', {podSelector: {}, policyTypes: ['Egress'], egress: []})]}, want: {status: 'ok', detail: '1 in namespace ml, none limits ingress to the Ray pods'}},
    {name: 'an empty ingress list with Ingress denies all', facts: {policies: [denyAll]}, want: {status: 'warn', detail: `networkpolicy/deny-all ${WHERE} selects the Ray pods and admits no ingress from other clusters (no ingress rule: all ingress is denied)${DROPS}`, fix: FLAT_FIX}},
    {name: 'no policyTypes: Ingress is implied', facts: {policies: [policy('implied', {podSelector: {matchLabels: {'ray.io/is-ray-node': 'yes'}}})]}, want: {status: 'warn', detail: `networkpolicy/implied ${WHERE} selects the Ray pods and admits no ingress from other clusters (no ingress rule: all ingress is denied)${DROPS}`, fix: FLAT_FIX}},
    {name: 'a rule without from admits every source', facts: {policies: [policy('open', {podSelector: {}, policyTypes: ['Ingress'], ingress: [{}]})]}, want: {status: 'ok', detail: 'ingress to the Ray pods is limited by networkpolicy/open, and admitted from the other clusters (networkpolicy/open: a rule without from (every source))'}},
    {
      name: 'policies add up: a deny-all and an allow from the other clusters\' CIDRs',
      facts: {policies: [denyAll, policy('from-cloud', {podSelector: rayPeer.podSelector, policyTypes: ['Ingress'], ingress: [{from: [{ipBlock: {cidr: '10.101.0.0/16'}}]}]})]},
      want: {status: 'ok', detail: "ingress to the Ray pods is limited by networkpolicy/deny-all, networkpolicy/from-cloud, and admitted from the other clusters (networkpolicy/from-cloud: ipBlock 10.101.0.0/16, which covers the other clusters' pod CIDRs)"},
    },
    {
      name: 'an ipBlock that leaves out a range of another cluster',
      facts: {policies: [policy('narrow', {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '10.101.0.0/24'}}]}]})]},
      want: {status: 'warn', detail: `networkpolicy/narrow ${WHERE} selects the Ray pods and admits no ingress from other clusters (ipBlock 10.101.0.0/24 (leaves out cloud's 10.101.1.0/24))${DROPS}`, fix: FLAT_FIX},
    },
    {
      name: 'an ipBlock whose except takes another cluster out',
      facts: {policies: [policy('except', {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '10.0.0.0/8', except: ['10.101.0.0/16']}}]}]})]},
      want: {status: 'warn', detail: `networkpolicy/except ${WHERE} selects the Ray pods and admits no ingress from other clusters (ipBlock 10.0.0.0/8 except 10.101.0.0/16 (leaves out cloud's 10.101.0.0/24, cloud's 10.101.1.0/24))${DROPS}`, fix: FLAT_FIX},
    },
    {
      name: 'an ipBlock, when another cluster\'s pod CIDRs are unknown: cannot tell',
      facts: {others: [cloud, {context: 'edge'}], policies: [policy('wide', {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '10.0.0.0/8'}}]}]})]},
      want: {status: 'warn', detail: `networkpolicy/wide ${WHERE} limits ingress to the Ray pods to ipBlock 10.0.0.0/8, while the pod CIDRs of edge are unknown: cannot tell whether the other clusters' pods come in`, fix: "make sure an ipBlock admits every other cluster's pod CIDR"},
    },
    {
      name: 'a pod selector on a flat network admits pods of this cluster only',
      facts: {policies: [policy('ray-only', {podSelector: rayPeer.podSelector, ingress: [{from: [rayPeer]}]})]},
      want: {status: 'warn', detail: `networkpolicy/ray-only ${WHERE} selects the Ray pods and admits no ingress from other clusters (a pod or namespace selector (pods of this cluster only))${DROPS}`, fix: FLAT_FIX},
    },
    {
      name: 'Cilium: a selector of the Ray pods admits those of the whole mesh',
      facts: {mesh: 'cilium', policies: [policy('ray-only', {podSelector: rayPeer.podSelector, ingress: [{from: [rayPeer]}]})]},
      want: {status: 'ok', detail: 'ingress to the Ray pods is limited by networkpolicy/ray-only, and admitted from the other clusters (networkpolicy/ray-only: a selector of the Ray pods, which Cilium applies in every cluster of the mesh)'},
    },
    {
      name: 'Cilium with policy-default-local-cluster: the same selector admits this cluster only',
      facts: {mesh: 'cilium', ciliumLocalOnly: true, policies: [policy('ray-only', {podSelector: rayPeer.podSelector, ingress: [{from: [rayPeer]}]})]},
      want: {
        status: 'warn',
        detail: `networkpolicy/ray-only ${WHERE} selects the Ray pods and admits no ingress from other clusters (a pod or namespace selector (pods of this cluster only: Cilium's policy-default-local-cluster is on))${DROPS}`,
        fix: 'admit ingress to the Ray pods from the Ray pods of each other cluster (a from podSelector with ray.io/is-ray-node: "yes" and io.cilium.k8s.policy.cluster: <its cluster name>), or add a rule without from',
      },
    },
    {
      name: 'Cilium with policy-default-local-cluster: a peer naming clusters admits them',
      facts: {mesh: 'cilium', ciliumLocalOnly: true, policies: [policy('mesh', {podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: 'io.cilium.k8s.policy.cluster', operator: 'In', values: ['cloud']}]}}]}]})]},
      want: {status: 'ok', detail: 'ingress to the Ray pods is limited by networkpolicy/mesh, and admitted from the other clusters (networkpolicy/mesh: a selector naming Cilium clusters (io.cilium.k8s.policy.cluster))'},
    },
    {
      name: 'Cilium: an ipBlock admits no pod of the mesh',
      facts: {mesh: 'cilium', policies: [policy('cidr', {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '10.0.0.0/8'}}]}]})]},
      want: {
        status: 'warn',
        detail: `networkpolicy/cidr ${WHERE} selects the Ray pods and admits no ingress from other clusters (ipBlock 10.0.0.0/8 (Cilium applies no ipBlock to the pods of its mesh))${DROPS}`,
        fix: 'admit ingress to the Ray pods from the Ray pods (a from podSelector with ray.io/is-ray-node: "yes", which Cilium applies across the mesh), or add a rule without from',
      },
    },
    {
      name: 'admitted on some ports only',
      facts: {policies: [policy('gcs', {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '10.101.0.0/16'}}], ports: [{port: 6379}, {protocol: 'TCP', port: 10000, endPort: 10100}]}]})]},
      want: {
        status: 'warn',
        detail: `networkpolicy/gcs ${WHERE} admits the other clusters to the Ray pods only on some ports (ipBlock 10.101.0.0/16, which covers the other clusters' pod CIDRs, on TCP/6379, TCP/10000-10100 only): Ray's raylet, object manager and workers listen on more`,
        fix: "admit every port from the other clusters, or make sure the ports admitted are all Ray uses (ray start's --node-manager-port, --object-manager-port, --min-worker-port and --max-worker-port fix them)",
      },
    },
    {
      name: 'a policy on the heads only',
      facts: {policies: [policy('heads', {podSelector: {matchLabels: {'ray.io/node-type': 'head'}}, policyTypes: ['Ingress']})]},
      want: {status: 'warn', detail: `networkpolicy/heads ${WHERE} selects the Ray pods and admits no ingress from other clusters (no ingress rule: all ingress is denied)${DROPS}`, fix: FLAT_FIX},
    },
    {
      name: 'a policy on one RayCluster\'s pods, seen by the labels of the Ray pods here',
      facts: {rayPods: [{'ray.io/is-ray-node': 'yes', 'ray.io/cluster': 'gpu'}], policies: [policy('gpu', {podSelector: {matchLabels: {'ray.io/cluster': 'gpu'}}, policyTypes: ['Ingress']})]},
      want: {status: 'warn', detail: `networkpolicy/gpu ${WHERE} selects the Ray pods and admits no ingress from other clusters (no ingress rule: all ingress is denied)${DROPS}`, fix: FLAT_FIX},
    },
    {
      name: 'the same policy without Ray pods here, whose listing failed: said',
      facts: {rayPodsUnreadable: 'forbidden', policies: [policy('gpu', {podSelector: {matchLabels: {'ray.io/cluster': 'gpu'}}, policyTypes: ['Ingress']})]},
      want: {status: 'ok', detail: "1 in namespace ml, none limits ingress to the Ray pods; the Ray pods here were not listed (forbidden), so only KubeRay's own labels were matched"},
    },
    {name: 'no other cluster in the fleet', facts: {others: [], policies: [denyAll]}, want: {status: 'ok', detail: '1 in namespace ml, and no other cluster in the fleet to reach'}},
  ])('$name', ({facts, want}) => {
    expect(networkPolicyCheck({...base, ...facts})).toEqual({check: 'network policies', ...want});
  });
});
