/** Whether a group looks as a runbook's `wait` or `assert` says it should. Pure over `status GROUP`. */
import type {GroupCluster, GroupStatus, WorkerCounts} from '../reconcile/group-status.js';
import type {ClusterExpectation, GroupCondition} from './format.js';

type Count = Exclude<keyof ClusterExpectation, 'headServiceCopy'>;
const COUNTS: Count[] = ['local', 'pending', 'placeholders', 'remote', 'running'];

function sum(workers: WorkerCounts[], key: Count): number {
  return workers.reduce((total, w) => total + (w[key] ?? 0), 0);
}

function clusterMisses(cluster: GroupCluster | undefined, context: string, want: ClusterExpectation, workerGroup: string | undefined): string[] {
  if (!cluster) return [`${context} is not a cluster of the fleet`];
  if (!cluster.workers) return [`${context} could not be observed (${cluster.state})`];
  const workers = workerGroup === undefined ? cluster.workers : cluster.workers.filter((w) => w.workerGroup === workerGroup);
  const misses: string[] = [];
  for (const key of COUNTS) {
    const expected = want[key];
    if (expected === undefined) continue;
    const got = sum(workers, key);
    if (got !== expected) misses.push(`${context} has ${key}=${got}, want ${expected}`);
  }
  if (want.headServiceCopy !== undefined) {
    const has = (cluster.objects ?? []).some((o) => o.role === 'head-Service copy' && o.object.startsWith('service/') && !o.terminating);
    if (has !== want.headServiceCopy) misses.push(`${context} ${has ? 'has' : 'has no'} head-Service copy, want ${want.headServiceCopy ? 'one' : 'none'}`);
  }
  return misses;
}

/** What differs from the condition, one phrase each; empty when it holds. */
export function conditionMisses(condition: GroupCondition, status: GroupStatus): string[] {
  const misses: string[] = [];
  if (condition.workerGroup !== undefined && !status.workerGroups.some((g) => g.name === condition.workerGroup)) {
    misses.push(`${status.group} has no worker group "${condition.workerGroup}" (it has ${status.workerGroups.map((g) => g.name).join(', ') || 'none'})`);
    return misses;
  }
  if (condition.mode !== undefined && status.mode !== condition.mode) misses.push(`mode is ${status.mode}, want ${condition.mode}`);
  for (const [context, want] of Object.entries(condition.clusters ?? {})) {
    misses.push(...clusterMisses(status.clusters.find((c) => c.context === context), context, want, condition.workerGroup));
  }
  if (condition.running) {
    if (status.head?.phase !== 'Running') misses.push(`the head is ${status.head ? status.head.phase : 'missing'}`);
    for (const cluster of status.clusters) {
      if (!cluster.workers) {
        misses.push(`${cluster.context} could not be observed (${cluster.state})`);
        continue;
      }
      const workers = condition.workerGroup === undefined ? cluster.workers : cluster.workers.filter((w) => w.workerGroup === condition.workerGroup);
      const all = sum(workers, cluster.home ? 'local' : 'remote');
      const running = sum(workers, 'running');
      const pending = sum(workers, 'pending');
      if (running !== all) misses.push(`${all - running} of ${all} ${cluster.home ? 'local' : 'remote'} worker(s) in ${cluster.context} not Running`);
      if (pending > 0) misses.push(`${pending} worker(s) Pending in ${cluster.context}`);
    }
  }
  return misses;
}
