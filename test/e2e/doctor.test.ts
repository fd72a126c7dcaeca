import * as fs from 'node:fs';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject} from '../../src/kube/types.js';
import {randomBytes} from 'node:crypto';
import {addCluster, auditLog, removeCluster} from '../support/backend.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';

const kubeconfig = inject('kubeconfig');

interface Kubeconfig {
  clusters: Array<{name: string; cluster: Record<string, unknown>}>;
  users: Array<{name: string; user: Record<string, unknown>}>;
  contexts: Array<{name: string; context: {cluster: string; user: string}}>;
}

type Report = {clusters: Array<{context: string; checks: Array<{check: string; status: string; detail: string}>}>};
const statusOf = (report: Report, context: string, check: string) => report.clusters.find((c) => c.context === context)?.checks.find((k) => k.check === check);

/** The test clusters' kubeconfig with more contexts: `extra` names a cluster of it and a user. */
function kubeconfigWith(extra: Array<{name: string; cluster: string; user?: {name: string; token: string}}>): string {
  const config = yaml.load(fs.readFileSync(kubeconfig, 'utf8')) as Kubeconfig;
  for (const e of extra) {
    if (e.user) config.users.push({name: e.user.name, user: {token: e.user.token}});
    const base = config.contexts.find((c) => c.name === e.cluster)!;
    config.contexts.push({name: e.name, context: {cluster: base.context.cluster, user: e.user?.name ?? base.context.user}});
  }
  const file = path.join(tempDir(), 'kubeconfig');
  fs.writeFileSync(file, yaml.dump(config), {mode: 0o600});
  return file;
}

describe('kubectl superskyray doctor', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'doctor');
  });
  afterAll(async () => {
    await Promise.all(fleet.clusters.map((c) => c.delete(RESOURCES.configmaps, 'cilium-config', 'kube-system').catch(() => undefined)));
    await removeNamespace(fleet, namespace);
  });

  it('is ok on the local clusters where it should be, and warns that Cilium is not there', async () => {
    const result = await cli(['doctor', '-o', 'json', '-n', namespace, '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    for (const context of ['onprem', 'cloud']) {
      for (const check of ['reachable', 'credentials', 'permissions', 'kuberay crds', 'one context per cluster', 'namespace', 'cluster domain', 'pod cidrs', 'network policies', 'remote workers']) {
        expect(statusOf(report, context, check)?.status, `${context} ${check}`).toBe('ok');
      }
      expect(statusOf(report, context, 'cilium cluster mesh')).toMatchObject({status: 'warn', detail: 'no kube-system/cilium-config: Cilium is not installed here'});
    }
    // A fleet on a flat pod network does not need Cilium.
    const flat = await cli(['doctor', '-o', 'json', '-n', namespace, '--mesh', 'endpoints', '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
    expect(flat.code).toBe(0);
    for (const context of ['onprem', 'cloud']) expect(statusOf(JSON.parse(flat.stdout) as Report, context, 'cilium cluster mesh')?.status).toBe('ok');
  });


  it('checks each cluster as span would for the remote workers of the groups that live in another, and says what it lacks', async () => {
    const onprem = fleet.cluster('onprem');
    const priorityClass = `${namespace}-home-only`;
    await onprem.create(RESOURCES.priorityclasses, {apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: priorityClass}, value: 100});
    const rc = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: Record<string, unknown>}}>}}>('raycluster-small.yaml');
    rc.metadata.name = 'needy';
    rc.spec.workerGroupSpecs[0]!.replicas = 0;
    rc.spec.workerGroupSpecs[0]!.template.spec.priorityClassName = priorityClass;
    await onprem.create(RESOURCES.rayclusters, rc, {namespace});
    try {
      const since = new Date().toISOString();
      const result = await cli(['doctor', '-o', 'json', '-n', namespace, '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as Report;
      expect(statusOf(report, 'cloud', 'remote workers')).toMatchObject({
        status: 'warn',
        detail: expect.stringContaining(`raycluster/needy (home onprem): PriorityClass ${priorityClass} is not there in cloud`),
      });
      expect(statusOf(report, 'onprem', 'remote workers')?.status).toBe('ok');
      for (const cluster of ['onprem', 'cloud']) expect(toolRequests(auditLog(cluster), since).writes.filter((w) => !w.uri.includes('/selfsubjectaccessreviews'))).toEqual([]);
    } finally {
      await onprem.delete(RESOURCES.rayclusters, 'needy', namespace);
      await onprem.delete(RESOURCES.priorityclasses, priorityClass);
    }
  });

  it('says which Ray autoscaler each autoscaled RayCluster gets, and warns that one on v1 is never spanned', async () => {
    const onprem = fleet.cluster('onprem');
    const autoscaled = (name: string, options: Record<string, unknown>) => {
      const rc = fixture<KubeObject & {metadata: {name: string}; spec: Record<string, unknown>}>('raycluster-small.yaml');
      rc.metadata.name = name;
      Object.assign(rc.spec, {enableInTreeAutoscaling: true}, options);
      return onprem.create(RESOURCES.rayclusters, rc, {namespace});
    };
    try {
      // The fixture's Ray 2.9.0 defaults to v1.
      await autoscaled('old', {});
      await autoscaled('new', {autoscalerOptions: {version: 'v2'}});
      const result = await cli(['doctor', '-o', 'json', '-n', namespace, '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as Report;
      expect(statusOf(report, 'onprem', 'ray autoscaler')).toEqual({
        check: 'ray autoscaler',
        status: 'warn',
        detail: expect.stringMatching(/^raycluster\/(new|old)\b.*; raycluster\/(new|old)\b/),
        fix: 'set autoscalerOptions.version: v2 (Ray 2.10 or newer) and no RAY_enable_autoscaler_v2 on the head, or turn off in-tree autoscaling',
      });
      // Each group with its Ray version, and the v1 one in span's own words.
      const detail = statusOf(report, 'onprem', 'ray autoscaler')!.detail;
      expect(detail).toContain(
        'raycluster/old runs the Ray autoscaler v1 (Ray 2.9.0 defaults to v1; v2 is the default from Ray 2.48), which matches Ray nodes to pods by IP: it would never scale in a worker spanned to another cluster, so the tool never spans it',
      );
      expect(detail).toContain('raycluster/new (Ray 2.9.0): autoscaler v2 (autoscalerOptions.version is v2)');
      // No RayCluster of the namespace in cloud: nothing to say there.
      expect(statusOf(report, 'cloud', 'ray autoscaler')).toBeUndefined();
    } finally {
      await Promise.all(['old', 'new'].map((name) => onprem.delete(RESOURCES.rayclusters, name, namespace).catch(() => undefined)));
    }
  });

  it('warns about a cluster without the KubeRay CRDs, and fails a fleet in which no cluster has them', async () => {
    // A cluster of its own, started for this test: the shared ones both run KubeRay.
    const name = `bare-${randomBytes(2).toString('hex')}`;
    const bare = await addCluster(name, {kuberay: false, nodes: [{name: 'node', count: 1}]});
    try {
      const mixed = await cli(['doctor', '-o', 'json', '-n', 'default', '--kubeconfig', `${kubeconfig}:${bare}`, '--context', 'onprem', '--context', name]);
      expect(mixed.code).toBe(0);
      const report = JSON.parse(mixed.stdout) as Report;
      expect(statusOf(report, 'onprem', 'kuberay crds')?.status).toBe('ok');
      expect(statusOf(report, name, 'kuberay crds')).toEqual({
        check: 'kuberay crds',
        status: 'warn',
        detail: 'ray.io/v1 is not served: it can take remote workers, never be a home',
        fix: 'install the KubeRay operator here if groups should live here',
      });
      expect(statusOf(report, name, 'reachable')?.status).toBe('ok');

      const alone = await cli(['doctor', '-o', 'json', '-n', 'default', '--kubeconfig', bare, '--context', name]);
      expect(alone.code).toBe(1);
      expect(statusOf(JSON.parse(alone.stdout) as Report, name, 'kuberay crds')).toEqual({
        check: 'kuberay crds',
        status: 'fail',
        detail: 'ray.io/v1 is not served, nor in any other cluster of the fleet: no group can be placed',
        fix: 'install the KubeRay operator in the cluster that should run the Ray apps',
      });
    } finally {
      await removeCluster(name);
    }
  }, 240_000);
  it('fails each cluster of a fleet whose cluster domains differ, naming both domains', async () => {
    // A cluster of its own, whose CoreDNS serves another domain: the shared ones keep theirs.
    const name = `corp-${randomBytes(2).toString('hex')}`;
    const corp = await addCluster(name, {kuberay: false, nodes: [{name: 'node', count: 1}]});
    try {
      await testFleet(corp, [name])
        .cluster(name)
        .create<KubeObject>(RESOURCES.configmaps, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {name: 'coredns', namespace: 'kube-system'},
          data: {Corefile: '.:53 {\n    errors\n    kubernetes corp.example in-addr.arpa ip6.arpa {\n      pods insecure\n    }\n}\n'},
        });
      const since = new Date().toISOString();
      const result = await cli(['doctor', '-o', 'json', '-n', 'default', '--kubeconfig', `${kubeconfig}:${corp}`, '--context', 'onprem', '--context', name]);
      expect(result.code).toBe(1);
      const report = JSON.parse(result.stdout) as Report;
      const why = ": KubeRay renders the head address with the home cluster's domain (<svc>.<ns>.svc.<home domain>), and a remote worker in a cluster of another domain cannot resolve it";
      const fix = "use one cluster domain in every cluster of the fleet (the kubelets' clusterDomain, CoreDNS's kubernetes zone and the KubeRay operator's CLUSTER_DOMAIN), or leave the clusters of another domain out of the fleet";
      expect(statusOf(report, name, 'cluster domain')).toEqual({check: 'cluster domain', status: 'fail', detail: expect.stringMatching(new RegExp(`^corp\\.example, while onprem has cluster\\.local\\b.*${why.replace(/[.()<>]/g, '\\$&')}$`)), fix});
      expect(statusOf(report, 'onprem', 'cluster domain')).toEqual({check: 'cluster domain', status: 'fail', detail: expect.stringMatching(new RegExp(`^cluster\\.local\\b.*, while ${name} has corp\\.example${why.replace(/[.()<>]/g, '\\$&')}$`)), fix});
      // The domains are the only failure: the new cluster's pod CIDRs are its own.
      const failed = report.clusters.flatMap((c) => c.checks.filter((k) => k.status === 'fail').map((k) => `${c.context} ${k.check}`));
      expect(failed.sort()).toEqual([`${name} cluster domain`, 'onprem cluster domain']);
      expect(statusOf(report, name, 'pod cidrs')?.status).toBe('ok');
      // It only read: its access reviews are all it created.
      for (const cluster of [name, 'onprem']) expect(toolRequests(auditLog(cluster), since).writes.filter((w) => !w.uri.includes('/selfsubjectaccessreviews'))).toEqual([]);

      const table = await cli(['doctor', '-n', 'default', '--kubeconfig', `${kubeconfig}:${corp}`, '--context', 'onprem', '--context', name]);
      expect(table.code).toBe(1);
      expect(table.stdout).toMatch(new RegExp(`^${name}\\s+cluster domain\\s+fail\\s+corp\\.example, while onprem has cluster\\.local`, 'm'));
    } finally {
      await removeCluster(name);
    }
  }, 240_000);

  it('fails a context whose token lacks verbs, naming them, and a cluster reached through two contexts', async () => {
    const onprem = fleet.cluster('onprem');
    // A user who may only read pods: a ServiceAccount with a Role that says so, and a token for it.
    await onprem.create(RESOURCES.serviceaccounts, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'reader', namespace}});
    await onprem.create({group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true}, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: {name: 'reader', namespace},
      rules: [{apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch']}],
    });
    await onprem.create({group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true}, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: {name: 'reader', namespace},
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader'},
      subjects: [{kind: 'ServiceAccount', name: 'reader', namespace}],
    });
    const token = await onprem.request<{status: {token: string}}>({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/reader/token`,
      body: {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {expirationSeconds: 600}},
      object: 'a token for reader',
    });
    const file = kubeconfigWith([
      {name: 'reader', cluster: 'onprem', user: {name: 'reader', token: token.status.token}},
      {name: 'onprem-again', cluster: 'onprem'},
    ]);

    const limited = await cli(['doctor', '-o', 'json', '-n', namespace, '--kubeconfig', file, '--context', 'reader']);
    expect(limited.code).toBe(1);
    const limitedReport = JSON.parse(limited.stdout) as Report;
    // What it may not read is said, never taken to be absent.
    expect(statusOf(limitedReport, 'reader', 'credentials')).toMatchObject({status: 'fail', detail: expect.stringContaining('cannot read the kube-system Namespace (forbidden)')});
    expect(statusOf(limitedReport, 'reader', 'one context per cluster')).toMatchObject({status: 'fail', detail: expect.stringContaining('cannot tell')});
    expect(statusOf(limitedReport, 'reader', 'cilium cluster mesh')).toMatchObject({status: 'fail', detail: expect.stringContaining('cannot read kube-system/cilium-config (forbidden)'), fix: expect.stringContaining('kubectl-superskyray-doctor')});
    expect(statusOf(limitedReport, 'reader', 'cluster domain')).toMatchObject({status: 'warn', detail: 'cannot read kube-system/coredns (forbidden); cluster.local is assumed'});
    const permissions = statusOf(limitedReport, 'reader', 'permissions');
    expect(permissions?.status).toBe('fail');
    expect(permissions?.detail).toMatch(/^denied: .*create pods, patch pods, delete pods, patch pods\/status, get services,/);
    expect(permissions?.detail).not.toMatch(/\b(get|list|watch) pods\b/);

    // A bad token: the server answers, and refuses it.
    const forged = kubeconfigWith([{name: 'forged', cluster: 'onprem', user: {name: 'forged', token: 'not-a-token'}}]);
    const refused = JSON.parse((await cli(['doctor', '-o', 'json', '-n', namespace, '--kubeconfig', forged, '--context', 'forged'])).stdout) as Report;
    expect(statusOf(refused, 'forged', 'reachable')?.status).toBe('ok');
    expect(statusOf(refused, 'forged', 'credentials')).toMatchObject({status: 'fail', fix: 'renew the credentials of this context'});

    // A namespace no cluster has.
    const ghost = await cli(['doctor', '-o', 'json', '-n', 'ghost', '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
    expect(ghost.code).toBe(1);
    expect(statusOf(JSON.parse(ghost.stdout) as Report, 'onprem', 'namespace')).toMatchObject({status: 'fail', detail: 'ghost exists in no cluster of the fleet'});

    const twice = await cli(['doctor', '-n', namespace, '--kubeconfig', file, '--context', 'onprem', '--context', 'onprem-again']);
    expect(twice.code).toBe(1);
    expect(twice.stdout).toMatch(/^onprem\s+one context per cluster\s+fail\s+the same cluster as onprem-again /m);
    expect(twice.stdout).toMatch(/^onprem-again\s+one context per cluster\s+fail\s+the same cluster as onprem /m);

    // Every other command refuses such a fleet before any write, with doctor's words.
    const since = new Date().toISOString();
    const app = fileURLToPath(new URL('./fixtures/raycluster-small.yaml', import.meta.url));
    for (const args of [['status'], ['status', 'small'], ['place', '-f', app], ['scale', 'small', '--replicas', '3'], ['span', 'small'], ['delete', 'small'], ['watch', '--once']]) {
      const refused = await cli([...args, '-n', namespace, '--kubeconfig', file, '--context', 'onprem', '--context', 'onprem-again']);
      expect(refused.code, `${args.join(' ')}: ${refused.stderr}`).toBe(2);
      expect(refused.stderr).toMatch(/^error: contexts "onprem" and "onprem-again" reach the same cluster \(kube-system [0-9a-f-]+\); keep one context per cluster in the fleet; "kubectl superskyray doctor" checks this\n$/);
    }
    expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);
  });

  it('fails Cilium Cluster Mesh when two clusters share a cluster id', async () => {
    for (const [context, name] of [['onprem', 'east'], ['cloud', 'west']] as const) {
      await fleet.cluster(context).create<KubeObject>(RESOURCES.configmaps, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {name: 'cilium-config', namespace: 'kube-system'},
        data: {'cluster-name': name, 'cluster-id': '7', 'clustermesh-enable-endpoint-sync': 'true'},
      });
    }
    const result = await cli(['doctor', '-n', namespace, '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^onprem\s+cilium cluster mesh\s+fail\s+cluster-id 7 is also the id of cloud; fix: give each cluster of the mesh a unique cluster\.id$/m);
    expect(result.stdout).toMatch(/^cloud\s+cilium cluster mesh\s+fail\s+cluster-id 7 is also the id of onprem;/m);
  });
});
