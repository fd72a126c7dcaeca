import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {parseSet, readRunbook, type ReadRunbookOptions} from '../../../src/runbook/format.js';
import {REPO} from '../../support/cli.js';
import {thrown} from '../../support/errors.js';

const files: Record<string, string> = {
  'app.yaml': 'apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: app}\n',
  'filler.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n',
  'crd.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n',
};
const options: ReadRunbookOptions = {
  readFile: (p) => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error('no such file'), {code: 'ENOENT'});
    return text;
  },
};

const runbook = (steps: string, head = 'namespace: ml') => `${head}\nsteps:\n${steps}`;

describe('readRunbook', () => {
  it('reads every step kind, with defaults and titles made from what each step does', () => {
    const book = readRunbook(
      runbook(`
  - place: {file: app.yaml}
  - scale: {group: raycluster/app, replicas: 3, workerGroup: cpu, skipCapacityRelocate: true}
  - scale: {group: rayservice/svc, serve: [fraud.Model=4]}
  - span: {group: app, to: cloud}
  - status: {}
  - status: {group: app, namespace: other}
  - wait: {group: app, mode: spanned, clusters: {onprem: {local: 2, placeholders: 1}, cloud: {remote: 1, running: 1, headServiceCopy: true}}, timeout: 90s}
  - assert: {group: app, running: true}
  - apply: {context: onprem, file: filler.yaml}
  - patch: {context: onprem, object: raycluster/app, type: json, patch: [{op: replace, path: /spec/x, value: 1}]}
  - sleep: 2s
  - watch: {groups: [raycluster/app]}
`),
      'book.yaml',
      options,
    );
    expect(book.name).toBe('book.yaml');
    expect(book.namespace).toBe('ml');
    expect(book.steps.map((s) => s.title)).toEqual([
      'place app.yaml',
      'scale raycluster/app worker group cpu to 3',
      'scale rayservice/svc serve fraud.Model=4',
      'span app to cloud',
      'status of the fleet',
      'status app',
      'wait app spanned; onprem local=2 placeholders=1; cloud remote=1 running=1 headServiceCopy=true',
      'assert app; all running',
      'apply filler.yaml in onprem',
      'patch raycluster/app in onprem',
      'sleep 2s',
      'watch raycluster/app in the background',
    ]);
    expect(book.steps[0]).toMatchObject({kind: 'place', text: files['app.yaml'], namespace: 'ml', skipCapacityRelocate: undefined, mesh: undefined});
    expect(book.steps[1]).toMatchObject({kind: 'scale', replicas: 3, workerGroup: 'cpu', skipCapacityRelocate: true, copySecrets: false, wait: false});
    expect(book.steps[2]).toMatchObject({serve: [{app: 'fraud', deployment: 'Model', replicas: 4}]});
    expect(book.steps[5]).toMatchObject({kind: 'status', group: 'app', namespace: 'other'});
    expect(book.steps[6]).toMatchObject({kind: 'wait', timeoutMs: 90_000, condition: {group: 'app', namespace: 'ml', mode: 'spanned'}});
    expect(book.steps[8]).toMatchObject({kind: 'apply', objects: [{metadata: {name: 'a'}}, {metadata: {name: 'b', namespace: 'other'}}]});
    expect(book.steps[9]).toMatchObject({kind: 'patch', patchType: 'json', object: 'raycluster/app'});
    expect(book.steps[10]).toMatchObject({kind: 'sleep', ms: 2000});
    expect(book.steps.map((s) => s.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('fills variables from vars, then --set over them, keeping numbers numbers and naming keys by variables', () => {
    const text = `
name: grow \${app} to \${replicas}
vars: {app: demo, replicas: 2, home: onprem}
contexts: ["\${home}", cloud]
namespace: ns-\${app}
steps:
  - name: scale \${app}
    scale:
      group: raycluster/\${app}
      replicas: \${replicas}
  - assert: {group: "\${app}", clusters: {"\${home}": {local: "\${replicas}"}}}
`;
    const book = readRunbook(text, 'b.yaml', {...options, set: parseSet(['replicas=3', 'home=dc1'])});
    expect(book).toMatchObject({name: 'grow demo to 3', contexts: ['dc1', 'cloud'], namespace: 'ns-demo'});
    expect(book.steps[0]).toMatchObject({title: 'scale demo', group: 'raycluster/demo', replicas: 3});
    expect(book.steps[1]).toMatchObject({condition: {group: 'demo', clusters: {dc1: {local: 3}}}});
    expect(readRunbook(text, 'b.yaml', {...options, namespace: 'from-flag'}).namespace).toBe('from-flag');
    // A variable YAML reads as a number is still a name where a name is wanted.
    const numbered = readRunbook('namespace: ${ns}\nsteps:\n  - status: {group: "${ns}"}\n', 'b.yaml', {set: parseSet(['ns=2024'])});
    expect(numbered.namespace).toBe('2024');
    expect(numbered.steps[0]).toMatchObject({group: '2024', namespace: '2024'});
    // A --set the runbook never reads is a typo, not a silent no-op.
    const typo = thrown(() => readRunbook(text, 'b.yaml', {...options, set: parseSet(['namspace=ml'])}));
    expect([typo.message, typo.fix]).toEqual(['--set namspace: b.yaml has no variable "namspace"', 'its variables are app, home, replicas']);
  });

  it.each([
    ['an unset variable', runbook('  - scale: {group: "${app}", replicas: 1}'), 'step 1 uses ${app}, which is not set; add app under vars, or pass --set app=VALUE'],
    ['two kinds in one step', runbook('  - {scale: {group: a, replicas: 1}, span: {group: a}}'), 'step 1 has "scale", "span"; a step has exactly one kind; use one of place, scale, span, status, wait, assert, apply, patch, sleep, watch'],
    ['an unknown kind', runbook('  - name: oops\n    restart: {group: a}'), 'step 1 (oops) has "restart"; a step has exactly one kind; use one of place, scale, span, status, wait, assert, apply, patch, sleep, watch'],
    ['an unknown key', runbook('  - span: {group: a}\n  - scale: {group: a, replica: 3}'), 'step 2: scale has unknown key(s) replica; use group, namespace, replicas, workerGroup, serve, skipCapacityRelocate, copySecrets, wait, timeout'],
    ['a negative count', runbook('  - scale: {group: a, replicas: -1}'), 'step 1: replicas must be a whole number, 0 or more; write replicas: 2'],
    ['scale without a size', runbook('  - scale: {group: a}'), 'step 1: scale needs replicas or serve; add replicas: N'],
    ['a bad serve', runbook('  - scale: {group: a, serve: [nodot]}'), 'step 1: serve "nodot" is not APP.DEPLOYMENT=N; write serve: [APP.DEPLOYMENT=N]'],
    ['a missing group', runbook('  - span: {to: cloud}'), 'step 1: span needs group; add group: to the step'],
    ['a wait that checks nothing', runbook('  - wait: {group: a, timeout: 1m}'), 'step 1: wait checks nothing; add mode:, clusters: or running: true'],
    ['an unknown mode', runbook('  - assert: {group: a, mode: split}'), 'step 1: mode "split" is not one of single, spanned, relocating; write mode: spanned'],
    ['an unknown count', runbook('  - assert: {group: a, clusters: {cloud: {remotes: 1}}}'), 'step 1: clusters.cloud has unknown key(s) remotes; use local, pending, placeholders, remote, running, headServiceCopy'],
    ['a bad timeout', runbook('  - wait: {group: a, mode: single, timeout: soon}'), 'step 1: timeout: "soon" is not a duration; use forms like 30s, 5m or 1h30m; write timeout: 90s'],
    ['a missing file', runbook('  - place: {file: nope.yaml}'), 'step 1: cannot read nope.yaml: ENOENT; give a path relative to the runbook'],
    ['apply of an unknown kind', runbook('  - apply: {context: onprem, file: crd.yaml}'), 'step 1: apply does not know kind CustomResourceDefinition; apply one of Namespace, Node, Pod, Service, ConfigMap, Secret, ServiceAccount, Event, EndpointSlice, Lease, PodDisruptionBudget, ResourceQuota, PersistentVolumeClaim, NetworkPolicy, PriorityClass, RuntimeClass, RayCluster, RayService, RayJob'],
    ['apply with both file and object', runbook('  - apply: {context: onprem, file: app.yaml, object: {kind: Pod}}'), 'step 1: apply needs exactly one of file and object; give the manifest as file: PATH or the object inline as object: {...}'],
    ['a json patch that is not a list', runbook('  - patch: {context: onprem, object: raycluster/a, type: json, patch: {spec: {}}}'), 'step 1: a json patch is a list of operations; write patch: [{op: replace, path: /spec/..., value: ...}]'],
    ['a patch of an unknown kind', runbook('  - patch: {context: onprem, object: deployment/a, patch: {spec: {}}}'), 'step 1: patch does not know kind deployment; patch one of namespace, node, pod, service, configmap, secret, serviceaccount, event, endpointslice, lease, poddisruptionbudget, resourcequota, persistentvolumeclaim, networkpolicy, priorityclass, runtimeclass, selfsubjectaccessreview, raycluster, rayservice, rayjob'],
    ['no steps', 'namespace: ml\nsteps: []', 'book.yaml has no steps; add steps: [...]'],
    ['an unknown top-level key', 'step: []', 'book.yaml has unknown key(s) step; use name, vars, contexts, namespace, steps'],
    ['not YAML', 'steps: [', 'book.yaml is not YAML: unexpected end of the stream within a flow collection (2:1); fix the runbook'],
    ['a namespace that is not a name', 'namespace: [a]\nsteps:\n  - sleep: 1s', 'book.yaml: namespace must be a namespace name; write namespace: NAME'],
    ['an empty serve', runbook('  - scale: {group: a, serve: []}'), 'step 1: serve is empty; write serve: [APP.DEPLOYMENT=N], or leave it out'],
    ['a merge patch that is not a map', runbook('  - patch: {context: onprem, object: raycluster/a, patch: "spec: {}"}'), 'step 1: a merge patch is a map; write patch: {spec: {...}}, or type: json for a list of operations'],
    ['apply of a kind under another apiVersion', runbook('  - apply: {context: onprem, object: {apiVersion: v1, kind: RayCluster, metadata: {name: x}}}'), 'step 1: RayCluster x has apiVersion v1, and a RayCluster is ray.io/v1; write apiVersion: ray.io/v1'],
    ['apply of an access review', runbook('  - apply: {context: onprem, object: {apiVersion: authorization.k8s.io/v1, kind: SelfSubjectAccessReview, metadata: {name: x}}}'), 'step 1: apply does not know kind SelfSubjectAccessReview; apply one of Namespace, Node, Pod, Service, ConfigMap, Secret, ServiceAccount, Event, EndpointSlice, Lease, PodDisruptionBudget, ResourceQuota, PersistentVolumeClaim, NetworkPolicy, PriorityClass, RuntimeClass, RayCluster, RayService, RayJob'],
    ['a sleep past a day', runbook('  - sleep: 600h'), 'step 1: sleep 600h is longer than 24h; sleep at most 24h'],
  ])('refuses %s with one line naming the step and the fix', (_what, text, message) => {
    const err = thrown(() => readRunbook(text, 'book.yaml', options));
    expect(`${err.message}; ${err.fix}`).toBe(message);
  });

  it('refuses a --set that is not key=value', () => {
    expect(thrown(() => parseSet(['replicas'])).message).toBe('--set "replicas" is not key=value');
  });

  it('reads the example runbooks', () => {
    for (const name of ['manual-scale.yaml', 'autoscaler-gpu.yaml']) {
      const file = path.join(REPO, 'examples', 'runbooks', name);
      const book = readRunbook(fs.readFileSync(file, 'utf8'), file, {readFile: (p) => fs.readFileSync(path.resolve(path.dirname(file), p), 'utf8')});
      expect(book.contexts).toEqual(['onprem', 'cloud']);
      expect(book.steps.some((s) => s.kind === 'wait' && s.condition.mode === 'spanned')).toBe(true);
    }
  });
});
