import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {auditLog} from '../support/backend.js';
import {fixture, freshNamespace, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

function manifestFile(docs: KubeObject[]): string {
  const file = path.join(tempDir(), 'app.yaml');
  fs.writeFileSync(file, docs.map((d) => yaml.dump(d)).join('---\n'));
  return file;
}

async function absent(fleet: Fleet, context: string, type: (typeof RESOURCES)[keyof typeof RESOURCES], name: string, namespace: string): Promise<boolean> {
  return fleet
    .cluster(context)
    .get(type, name, namespace)
    .then(
      () => false,
      (err: {code?: number}) => err.code === 404,
    );
}

describe('kubectl superskyray place', () => {
  let fleet: Fleet;
  let namespace: string;
  const configMap: KubeObject = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'app-code'}, data: {'main.py': 'print(1)'}};

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'place');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('with --dry-run says where it would go and why, and changes nothing', async () => {
    const file = manifestFile([configMap, fixture('raycluster-small.yaml')]);
    const result = await cli(['place', '-f', file, '-n', namespace, '--dry-run', ...fleetArgs]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('raycluster/small would be placed on onprem');
    expect(result.stdout).toContain('onprem is preferred over cloud by fleet priority');
    expect(result.stdout).toMatch(/^raycluster\/small\s+onprem\s+would create$/m);
    expect(await absent(fleet, 'onprem', RESOURCES.rayclusters, 'small', namespace)).toBe(true);
    expect(await absent(fleet, 'onprem', RESOURCES.configmaps, 'app-code', namespace)).toBe(true);
  });

  it('applies the group on its home, labelled and annotated, and records an Event', async () => {
    const file = manifestFile([configMap, fixture('raycluster-small.yaml')]);
    const result = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs, '-o', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.home.context).toBe('onprem');
    expect(doc.objects.map((o: {kind: string; outcome: string}) => `${o.kind}=${o.outcome}`)).toEqual(['ConfigMap=created', 'RayCluster=created']);

    const onprem = fleet.cluster('onprem');
    const ray = await onprem.get<KubeObject>(RESOURCES.rayclusters, 'small', namespace);
    expect(ray.metadata?.labels).toMatchObject({'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': 'small'});
    const policy = JSON.parse(ray.metadata?.annotations?.['superskyray.io/policy'] ?? '{}');
    expect(policy).toMatchObject({relocate: 'if-fits', mesh: 'cilium'});
    expect(policy.fleet).toHaveLength(2);
    expect(JSON.parse(ray.metadata?.annotations?.['superskyray.io/placement'] ?? '{}')).toMatchObject({home: doc.home.clusterId, action: 'place'});
    expect((await onprem.get<KubeObject>(RESOURCES.configmaps, 'app-code', namespace)).metadata?.labels?.['superskyray.io/group']).toBe('small');
    expect(await absent(fleet, 'cloud', RESOURCES.rayclusters, 'small', namespace)).toBe(true);

    const events = await onprem.list<KubeObject & {reason?: string; message?: string}>(RESOURCES.events, {namespace, fieldSelector: 'reason=Placed'});
    expect(events.items.map((e) => e.message)).toEqual([expect.stringContaining('onprem: room for the whole group')]);
  });

  it('run again, makes no write at the API and keeps the group where it is', async () => {
    const since = new Date().toISOString();
    const file = manifestFile([configMap, fixture('raycluster-small.yaml')]);
    const result = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('raycluster/small stays on onprem');
    expect(result.stdout).toMatch(/^configmap\/app-code\s+onprem\s+unchanged$/m);
    expect(result.stdout).toMatch(/^raycluster\/small\s+onprem\s+unchanged$/m);
    for (const cluster of ['onprem', 'cloud']) {
      const requests = toolRequests(auditLog(cluster), since);
      expect(requests.all.length).toBeGreaterThan(0);
      expect(requests.writes).toEqual([]);
    }
  });

  it('run again after scale, keeps what scale set and the policy it was placed with, and says so', async () => {
    const app = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; maxReplicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}}>('raycluster-small.yaml');
    app.metadata.name = 'kept';
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '100m', memory: '128Mi'}, limits: {cpu: '100m', memory: '128Mi'}};
    const file = manifestFile([app]);
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    const scaled = await cli(['scale', 'kept', '--replicas', '6', '-n', namespace, ...fleetArgs]);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stderr).toContain('warning: maxReplicas of worker group cpu is raised from 5 to 6, since --replicas 6 is above it');

    const since = new Date().toISOString();
    const again = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^raycluster\/kept\s+onprem\s+unchanged$/m);
    expect(again.stderr).toContain('warning: worker group cpu keeps replicas 6 as it is live (the manifest says 2); change sizes with "kubectl superskyray scale"');
    expect(again.stderr).toContain('warning: worker group cpu keeps maxReplicas 6 as it is live (the manifest says 5)');
    expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);
    const live = await fleet.cluster('onprem').get<typeof app>(RESOURCES.rayclusters, 'kept', namespace);
    expect([live.spec.workerGroupSpecs[0]!.replicas, live.spec.workerGroupSpecs[0]!.maxReplicas]).toEqual([6, 6]);
    expect(JSON.parse(live.metadata?.annotations?.['superskyray.io/policy'] ?? '{}')).toMatchObject({relocate: 'never', mesh: 'cilium'});

    // A policy change is asked for by name, and said out loud.
    const moved = await cli(['place', '-f', file, '-n', namespace, '--no-skip-capacity-relocate', '--mesh', 'endpoints', ...fleetArgs]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stderr).toContain("warning: the group's relocate policy changes from never to if-fits");
    expect(moved.stderr).toContain("warning: the group's mesh mode changes from cilium to endpoints");
    const after = await fleet.cluster('onprem').get<typeof app>(RESOURCES.rayclusters, 'kept', namespace);
    expect(JSON.parse(after.metadata?.annotations?.['superskyray.io/policy'] ?? '{}')).toMatchObject({relocate: 'if-fits', mesh: 'endpoints'});
    expect(after.spec.workerGroupSpecs[0]!.replicas).toBe(6);
    // Its room is the next tests' to use.
    expect((await cli(['delete', 'kept', '-n', namespace, ...fleetArgs])).code).toBe(0);
  });

  it('places a group that does not fit the preferred cluster on the next one that fits it whole', async () => {
    const big = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number}>}}>('raycluster-small.yaml');
    big.metadata.name = 'wide';
    big.spec.workerGroupSpecs[0]!.replicas = 5; // 1 + 5 x 2 cpu: more than onprem's 8, within cloud's 2 x 8
    const result = await cli(['place', '-f', manifestFile([big]), '-n', namespace, ...fleetArgs, '-o', 'wide']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('raycluster/wide placed on cloud');
    expect(result.stdout).toMatch(/onprem: no room for (\d+ of )?5 workers of group cpu \(onprem\/onprem-node-0: needs cpu 2, free \d+m?\)/);
    expect(await absent(fleet, 'cloud', RESOURCES.rayclusters, 'wide', namespace)).toBe(false);
    // Its room in cloud is the next test's to use.
    expect((await cli(['delete', 'wide', '-n', namespace, ...fleetArgs])).code).toBe(0);
    await waitFor('wide\'s pods gone from cloud', async () => ((await fleet.cluster('cloud').list(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=wide'})).items.length === 0 ? true : undefined));
  });

  it('says why the home is not the preferred cluster when the namespace is missing there', async () => {
    const only = `${namespace}-onprem`;
    await fleet.cluster('onprem').create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: only}});
    try {
      const big = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number}>}}>('raycluster-small.yaml');
      big.metadata.name = 'roomy';
      big.spec.workerGroupSpecs[0]!.replicas = 5;
      const result = await cli(['place', '-f', manifestFile([big]), '-n', only, ...fleetArgs]);
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`^error: namespace "${only}" does not exist in context "cloud", which is to be the home because onprem: no room for (\\d+ of )?5 workers of group cpu \\(onprem/onprem-node-0: needs cpu 2, free \\d+m?\\); create it`));
    } finally {
      await fleet.cluster('onprem').delete(RESOURCES.namespaces, only);
    }
  });

  it.each([
    {name: 'a manifest with something other than a Ray app', docs: [{apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'web'}}], message: /document 1: kind "Deployment" is not part of a Ray app group/},
    {name: 'a namespace that does not exist', docs: 'missing-namespace', message: /namespace "no-such-ns" does not exist in context "(onprem|cloud)"(, which is to be the home because .*)?; create it/},
  ])('rejects $name with exit 2 and changes nothing', async ({docs, message}) => {
    const small = fixture<KubeObject & {metadata: {name: string}}>('raycluster-small.yaml');
    small.metadata.name = 'rejected';
    const file = manifestFile(docs === 'missing-namespace' ? [small] : (docs as KubeObject[]));
    const ns = docs === 'missing-namespace' ? 'no-such-ns' : namespace;
    const result = await cli(['place', '-f', file, '-n', ns, ...fleetArgs]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(await absent(fleet, 'onprem', RESOURCES.rayclusters, 'rejected', namespace)).toBe(true);
  });
});
