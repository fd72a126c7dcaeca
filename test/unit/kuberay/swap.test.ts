import * as fs from 'node:fs';
import {describe, expect, it} from 'vitest';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {
  ciliumHeadServiceCopy,
  closeCopyPatch,
  exposedCopy,
  copyUpdatePatch,
  dependencyCopy,
  endpointSliceAddress,
  endpointsHeadServiceCopy,
  headEndpointSlice,
  isInSwap,
  lockPatch,
  isMarkedFailed,
  lockStatusPatch,
  placeholderName,
  placeholderPod,
  podReferences,
  remoteReadyOf,
  remoteReadyPatch,
  remoteWorker,
  remoteWorkerPod,
  swapTargetOf,
  unlockPatch,
  type WorkerGroupTemplate,
} from '../../../src/kuberay/swap.js';

/** A Pending worker and a head Service as the real KubeRay v1.5 operator made them in the test clusters. */
const read = <T>(file: string): T => JSON.parse(fs.readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')) as T;
const pending = read<Pod>('pending-worker.json');
const headService = read<KubeObject>('head-service.json');

/** The gpu group of the RayCluster that made the fixture's Pending worker, as the user wrote it. */
const gpuGroup: WorkerGroupTemplate = {
  groupName: 'gpu',
  template: {
    spec: {
      containers: [{name: 'ray-worker', image: 'rayproject/ray:2.9.0', resources: {limits: {cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '2'}, requests: {cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '2'}}, volumeMounts: [{mountPath: '/code', name: 'code'}]}],
      volumes: [{name: 'code', configMap: {name: 'app-code'}}],
    },
  },
};

const ctx = {group: 'gpu-app', homeClusterId: 'home-uid', remoteClusterId: 'remote-uid', rayCluster: {name: 'gpu-app', uid: 'rc-uid'}};

describe('placeholderName', () => {
  it('adds five characters of the Kubernetes suffix alphabet to the generateName', () => {
    const sequence = [0, 0.5, 0.99, 0.1, 0.3];
    let i = 0;
    expect(placeholderName('gpu-app-gpu-worker-', () => sequence[i++]!)).toBe('gpu-app-gpu-worker-br9dl');
  });
});

describe('placeholderPod', () => {
  const placeholder = placeholderPod(pending, 'gpu-app-gpu-worker-bq9dl', ctx, 'onprem-pool-0');

  it('carries the labels KubeRay counts by, and the tool labels', () => {
    expect(placeholder.metadata?.labels).toEqual({
      'ray.io/cluster': 'gpu-app',
      'ray.io/group': 'gpu',
      'ray.io/node-type': 'worker',
      'ray.io/is-ray-node': 'yes',
      'superskyray.io/managed-by': 'kubectl-superskyray',
      'superskyray.io/group': 'gpu-app',
      'superskyray.io/role': 'placeholder',
      'superskyray.io/home-cluster': 'home-uid',
    });
  });

  it('is controlled by the RayCluster, as the Pending worker was, so that KubeRay reconciles on its events, without blocking its deletion (which needs rayclusters/finalizers)', () => {
    expect(placeholder.metadata?.ownerReferences).toEqual([{apiVersion: 'ray.io/v1', kind: 'RayCluster', name: 'gpu-app', uid: 'rc-uid', controller: true}]);
  });

  it('is bound to the node given, never queued for the scheduler, and gated on its remote worker being Ready', () => {
    expect(placeholder.spec?.nodeName).toBe('onprem-pool-0');
    expect(placeholder.spec?.readinessGates).toEqual([{conditionType: 'superskyray.io/remote-worker-ready'}]);
  });

  it('says which pod it replaces and where its worker runs, and asks node autoscalers not to move it', () => {
    expect(placeholder.metadata?.annotations).toEqual({
      'superskyray.io/replaces': pending.metadata?.name,
      'superskyray.io/remote-cluster': 'remote-uid',
      'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
      'karpenter.sh/do-not-disrupt': 'true',
    });
    expect(placeholder.metadata?.namespace).toBe(pending.metadata?.namespace);
  });

  it('is one tiny restricted container that never exits', () => {
    expect(placeholder.spec?.restartPolicy).toBe('Always');
    expect(placeholder.spec?.containers).toHaveLength(1);
    expect(placeholder.spec?.containers[0]).toMatchObject({
      image: 'registry.k8s.io/pause:3.10',
      resources: {requests: {cpu: '1m', memory: '4Mi'}},
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: ['ALL']}},
    });
    expect(placeholder.spec?.securityContext).toEqual({runAsNonRoot: true, seccompProfile: {type: 'RuntimeDefault'}});
  });

  it('records the digest of the template its remote worker is built from, when given', () => {
    expect(placeholderPod(pending, 'p', ctx, 'n', undefined, 'abc123').metadata?.annotations?.['superskyray.io/template']).toBe('abc123');
  });

  it('runs the image given, for registries an air-gapped cluster can pull from', () => {
    expect(placeholderPod(pending, 'p', ctx, 'n', 'registry.internal/pause:3.10').spec?.containers[0]?.image).toBe('registry.internal/pause:3.10');
  });

});

describe('the lock of a swap', () => {
  const target = {name: 'gpu-app-gpu-worker-bq9dl', cluster: 'remote-uid'};

  it('first adds our finalizer and the target, only if the pod is as observed', () => {
    expect(lockPatch(target, '42')).toEqual({
      metadata: {resourceVersion: '42', finalizers: ['superskyray.io/swap'], annotations: {'superskyray.io/swap-to': 'gpu-app-gpu-worker-bq9dl@remote-uid'}},
    });
  });

  it('then marks the pod Failed through its status, again only as observed', () => {
    expect(lockStatusPatch(target, '43')).toEqual({metadata: {resourceVersion: '43'}, status: {phase: 'Failed', reason: 'Spanned', message: expect.stringContaining(target.name)}});
  });

  it('is undone by taking off only our finalizer and the target', () => {
    expect(unlockPatch()).toEqual({metadata: {'$deleteFromPrimitiveList/finalizers': ['superskyray.io/swap'], annotations: {'superskyray.io/swap-to': null}}});
  });

  it.each([
    ['gpu-app-gpu-worker-bq9dl@remote-uid', target],
    ['name@with@at', {name: 'name@with', cluster: 'at'}],
    ['@remote-uid', undefined],
    ['no-cluster@', undefined],
    ['no-at', undefined],
  ])('reads the target %s', (value, want) => {
    expect(swapTargetOf({metadata: {annotations: {'superskyray.io/swap-to': value}}})).toEqual(want);
  });

  it.each([
    ['locked and marked for this target', ['superskyray.io/swap'], {phase: 'Failed', reason: 'Spanned', message: `runs in another cluster as ${target.name}`}, true],
    ['marked for another target', ['superskyray.io/swap'], {phase: 'Failed', reason: 'Spanned', message: 'runs in another cluster as other'}, false],
    ['marked, but not locked (unlocked since)', [], {phase: 'Failed', reason: 'Spanned', message: `runs in another cluster as ${target.name}`}, false],
    ['locked, still Pending', ['superskyray.io/swap'], {phase: 'Pending'}, false],
  ])('tells whether the second write of the lock is on the pod: %s', (_what, finalizers, status, want) => {
    expect(isMarkedFailed({metadata: {finalizers}, status}, target)).toBe(want);
  });

  it('marks a pod as in a swap by our finalizer or our target, either alone', () => {
    expect(isInSwap({metadata: {finalizers: ['other', 'superskyray.io/swap']}})).toBe(true);
    expect(isInSwap({metadata: {annotations: {'superskyray.io/swap-to': 'a@b'}}})).toBe(true);
    expect(isInSwap({metadata: {finalizers: ['other'], annotations: {other: 'x'}}})).toBe(false);
  });

  it('leaves the finalizer and the target out of the remote worker', () => {
    const locked: Pod = {...pending, metadata: {...pending.metadata, finalizers: ['superskyray.io/swap'], annotations: {...pending.metadata?.annotations, 'superskyray.io/swap-to': 'x@y'}}};
    const remote = remoteWorkerPod(locked, gpuGroup, target.name, ctx);
    expect(remote.metadata?.annotations ?? {}).not.toHaveProperty('superskyray.io/swap-to');
    expect(remote.metadata).not.toHaveProperty('finalizers');
  });
});

describe('the readiness gate of a placeholder', () => {
  it('is a condition of its own, merged by type into the status', () => {
    expect(remoteReadyPatch(true, 'remote worker x is Ready', '2026-01-01T00:00:00Z')).toEqual({
      status: {conditions: [{type: 'superskyray.io/remote-worker-ready', status: 'True', reason: 'RemoteWorkerReady', message: 'remote worker x is Ready', lastTransitionTime: '2026-01-01T00:00:00Z'}]},
    });
    expect(remoteReadyPatch(false, 'not', 'now')).toMatchObject({status: {conditions: [{status: 'False', reason: 'RemoteWorkerNotReady'}]}});
  });

  it('reads as true, false, or not yet written', () => {
    const withGate = (status: string): Pod => ({status: {conditions: [{type: 'Ready', status: 'True'}, {type: 'superskyray.io/remote-worker-ready', status}]}});
    expect(remoteReadyOf(withGate('True'))).toBe(true);
    expect(remoteReadyOf(withGate('False'))).toBe(false);
    expect(remoteReadyOf({status: {conditions: [{type: 'Ready', status: 'True'}]}})).toBeUndefined();
  });
});

describe('remoteWorkerPod', () => {
  const remote = remoteWorkerPod(pending, gpuGroup, 'gpu-app-gpu-worker-bq9dl', ctx);

  it("takes the placeholder's name and keeps nothing of the home cluster's identity", () => {
    expect(remote.metadata?.name).toBe('gpu-app-gpu-worker-bq9dl');
    for (const field of ['uid', 'resourceVersion', 'ownerReferences', 'managedFields', 'creationTimestamp', 'generateName', 'generation']) {
      expect(remote.metadata).not.toHaveProperty(field);
    }
    expect(remote).not.toHaveProperty('status');
    expect(remote.spec).not.toHaveProperty('nodeName');
    expect(remote.spec).not.toHaveProperty('priority');
  });

  it('keeps the ray.io labels its env reads, and adds the tool labels', () => {
    expect(remote.metadata?.labels).toMatchObject({
      'ray.io/cluster': 'gpu-app',
      'ray.io/group': 'gpu',
      'ray.io/node-type': 'worker',
      'ray.io/identifier': 'gpu-app-worker',
      'superskyray.io/role': 'remote-worker',
      'superskyray.io/home-cluster': 'home-uid',
      'superskyray.io/raycluster-uid': 'rc-uid',
    });
  });

  it('drops the projected service-account token volume and its mounts, keeping the others', () => {
    const names = (remote.spec?.volumes as Array<{name: string}>).map((v) => v.name);
    expect(names).toEqual(['code', 'shared-mem']);
    for (const container of [...(remote.spec?.initContainers ?? []), ...(remote.spec?.containers ?? [])]) {
      const mounts = (container.volumeMounts as Array<{name: string}> | undefined) ?? [];
      expect(mounts.map((m) => m.name).filter((n) => n.startsWith('kube-api-access'))).toEqual([]);
    }
  });

  it("keeps the generated containers and their requests, env included", () => {
    expect(remote.spec?.containers.map((c) => c.name)).toEqual(pending.spec?.containers.map((c) => c.name));
    expect(remote.spec?.containers[0]?.resources).toEqual(pending.spec?.containers[0]?.resources);
    expect(JSON.stringify(remote.spec?.containers[0]?.env)).toContain('fieldPath');
  });

  it('leaves nothing out of a worker that admission did not change, and says nothing', () => {
    expect(remoteWorker(pending, gpuGroup).leftOut).toEqual([]);
    expect(remote.spec?.initContainers?.map((c) => c.name)).toEqual(['wait-gcs-ready']);
  });

  it('leaves the Pending pod as it was', () => {
    const before = structuredClone(pending);
    remoteWorkerPod(pending, gpuGroup, 'another', ctx);
    expect(pending).toEqual(before);
  });
});

/** The fixture's Pending worker, changed as one admission plugin or webhook of the home cluster changes it. */
function admitted(change: (pod: Pod) => void): Pod {
  const pod = structuredClone(pending);
  change(pod);
  return pod;
}

describe('remoteWorker: what admission at home added stays there', () => {
  const built = (pod: Pod, group = gpuGroup) => remoteWorker(pod, group);
  const names = (list: Array<{name: string}> | undefined) => (list ?? []).map((c) => c.name);

  it("leaves out Istio's sidecar, its volumes, its status annotation and its labels, and restores a probe it rewrote", () => {
    const group: WorkerGroupTemplate = structuredClone(gpuGroup);
    group.template!.spec!.containers[0]!.readinessProbe = {httpGet: {path: '/ready', port: 8080}};
    group.template!.metadata = {annotations: {'sidecar.istio.io/inject': 'true'}};
    const pod = admitted((p) => {
      p.spec!.containers[0]!.readinessProbe = {httpGet: {path: '/app-health/ray-worker/readyz', port: 15020}};
      p.spec!.containers.push({name: 'istio-proxy', image: 'istio/proxyv2', volumeMounts: [{name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio'}, {name: 'istio-envoy', mountPath: '/etc/istio/proxy'}]});
      (p.spec!.volumes as unknown[]).push({name: 'istiod-ca-cert', configMap: {name: 'istio-ca-root-cert'}}, {name: 'istio-envoy', emptyDir: {medium: 'Memory'}}, {name: 'istio-token', projected: {sources: [{serviceAccountToken: {audience: 'istio-ca', path: 'istio-token'}}]}});
      p.metadata!.annotations = {'sidecar.istio.io/inject': 'true', 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}'};
      p.metadata!.labels = {...p.metadata!.labels, 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': 'gpu-app'};
    });
    const worker = built(pod, group);
    expect(names(worker.spec.containers)).toEqual(['ray-worker']);
    expect(names(worker.spec.volumes as Array<{name: string}>)).toEqual(['code', 'shared-mem', 'istio-envoy']);
    expect(worker.spec.containers[0]!.readinessProbe).toEqual({httpGet: {path: '/ready', port: 8080}});
    expect(worker.annotations).toEqual({'sidecar.istio.io/inject': 'true'});
    expect(worker.labels).not.toHaveProperty('security.istio.io/tlsMode');
    expect(worker.labels).toMatchObject({'ray.io/group': 'gpu', 'app.kubernetes.io/created-by': 'kuberay-operator'});
    expect(worker.leftOut).toEqual([
      'volume(s) istiod-ca-cert: not in the worker group\'s template (added at home by admission)',
      "container(s) istio-proxy: not in the worker group's template (injected at home by admission)",
      'label(s) security.istio.io/tlsMode, service.istio.io/canonical-name: not in the template (set at home by admission or a batch scheduler)',
      'annotation(s) sidecar.istio.io/status: not in the template (set at home by admission or a batch scheduler)',
    ]);
    // The copies follow the pod: a home-only CA ConfigMap is never asked of the remote cluster.
    expect(podReferences(worker.spec).configMaps).toEqual(['app-code']);
  });

  it("leaves out init containers admission added, native sidecars included, and keeps KubeRay's GCS wait", () => {
    const pod = admitted((p) => {
      p.spec!.initContainers!.unshift({name: 'vault-agent-init', image: 'hashicorp/vault'});
      p.spec!.initContainers!.push({name: 'istio-proxy', image: 'istio/proxyv2', restartPolicy: 'Always'});
    });
    const worker = built(pod);
    expect(names(worker.spec.initContainers)).toEqual(['wait-gcs-ready']);
    expect(worker.leftOut).toEqual(["init container(s) vault-agent-init, istio-proxy: not in the worker group's template (injected at home by admission)"]);
  });

  it("takes the template's init containers, and its own securityContexts rather than the UIDs and SELinux labels of OpenShift's SCC", () => {
    const group: WorkerGroupTemplate = structuredClone(gpuGroup);
    group.template!.spec!.initContainers = [{name: 'fetch-model', image: 'busybox'}];
    group.template!.spec!.containers[0]!.securityContext = {allowPrivilegeEscalation: false};
    const pod = admitted((p) => {
      p.spec!.initContainers!.unshift({name: 'fetch-model', image: 'busybox', securityContext: {runAsUser: 1000680000}});
      p.spec!.securityContext = {fsGroup: 1000680000, seLinuxOptions: {level: 's0:c26,c15'}};
      p.spec!.containers[0]!.securityContext = {allowPrivilegeEscalation: false, runAsUser: 1000680000};
      p.spec!.initContainers![1]!.securityContext = {allowPrivilegeEscalation: false, runAsUser: 1000680000};
      p.metadata!.annotations = {'openshift.io/scc': 'restricted-v2'};
    });
    const worker = built(pod, group);
    expect(worker.spec).not.toHaveProperty('securityContext');
    expect(worker.spec.containers[0]!.securityContext).toEqual({allowPrivilegeEscalation: false});
    expect(names(worker.spec.initContainers)).toEqual(['fetch-model', 'wait-gcs-ready']);
    expect(worker.spec.initContainers![0]).not.toHaveProperty('securityContext');
    // KubeRay gives its GCS wait the Ray container's securityContext.
    expect(worker.spec.initContainers![1]!.securityContext).toEqual({allowPrivilegeEscalation: false});
    expect(worker.annotations).toEqual({});
    expect(worker.leftOut[0]).toBe('securityContext {"fsGroup":1000680000,"seLinuxOptions":{"level":"s0:c26,c15"}}, set at home: the template sets none, so the remote cluster decides');
  });

  it("leaves out the Multus networks a webhook added, and keeps those the template asks for", () => {
    const withNetworks: WorkerGroupTemplate = {...gpuGroup, template: {...gpuGroup.template, metadata: {annotations: {'k8s.v1.cni.cncf.io/networks': 'rdma-net'}}}};
    const pod = admitted((p) => {
      p.metadata!.annotations = {'k8s.v1.cni.cncf.io/networks': 'rdma-net'};
    });
    expect(built(pod, withNetworks).annotations).toEqual({'k8s.v1.cni.cncf.io/networks': 'rdma-net'});
    expect(built(pod).annotations).toEqual({});
    expect(built(pod).leftOut).toEqual(['annotation(s) k8s.v1.cni.cncf.io/networks: not in the template (set at home by admission or a batch scheduler)']);
  });

  it.each([
    ['a default PriorityClass', (p: Pod) => Object.assign(p.spec!, {priorityClassName: 'team-default', priority: 1000}), 'priorityClassName "team-default", set at home: the template sets none, so the remote cluster decides'],
    ["a project's node selector", (p: Pod) => Object.assign(p.spec!, {nodeSelector: {'node-role.kubernetes.io/app': ''}}), 'nodeSelector {"node-role.kubernetes.io/app":""}, set at home: the template sets none, so the remote cluster decides'],
    ["KubeRay's batch scheduler, with its gang's annotation and queue label", (p: Pod) => {
      Object.assign(p.spec!, {schedulerName: 'volcano'});
      p.metadata!.annotations = {'scheduling.k8s.io/group-name': 'ray-gpu-app-pg'};
      p.metadata!.labels!['volcano.sh/queue-name'] = 'default';
    }, 'schedulerName "volcano", set at home: the template sets none, so the remote cluster decides'],
  ])('leaves %s to the remote cluster', (_, change, note) => {
    const worker = built(admitted(change));
    expect(worker.leftOut[0]).toBe(note);
    for (const field of ['priorityClassName', 'priority', 'preemptionPolicy', 'nodeSelector', 'schedulerName']) expect(worker.spec).not.toHaveProperty(field);
    expect(worker.labels).not.toHaveProperty('volcano.sh/queue-name');
    expect(worker.annotations).toEqual({});
  });

  it("keeps what the template asks for: its PriorityClass, RuntimeClass, scheduler and node selector, without the values home's admission derived from them", () => {
    const group: WorkerGroupTemplate = structuredClone(gpuGroup);
    Object.assign(group.template!.spec!, {priorityClassName: 'batch-high', runtimeClassName: 'nvidia', schedulerName: 'default-scheduler', nodeSelector: {gpu: 'a100'}});
    const pod = admitted((p) => Object.assign(p.spec!, {priorityClassName: 'batch-high', priority: 100000, preemptionPolicy: 'Never', runtimeClassName: 'nvidia', overhead: {cpu: '250m'}, schedulerName: 'default-scheduler', nodeSelector: {gpu: 'a100'}}));
    const worker = built(pod, group);
    expect(worker.spec).toMatchObject({priorityClassName: 'batch-high', runtimeClassName: 'nvidia', schedulerName: 'default-scheduler', nodeSelector: {gpu: 'a100'}});
    for (const field of ['priority', 'preemptionPolicy', 'overhead', 'nodeName', 'serviceAccount']) expect(worker.spec).not.toHaveProperty(field);
    expect(worker.leftOut).toEqual([]);
  });

  it('mounts the claim --claim names in place of a home one, and says so; a claim it does not name stays for the preflight to refuse', () => {
    const pod = admitted((p) => {
      (p.spec!.volumes as unknown[]).push({name: 'data', persistentVolumeClaim: {claimName: 'datasets'}}, {name: 'scratch', persistentVolumeClaim: {claimName: 'scratch'}});
    });
    const group: WorkerGroupTemplate = structuredClone(gpuGroup);
    group.template!.spec!.volumes = [...(group.template!.spec!.volumes as unknown[]), {name: 'data', persistentVolumeClaim: {claimName: 'datasets'}}, {name: 'scratch', persistentVolumeClaim: {claimName: 'scratch'}}];
    const worker = remoteWorker(pod, group, {datasets: 'datasets-replica'});
    expect(worker.spec.volumes).toContainEqual({name: 'data', persistentVolumeClaim: {claimName: 'datasets-replica'}});
    expect(worker.spec.volumes).toContainEqual({name: 'scratch', persistentVolumeClaim: {claimName: 'scratch'}});
    expect(worker.leftOut).toEqual(['claim datasets of volume data: it mounts datasets-replica there instead (--claim)']);
  });

  it('keeps the labels the worker group sets at its top level, as KubeRay merges them', () => {
    const group: WorkerGroupTemplate = {...gpuGroup, labels: {team: 'vision'}};
    const worker = built(admitted((p) => (p.metadata!.labels!.team = 'vision')), group);
    expect(worker.labels.team).toBe('vision');
    expect(worker.leftOut).toEqual([]);
  });
});

describe('ciliumHeadServiceCopy', () => {
  const copy = ciliumHeadServiceCopy(headService as KubeObject & {spec?: Record<string, unknown>}, ctx);
  it('is global, shares no endpoints of its own, and keeps name, ports and headlessness', () => {
    expect(copy.metadata).toMatchObject({
      name: 'gpu-app-head-svc',
      namespace: headService.metadata?.namespace,
      annotations: {'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'},
      labels: {'superskyray.io/role': 'head-service-copy', 'superskyray.io/home-cluster': 'home-uid', 'superskyray.io/raycluster-uid': 'rc-uid'},
    });
    const spec = copy.spec as Record<string, unknown>;
    expect(spec.clusterIP).toBe('None');
    expect(spec.ports).toEqual((headService.spec as Record<string, unknown>).ports);
    expect(spec).not.toHaveProperty('clusterIPs');
  });
});

describe('a head Service that is not ClusterIP at home', () => {
  const loadBalancer = {
    ...headService,
    metadata: {...headService.metadata, annotations: {'service.beta.kubernetes.io/aws-load-balancer-internal': 'true'}},
    spec: {...(headService.spec as Record<string, unknown>), type: 'LoadBalancer', clusterIP: '10.64.0.9', externalTrafficPolicy: 'Local', ports: [{name: 'gcs-server', port: 6379, targetPort: 6379, nodePort: 31234, protocol: 'TCP', appProtocol: 'tcp'}]},
  } as KubeObject & {spec?: Record<string, unknown>};

  it('is copied as ClusterIP, its ports without node ports, none of its annotations', () => {
    const copy = ciliumHeadServiceCopy(loadBalancer, ctx) as KubeObject & {spec: Record<string, unknown>};
    expect(copy.spec).toEqual({type: 'ClusterIP', ports: [{name: 'gcs-server', port: 6379, targetPort: 6379, protocol: 'TCP', appProtocol: 'tcp'}], selector: (headService.spec as Record<string, unknown>).selector, publishNotReadyAddresses: (headService.spec as Record<string, unknown>).publishNotReadyAddresses});
    expect(copy.metadata?.annotations).toEqual({'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'});
    expect(exposedCopy(copy)).toBeUndefined();
  });

  it('makes a copy an older version exposed ClusterIP again, only if it is still as observed', () => {
    const old = {...loadBalancer, metadata: {...loadBalancer.metadata, resourceVersion: '77'}};
    expect(exposedCopy(old)).toBe('it is a LoadBalancer Service');
    expect(exposedCopy({spec: {type: 'ClusterIP', ports: [{port: 1, nodePort: 30001}]}})).toBe('it has node ports');
    expect(closeCopyPatch(old)).toEqual({
      metadata: {resourceVersion: '77'},
      spec: {type: 'ClusterIP', ports: [{name: 'gcs-server', port: 6379, targetPort: 6379, protocol: 'TCP', appProtocol: 'tcp'}], externalTrafficPolicy: null, allocateLoadBalancerNodePorts: null, loadBalancerClass: null, loadBalancerSourceRanges: null, healthCheckNodePort: null},
    });
  });
});

describe('mesh mode endpoints: a selectorless head-Service copy and its EndpointSlice', () => {
  const head = headService as KubeObject & {spec?: Record<string, unknown>};
  it('keeps name, ports and headlessness, but has no selector and no Cilium annotations', () => {
    const copy = endpointsHeadServiceCopy(head, ctx);
    const spec = copy.spec as Record<string, unknown>;
    expect(copy.metadata?.name).toBe('gpu-app-head-svc');
    expect(copy.metadata?.annotations).toEqual({});
    expect(spec).not.toHaveProperty('selector');
    expect(spec.clusterIP).toBe('None');
    expect(spec.ports).toEqual((headService.spec as Record<string, unknown>).ports);
  });

  it('points the slice at the head pod, on the ports the head listens on, tied to the copy by name', () => {
    const slice = headEndpointSlice(head, '10.1.0.7', ctx) as KubeObject & {addressType: string; ports: Array<{name?: string; port: number; protocol: string}>};
    expect(slice.metadata?.labels).toMatchObject({
      'kubernetes.io/service-name': 'gpu-app-head-svc',
      'endpointslice.kubernetes.io/managed-by': 'kubectl-superskyray',
      'superskyray.io/role': 'head-service-copy',
    });
    expect(slice.addressType).toBe('IPv4');
    expect(endpointSliceAddress(slice)).toBe('10.1.0.7');
    expect(slice.ports).toEqual([
      {name: 'client', port: 10001, protocol: 'TCP'},
      {name: 'dashboard', port: 8265, protocol: 'TCP'},
      {name: 'gcs-server', port: 6379, protocol: 'TCP'},
      {name: 'metrics', port: 8080, protocol: 'TCP'},
      {name: 'serve', port: 8000, protocol: 'TCP'},
    ]);
    const named = {...head, spec: {...head.spec, ports: [{name: 'gcs-server', port: 6379, targetPort: 'gcs'}]}};
    expect((headEndpointSlice(named, '10.1.0.7', ctx) as {ports: unknown}).ports).toEqual([{name: 'gcs-server', port: 6379, protocol: 'TCP'}]);
    expect((headEndpointSlice(head, 'fd00::7', ctx) as {addressType: string}).addressType).toBe('IPv6');
  });
});

describe('podReferences', () => {
  it('finds what the real Pending worker needs: its ConfigMap and ServiceAccount, not the root CA', () => {
    expect(podReferences(pending.spec!)).toEqual({configMaps: ['app-code'], secrets: [], serviceAccount: 'default'});
  });

  it.each([
    {
      name: 'env, envFrom, projected and pull secrets',
      spec: {
        serviceAccountName: 'ray',
        imagePullSecrets: [{name: 'registry'}],
        volumes: [{name: 'p', projected: {sources: [{configMap: {name: 'cm-projected'}}, {secret: {name: 's-projected'}}]}}, {name: 's', secret: {secretName: 's-volume'}}],
        containers: [
          {name: 'a', envFrom: [{configMapRef: {name: 'cm-from'}}, {secretRef: {name: 's-from'}}], env: [{name: 'X', valueFrom: {configMapKeyRef: {name: 'cm-key', key: 'k'}}}]},
        ],
        initContainers: [{name: 'i', env: [{name: 'Y', valueFrom: {secretKeyRef: {name: 's-key', key: 'k'}}}]}],
      },
      want: {configMaps: ['cm-from', 'cm-key', 'cm-projected'], secrets: ['registry', 's-from', 's-key', 's-projected', 's-volume'], serviceAccount: 'ray'},
    },
  ])('$name', ({spec, want}) => {
    expect(podReferences(spec)).toEqual(want);
  });
});

describe('dependency copies follow their source', () => {
  const source: KubeObject & {data?: Record<string, string>} = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {name: 'settings', namespace: 'ml', uid: 'home-cm', resourceVersion: '41', labels: {app: 'ray'}, annotations: {'kubectl.kubernetes.io/last-applied-configuration': '{}'}, managedFields: []},
    data: {MODE: 'a', LEVEL: '1'},
  };
  const copy = dependencyCopy(source, ctx);

  it("is the source's content and labels under the tool's labels, recording the version it was made from", () => {
    expect(copy).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'settings',
        namespace: 'ml',
        labels: {app: 'ray', 'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': 'gpu-app', 'superskyray.io/role': 'dependency-copy', 'superskyray.io/home-cluster': 'home-uid'},
        annotations: {'superskyray.io/source-resource-version': '41'},
      },
      data: {MODE: 'a', LEVEL: '1'},
    });
  });

  it('leaves out what belongs to the home cluster: a ServiceAccount\'s token Secrets, status', () => {
    const account = dependencyCopy({apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'ray', resourceVersion: '3'}, secrets: [{name: 'ray-token-x'}], imagePullSecrets: [{name: 'pull'}]} as KubeObject, ctx);
    expect(account).not.toHaveProperty('secrets');
    expect(account).toHaveProperty('imagePullSecrets', [{name: 'pull'}]);
  });

  it("keeps a ServiceAccount's identity binding (IRSA, Workload Identity), but not the home object's last kubectl apply", () => {
    const account = dependencyCopy(
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: {name: 'ray', resourceVersion: '3', annotations: {'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/ray', 'kubectl.kubernetes.io/last-applied-configuration': '{}'}},
      } as KubeObject,
      ctx,
    );
    expect(account.metadata?.annotations).toEqual({'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/ray', 'superskyray.io/source-resource-version': '3'});
  });

  it('is updated by a patch that holds only if the copy is still as observed, and removes the keys the source lost', () => {
    const live = {...copy, metadata: {...copy.metadata, resourceVersion: '900', uid: 'remote-cm'}};
    const edited = {...source, metadata: {...source.metadata, resourceVersion: '57'}, data: {MODE: 'b', EXTRA: 'x'}};
    expect(copyUpdatePatch(live, dependencyCopy(edited, ctx))).toEqual({
      metadata: {resourceVersion: '900', labels: copy.metadata?.labels, annotations: {'superskyray.io/source-resource-version': '57'}},
      data: {LEVEL: null, MODE: 'b', EXTRA: 'x'},
    });
  });

  it('sets a field the source dropped to null, and one it gained', () => {
    const live = {...copy, metadata: {...copy.metadata, resourceVersion: '5'}, binaryData: {blob: 'AA=='}} as KubeObject;
    const next = dependencyCopy({...source, data: undefined, immutable: true} as KubeObject, ctx);
    const patch = copyUpdatePatch(live, next);
    expect(patch).toMatchObject({binaryData: null, data: null, immutable: true});
  });
});
