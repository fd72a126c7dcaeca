import * as fs from 'node:fs';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {fromProtobuf} from '../../../src/sandbox/protobuf.js';

// Bodies kubectl v1.32 sent for its typed subcommands (captured in front of a sandbox).
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'kubectl-protobuf');
const RBAC = 'rbac.authorization.k8s.io';

describe('reading the protobuf kubectl sends', () => {
  const cases: Array<[string, string, unknown]> = [
    ['namespace.pb', 'create namespace team', {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'team'}, spec: {}}],
    ['serviceaccount.pb', 'create serviceaccount bot', {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'bot', namespace: 'team'}}],
    ['configmap.pb', 'create configmap cfg --from-literal=a=b', {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'cfg', namespace: 'team'}, data: {a: 'b'}}],
    ['secret.pb', 'create secret generic s1 --from-literal=pw=x', {apiVersion: 'v1', kind: 'Secret', metadata: {name: 's1', namespace: 'team'}, data: {pw: 'eA=='}}],
    [
      'role.pb',
      'create role pods --verb=get,list --resource=pods --resource-name=p1',
      {apiVersion: `${RBAC}/v1`, kind: 'Role', metadata: {name: 'pods', namespace: 'team'}, rules: [{verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'], resourceNames: ['p1']}]},
    ],
    [
      'rolebinding.pb',
      'create rolebinding bot-pods --role=pods --serviceaccount=team:bot --user=alice',
      {
        apiVersion: `${RBAC}/v1`,
        kind: 'RoleBinding',
        metadata: {name: 'bot-pods', namespace: 'team'},
        subjects: [{kind: 'User', apiGroup: RBAC, name: 'alice'}, {kind: 'ServiceAccount', name: 'bot', namespace: 'team'}],
        roleRef: {apiGroup: RBAC, kind: 'Role', name: 'pods'},
      },
    ],
    ['clusterrole.pb', 'create clusterrole agg --aggregation-rule=a=b', {apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: {name: 'agg'}, aggregationRule: {clusterRoleSelectors: [{matchLabels: {a: 'b'}}]}}],
    [
      'clusterrolebinding.pb',
      'create clusterrolebinding bot-nodes --clusterrole=nodes --group=devs',
      {apiVersion: `${RBAC}/v1`, kind: 'ClusterRoleBinding', metadata: {name: 'bot-nodes'}, subjects: [{kind: 'Group', apiGroup: RBAC, name: 'devs'}], roleRef: {apiGroup: RBAC, kind: 'ClusterRole', name: 'nodes'}},
    ],
    [
      'service.pb',
      'create service clusterip web --tcp=80:http --tcp=443:8443',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {name: 'web', namespace: 'default', labels: {app: 'web'}},
        spec: {
          ports: [
            {name: '80-http', protocol: 'TCP', port: 80, targetPort: 'http'},
            {name: '443-8443', protocol: 'TCP', port: 443, targetPort: 8443},
          ],
          selector: {app: 'web'},
          type: 'ClusterIP',
          publishNotReadyAddresses: false,
        },
      },
    ],
    [
      'priorityclass.pb',
      'create priorityclass high --value=1000 --description="high one" --preemption-policy=Never',
      {apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: 'high'}, value: 1000, globalDefault: false, description: 'high one', preemptionPolicy: 'Never'},
    ],
    ['priorityclass-default.pb', 'create priorityclass dflt --value=10 --global-default', {apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: 'dflt'}, value: 10, globalDefault: true, preemptionPolicy: 'PreemptLowerPriority'}],
    [
      'resourcequota.pb',
      'create quota q1 -n team --hard=pods=2,requests.cpu=1,requests.memory=1Gi,limits.cpu=2',
      {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'q1', namespace: 'team'}, spec: {hard: {'limits.cpu': '2', pods: '2', 'requests.cpu': '1', 'requests.memory': '1Gi'}}},
    ],
    ['resourcequota-scopes.pb', 'create quota q2 -n team --hard=pods=5 --scopes=BestEffort', {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'q2', namespace: 'team'}, spec: {hard: {pods: '5'}, scopes: ['BestEffort']}}],
    ['tokenrequest.pb', 'create token bot --duration=20m', {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: {}, spec: {expirationSeconds: 1200}}],
    [
      'selfsubjectaccessreview-resource.pb',
      'auth can-i list pods/status -n team',
      {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', metadata: {}, spec: {resourceAttributes: {namespace: 'team', verb: 'list', resource: 'pods', name: 'status'}}},
    ],
    ['selfsubjectreview.pb', 'auth whoami', {apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {}}],
    ['selfsubjectrulesreview.pb', 'auth can-i --list -n default', {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', metadata: {}, spec: {namespace: 'default'}}],
    ['selfsubjectaccessreview-path.pb', 'auth can-i get /version', {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', metadata: {}, spec: {nonResourceAttributes: {path: '/version', verb: 'get'}}}],
  ];
  it.each(cases)('%s (kubectl %s)', (file, _, expected) => {
    expect(fromProtobuf(fs.readFileSync(path.join(FIXTURES, file)))).toEqual(expected);
  });

  it('refuses a kind it cannot read with 415, and a body that is not protobuf with 400', () => {
    const text = (s: string) => [s.length, ...Buffer.from(s)];
    const typeMeta = [0x0a, ...text('apps/v1'), 0x12, ...text('Deployment')];
    const deployment = Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, typeMeta.length, ...typeMeta]);
    expect(() => fromProtobuf(deployment)).toThrow(expect.objectContaining({code: 415, message: expect.stringContaining('send Deployment as application/json')}));
    expect(() => fromProtobuf(Buffer.from('{"kind":"Namespace"}'))).toThrow(expect.objectContaining({code: 400}));
    const truncated = fs.readFileSync(path.join(FIXTURES, 'rolebinding.pb')).subarray(0, 40);
    expect(() => fromProtobuf(truncated)).toThrow(expect.objectContaining({code: 400}));
  });
});
