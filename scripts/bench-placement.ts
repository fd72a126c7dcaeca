// npm run bench:placement: the time and memory of one full placement decision over a large synthetic
// fleet, and how the time grows with the number of nodes. Prints figures; asserts nothing.
import type {RayDemand} from '../src/kuberay/demand.js';
import {decidePlace} from '../src/placement/decide.js';
import type {ClusterSnapshot, NodeSnapshot, PodSnapshot} from '../src/placement/snapshot.js';

const GiB = 2 ** 30;
const gpuTaint = {key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' as const};

/** A cluster of `nodes` nodes (one in ten with 8 GPUs, tainted) and `pods` bound pods spread over them. */
function syntheticCluster(index: number, nodes: number, pods: number): ClusterSnapshot {
  const nodeList: NodeSnapshot[] = [];
  for (let i = 0; i < nodes; i++) {
    const gpu = i % 10 === 9;
    nodeList.push({
      name: `c${index}-n${i}`,
      labels: {'kubernetes.io/hostname': `c${index}-n${i}`, pool: gpu ? 'gpu' : 'cpu', zone: `z${i % 3}`},
      taints: gpu ? [gpuTaint] : [],
      unschedulable: i % 97 === 0,
      ready: i % 101 !== 0,
      allocatable: gpu
        ? {cpu: 64_000, memory: 512 * GiB, 'nvidia.com/gpu': 8, pods: 110, 'ephemeral-storage': 500 * GiB}
        : {cpu: 32_000, memory: 128 * GiB, pods: 110, 'ephemeral-storage': 200 * GiB},
    });
  }
  const podList: PodSnapshot[] = [];
  for (let p = 0; p < pods; p++) {
    podList.push({
      name: `c${index}-p${p}`,
      namespace: `team-${p % 50}`,
      node: nodeList[(p * 7) % nodes]!.name,
      labels: {app: `a${p % 200}`},
      shape: {requests: {cpu: 500 + (p % 8) * 250, memory: (1 + (p % 4)) * GiB}, nodeSelector: {}, affinity: [], tolerations: []},
    });
  }
  return {id: `cluster-${index}`, name: `cluster-${index}`, priority: 20 - index, nodes: nodeList, pods: podList};
}

function container(requests: Record<string, string>) {
  return {containers: [{name: 'ray', resources: {requests}}]};
}

/** 1 head + 500 workers in 3 worker groups, one of them on tainted GPU nodes. */
const demand: RayDemand = {
  kind: 'RayCluster',
  name: 'bench',
  namespace: 'ml',
  autoscaling: false,
  head: {role: 'head', group: 'headgroup', count: 1, spec: container({cpu: '4', memory: '16Gi'})},
  workers: [
    {role: 'worker', group: 'cpu', count: 300, spec: container({cpu: '4', memory: '16Gi'})},
    {
      role: 'worker',
      group: 'gpu',
      count: 150,
      spec: {
        ...container({cpu: '8', memory: '64Gi', 'nvidia.com/gpu': '1'}),
        nodeSelector: {pool: 'gpu'},
        tolerations: [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}],
      },
    },
    {
      role: 'worker',
      group: 'small',
      count: 50,
      spec: {
        ...container({cpu: '1', memory: '2Gi'}),
        affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: 'zone', operator: 'In', values: ['z0', 'z1']}]}]}}},
      },
    },
  ],
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeDecision(fleet: ClusterSnapshot[], runs: number): number {
  decidePlace(demand, fleet); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    decidePlace(demand, fleet);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(times);
}

const clusters = 20;
const fleet = Array.from({length: clusters}, (_, i) => syntheticCluster(i, 2000, 3000));
const heapBefore = process.memoryUsage().heapUsed;
const decision = decidePlace(demand, fleet);
const ms = timeDecision(fleet, Number(process.env.BENCH_RUNS ?? 15));
const heapAfter = process.memoryUsage().heapUsed;
const maxRssMb = process.resourceUsage().maxRSS / 1024;

console.log(`fleet: ${clusters} clusters x 2,000 nodes, ${clusters * 3000} bound pods; group: 1 head + 500 workers in 3 groups`);
console.log(`decision: ${decision.action} on ${decision.home}, ${decision.assignments.length} cluster(s), ${decision.reasons.length} reasons`);
console.log(`one full decision: median ${ms.toFixed(1)} ms (target < 200 ms)`);
console.log(`memory: peak RSS ${maxRssMb.toFixed(0)} MB for the whole process, fleet included (target < 300 MB); heap ${(heapBefore / 2 ** 20).toFixed(0)} -> ${(heapAfter / 2 ** 20).toFixed(0)} MB`);

console.log('\ngrowth with the fleet size (20 clusters, 1.5 bound pods per node):');
console.log('   nodes   median ms   ms per 1,000 nodes');
for (const total of [1000, 5000, 10_000, 20_000, 40_000]) {
  const perCluster = total / clusters;
  const sized = Array.from({length: clusters}, (_, i) => syntheticCluster(i, perCluster, Math.round(perCluster * 1.5)));
  const t = timeDecision(sized, 9);
  console.log(`${String(total).padStart(8)}   ${t.toFixed(1).padStart(9)}   ${((t / total) * 1000).toFixed(2).padStart(18)}`);
}
