import * as fs from 'node:fs';
import yaml from 'js-yaml';
import {describe, expect, it} from 'vitest';
import {PERMISSIONS} from '../../src/reconcile/doctor.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
type RoleDoc = {kind: string; metadata: {name: string}; rules: Rule[]};

const docs = yaml.loadAll(fs.readFileSync(new URL('../../deploy/rbac/kubectl-superskyray.yaml', import.meta.url), 'utf8')) as RoleDoc[];
const rulesOf = (name: string) => docs.find((d) => d.metadata.name === name)!.rules;
const grants = (rules: Rule[], group: string, resource: string, verb: string) => rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

describe('deploy/rbac: the shipped roles grant what doctor checks for', () => {
  const rules = [...rulesOf('kubectl-superskyray-fleet'), ...rulesOf('kubectl-superskyray-apps')];
  const secrets = rulesOf('kubectl-superskyray-secrets');
  const resourceOf = (p: (typeof PERMISSIONS)[number]) => (p.subresource ? `${p.type.resource}/${p.subresource}` : p.type.resource);
  it.each(PERMISSIONS.flatMap((p) => p.verbs.map((verb) => ({what: `${verb} ${resourceOf(p)}`, p, verb}))))('$what', ({p, verb}) => {
    expect(grants(p.secretsOnly ? secrets : rules, p.type.group, resourceOf(p), verb)).toBe(true);
  });

  it('grants Secrets only in the role for --copy-secrets', () => {
    expect(rules.some((r) => r.resources.includes('secrets'))).toBe(false);
  });
});
