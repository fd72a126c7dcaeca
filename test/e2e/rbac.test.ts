import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {ClusterClient} from '../../src/kube/client.js';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES, type ResourceType} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {REPO, cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const RBAC = (resource: string, kind: string, namespaced: boolean): ResourceType => ({group: 'rbac.authorization.k8s.io', version: 'v1', resource, kind, namespaced});
const TYPES: Record<string, ResourceType> = {
  ClusterRole: RBAC('clusterroles', 'ClusterRole', false),
  Role: RBAC('roles', 'Role', true),
  ClusterRoleBinding: RBAC('clusterrolebindings', 'ClusterRoleBinding', false),
  RoleBinding: RBAC('rolebindings', 'RoleBinding', true),
};

interface Kubeconfig {
  clusters: Array<{name: string}>;
  users: Array<{name: string; user: Record<string, unknown>}>;
  contexts: Array<{name: string; context: {cluster: string; user: string}}>;
}

describe('a non-admin user bound to the shipped RBAC', () => {
  let fleet: Fleet;
  let namespace: string;
  const made: Array<{client: ClusterClient; type: ResourceType; name: string; namespace?: string}> = [];

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'rbac');
  });
  afterAll(async () => {
    for (const m of made.reverse()) await m.client.delete(m.type, m.name, m.namespace).catch(() => undefined);
    await removeNamespace(fleet, namespace);
  });

  async function create(client: ClusterClient, obj: KubeObject): Promise<void> {
    const type = TYPES[obj.kind ?? ''] ?? RESOURCES.serviceaccounts;
    await client.create(type, obj);
    made.push({client, type, name: obj.metadata?.name ?? '', namespace: type.namespaced ? obj.metadata?.namespace : undefined});
  }

  /** deploy/rbac applied in one cluster for a ServiceAccount of the test's namespace; returns its token. */
  async function bindUser(client: ClusterClient): Promise<string> {
    const docs = yaml.loadAll(fs.readFileSync(path.join(REPO, 'deploy', 'rbac', 'kubectl-superskyray.yaml'), 'utf8')) as KubeObject[];
    for (const doc of docs) {
      const exists = await client.find(TYPES[doc.kind!]!, doc.metadata!.name!, doc.metadata?.namespace);
      if (!exists) await create(client, doc);
    }
    await client.create(RESOURCES.serviceaccounts, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'operator', namespace}});
    const subject = [{kind: 'ServiceAccount', name: 'operator', namespace}];
    await create(client, {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: {name: `superskyray-${namespace}`}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubectl-superskyray-fleet'}, subjects: subject});
    await create(client, {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name: 'superskyray', namespace}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubectl-superskyray-apps'}, subjects: subject});
    await create(client, {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name: `superskyray-${namespace}`, namespace: 'kube-system'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubectl-superskyray-doctor'}, subjects: subject});
    const token = await client.request<{status: {token: string}}>({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/operator/token`,
      body: {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {expirationSeconds: 3600}},
      object: 'a token for operator',
    });
    return token.status.token;
  }

  it('places, spans and shrinks the seed app, and doctor finds every verb allowed', async () => {
    const tokens = {onprem: await bindUser(fleet.cluster('onprem')), cloud: await bindUser(fleet.cluster('cloud'))};
    const config = yaml.load(fs.readFileSync(kubeconfig, 'utf8')) as Kubeconfig;
    config.users = Object.entries(tokens).map(([cluster, token]) => ({name: `${cluster}-operator`, user: {token}}));
    config.contexts = Object.keys(tokens).map((name) => ({name, context: {cluster: config.contexts.find((c) => c.name === name)!.context.cluster, user: `${name}-operator`}}));
    const file = path.join(tempDir(), 'kubeconfig');
    fs.writeFileSync(file, yaml.dump(config), {mode: 0o600});
    const fleetArgs = ['-n', namespace, '--kubeconfig', file, '--context', 'onprem', '--context', 'cloud'];

    const doctor = await cli(['doctor', ...fleetArgs]);
    expect(doctor.stdout).toMatch(/^onprem\s+permissions\s+ok\s/m);
    expect(doctor.stdout).toMatch(/^cloud\s+permissions\s+ok\s/m);
    expect(doctor.code).toBe(0);

    const app = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{template: {spec: {containers: Array<{resources: unknown}>}}}>}}>('raycluster-small.yaml');
    app.metadata.name = 'least';
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
    const manifest = path.join(tempDir(), 'least.yaml');
    fs.writeFileSync(manifest, yaml.dump(app));
    const placed = await cli(['place', '-f', manifest, ...fleetArgs]);
    expect(placed.stderr).toBe('');
    expect(placed.code).toBe(0);
    const onprem = fleet.cluster('onprem');
    await waitFor('least Running on onprem', async () => {
      const pods = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=least'})).items;
      return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running') ? true : undefined;
    });
    const grown = await cli(['scale', 'least', '--replicas', '3', '--skip-capacity-relocate', ...fleetArgs]);
    expect(grown.stderr).toBe('');
    expect(grown.stdout).toContain('grows across clusters');
    expect((await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=least'})).items).toHaveLength(1);
    // Every namespace, with the apps role bound in this one only: what is refused cluster-wide is
    // listed again in the namespaces the tool's objects are in.
    const all = await cli(['status', '-A', '-o', 'json', ...fleetArgs.slice(2)]);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const listed = (JSON.parse(all.stdout) as {groups: Array<{namespace: string; name: string; mode: string; reasons: string[]}>}).groups.filter((g) => g.namespace === namespace);
    expect(listed.map((g) => `${g.name} ${g.mode} ${g.reasons.join('; ')}`)).toEqual(['least spanned ']);
    const shrunk = await cli(['scale', 'least', '--replicas', '2', ...fleetArgs]);
    expect(shrunk.stderr).toBe('');
    expect(shrunk.code).toBe(0);
    const removed = await cli(['delete', 'least', ...fleetArgs]);
    expect(removed.stderr).toBe('');
    expect(removed.code).toBe(0);
  });
});
