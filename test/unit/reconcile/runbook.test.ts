import {describe, expect, it} from 'vitest';
import {checkRunbook} from '../../../src/reconcile/runbook.js';
import {readRunbook} from '../../../src/runbook/format.js';
import {thrown} from '../../support/errors.js';

const APP = 'apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: app}\nspec: {headGroupSpec: {template: {spec: {containers: [{name: h}]}}}}\n';
const steps = (body: string, files: Record<string, string> = {}) => readRunbook(`namespace: ml\nsteps:\n${body}`, 'book.yaml', {readFile: (p) => files[p] ?? ''}).steps;

describe('checkRunbook', () => {
  it('passes what the services take', () => {
    expect(() => checkRunbook(steps('  - place: {file: app.yaml}\n  - scale: {group: raycluster/app, replicas: 3}\n  - wait: {group: app, mode: single}', {'app.yaml': APP}))).not.toThrow();
  });

  it.each([
    ['a group reference that names no Ray kind', '  - sleep: 1s\n  - scale: {group: deployment/x, replicas: 1}', {}, /^step 2 \(scale deployment\/x to 1\): "deployment\/x" does not name a Ray app$/],
    ['a group reference in a wait', '  - wait: {group: pods/x, mode: single}', {}, /^step 1 \(wait pods\/x single\): "pods\/x" does not name a Ray app$/],
    ['a manifest that is not a Ray app', '  - place: {file: cm.yaml}', {'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n'}, /^step 1 \(place cm\.yaml\): cm\.yaml: .+/],
    ['a manifest in another namespace', '  - place: {file: app.yaml}', {'app.yaml': APP.replace('{name: app}', '{name: app, namespace: other}')}, /^step 1 \(place app\.yaml\): .*namespace.*/],
  ])('refuses %s, naming the step', (_what, body, files, message) => {
    expect(thrown(() => checkRunbook(steps(body, files))).message).toMatch(message);
  });
});
