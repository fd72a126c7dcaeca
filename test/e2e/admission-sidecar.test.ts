import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES, type ResourceType} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, remoteWorkerOf, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

const POLICIES: ResourceType = {group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingadmissionpolicies', kind: 'MutatingAdmissionPolicy', namespaced: false};
const BINDINGS: ResourceType = {group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingadmissionpolicybindings', kind: 'MutatingAdmissionPolicyBinding', namespaced: false};

type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: Record<string, unknown> & {containers: Array<Record<string, unknown>>}}}>}};

/**
 * A home cluster whose admission injects a mesh sidecar, an annotation and a label into every Ray
 * worker, as Istio's or Vault's injector would (here a MutatingAdmissionPolicy, which the sandbox
 * does not serve): the worker as admitted really differs from its template, and its remote worker
 * is built from the template, not from it.
 */
describe('a worker that admission at home changed', () => {
  let fleet: Fleet;
  let namespace: string;
  let policy: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'inject');
    policy = `${namespace}-sidecar`;
    const onprem = fleet.cluster('onprem');
    await onprem.create(POLICIES, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicy',
      metadata: {name: policy},
      spec: {
        matchConstraints: {
          resourceRules: [{apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods']}],
          namespaceSelector: {matchLabels: {'kubernetes.io/metadata.name': namespace}},
        },
        // Ray workers, not the tool's placeholders.
        matchConditions: [
          {
            name: 'ray-workers',
            expression: "has(object.metadata.labels) && object.metadata.labels.exists(k, k == 'ray.io/node-type') && object.metadata.labels['ray.io/node-type'] == 'worker' && !object.metadata.labels.exists(k, k == 'superskyray.io/role')",
          },
        ],
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        mutations: [
          {
            patchType: 'ApplyConfiguration',
            applyConfiguration: {
              expression:
                'Object{metadata: Object.metadata{annotations: {"mesh.example.com/status": "injected"}, labels: {"mesh.example.com/tls-mode": "mesh"}}, spec: Object.spec{containers: [Object.spec.containers{name: "mesh-proxy", image: "example.com/mesh-proxy:1", resources: Object.spec.containers.resources{requests: {"cpu": "100m", "memory": "64Mi"}}}]}}',
            },
          },
        ],
      },
    });
    await onprem.create(BINDINGS, {apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingAdmissionPolicyBinding', metadata: {name: policy}, spec: {policyName: policy}});
    // The API server applies a policy once its informer has it: until then a worker would be admitted as it is.
    const probe: Pod = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'probe', labels: {'ray.io/node-type': 'worker'}}, spec: {containers: [{name: 'ray-worker', image: 'rayproject/ray:2.9.0'}]}};
    await waitFor('the policy to inject its sidecar', async () => {
      const admitted = await onprem.create<Pod>(RESOURCES.pods, probe, {namespace, dryRun: true});
      return admitted.spec?.containers.some((c) => c.name === 'mesh-proxy') ? true : undefined;
    });
  });
  afterAll(async () => {
    const onprem = fleet.cluster('onprem');
    await onprem.delete(BINDINGS, policy).catch(() => undefined);
    await onprem.delete(POLICIES, policy).catch(() => undefined);
    await removeNamespace(fleet, namespace);
  });

  it("runs in cloud without home's sidecar, annotation and label, and says what it left out", async () => {
    const onprem = fleet.cluster('onprem');
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'meshed';
    const group = app.spec.workerGroupSpecs[0]!;
    group.replicas = 1;
    group.template.spec.containers[0]!.resources = {requests: {cpu: '1', memory: '1Gi'}, limits: {cpu: '1', memory: '1Gi'}};
    group.template.spec.nodeSelector = {'superskyray.io/test-cluster': 'cloud'};
    group.replicas = 0;
    const file = path.join(tempDir(), 'meshed.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    await onprem.patch(RESOURCES.rayclusters, 'meshed', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 1}], 'json');
    const pending = await waitFor('the worker Pending at home', async () => {
      const pods = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=meshed,ray.io/node-type=worker'});
      return pods.items.find((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable'));
    });
    expect(pending.spec?.containers.map((c) => c.name)).toEqual(['ray-worker', 'mesh-proxy']);
    expect(pending.metadata?.annotations?.['mesh.example.com/status']).toBe('injected');
    await waitFor('the head Service', () => onprem.find(RESOURCES.services, 'meshed-head-svc', namespace));

    const dry = await cli(['span', 'raycluster/meshed', '-n', namespace, '--dry-run', ...fleetArgs]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/leaves out container\(s\) mesh-proxy: not in the worker group's template \(injected at home by admission\)/);
    expect(dry.stdout).toMatch(/leaves out label\(s\) mesh.example.com\/tls-mode/);

    const spanned = await cli(['span', 'raycluster/meshed', '-n', namespace, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    const remote = (await waitFor('the remote worker in cloud', () => remoteWorkerOf(onprem, fleet.cluster('cloud'), namespace, pending.metadata!.name!))) as Pod;
    expect(remote.spec?.containers.map((c) => c.name)).toEqual(['ray-worker']);
    expect(remote.metadata?.annotations ?? {}).not.toHaveProperty('mesh.example.com/status');
    expect(remote.metadata?.labels ?? {}).not.toHaveProperty('mesh.example.com/tls-mode');
    await waitFor('the remote worker Running in cloud', async () => ((await fleet.cluster('cloud').get<Pod>(RESOURCES.pods, remote.metadata!.name!, namespace)).status?.phase === 'Running' ? true : undefined));
  });
});
