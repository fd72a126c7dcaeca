import {describe, expect, it} from 'vitest';
import type {Pod} from '../../../src/kube/types.js';
import type {GroupState} from '../../../src/reconcile/group.js';
import {replicaSets} from '../../../src/reconcile/span.js';

type Where = 'pending' | 'home' | 'placeholder' | {swapTo: string};

/** A host of worker group tpu: Pending, running at home, a placeholder, or in a swap to a cluster id. */
function host(name: string, where: Where, labels: Record<string, string> = {}): Pod {
  return {
    metadata: {
      name,
      labels: {'ray.io/cluster': 'app', 'ray.io/group': 'tpu', 'ray.io/node-type': 'worker', ...(where === 'placeholder' ? {'superskyray.io/role': 'placeholder'} : {}), ...labels},
      ...(typeof where === 'object' ? {annotations: {'superskyray.io/swap-to': `${name}-p@${where.swapTo}`}, finalizers: ['superskyray.io/swap']} : {}),
    },
    spec: {containers: [{name: 'ray-worker'}], ...(where === 'home' || where === 'placeholder' ? {nodeName: 'n1'} : {})},
    status: {phase: where === 'home' || where === 'placeholder' ? 'Running' : 'Pending'},
  } as Pod;
}

/** Only what replicaSets reads: home's pods, and each remote cluster's workers of the live RayCluster. */
function state(homePods: Pod[], remotes: Record<string, number> = {}): GroupState {
  return {
    homePods,
    remotes: Object.entries(remotes).map(([id, n]) => ({
      observed: true,
      cluster: {snapshot: {id}, status: {clusterId: id}, client: {context: id}},
      workers: Array.from({length: n}, (_, i) => host(`r${i}`, 'home')),
      others: [],
      copies: [],
    })),
  } as unknown as GroupState;
}

const names = (pods: Pod[]) => pods.map((p) => p.metadata?.name);

describe('replicaSets: the hosts of a multi-host replica move together, or stay', () => {
  it.each<{name: string; pods: Pod[]; remotes?: Record<string, number>; hosts: number; want: Array<{pods: string[]; cluster?: string; stays?: RegExp}>}>([
    {name: 'a replica all Pending moves whole', pods: [host('a', 'pending'), host('b', 'pending')], hosts: 2, want: [{pods: ['a', 'b']}]},
    {
      name: 'a host whose replica runs at home stays',
      pods: [host('a', 'home'), host('b', 'pending')],
      hosts: 2,
      want: [{pods: ['b'], stays: /other hosts of its replica run at home/}],
    },
    {
      name: 'the replica begun at home first, then whole replicas',
      pods: [host('a', 'home'), host('b', 'pending'), host('c', 'pending'), host('d', 'pending')],
      hosts: 2,
      want: [{pods: ['b'], stays: /run at home/}, {pods: ['c', 'd']}],
    },
    {
      name: 'a replica begun in a cluster (a run stopped between swaps) is completed there',
      pods: [host('b', 'pending'), host('c', 'pending'), host('d', 'pending')],
      remotes: {cloud: 1},
      hosts: 2,
      want: [{pods: ['b'], cluster: 'cloud'}, {pods: ['c', 'd']}],
    },
    {
      name: 'a host in a swap counts where it goes, its placeholder is no host at home',
      pods: [host('a', {swapTo: 'cloud'}), host('p', 'placeholder'), host('b', 'pending'), host('c', 'pending')],
      remotes: {cloud: 1},
      hosts: 3,
      want: [{pods: ['b'], cluster: 'cloud'}, {pods: ['c'], stays: /not Pending yet/}],
    },
    {
      name: 'too few Pending for a replica: they wait',
      pods: [host('a', 'pending')],
      hosts: 2,
      want: [{pods: ['a'], stays: /other hosts of its replica are not Pending yet/}],
    },
    {
      name: "with KubeRay's replica labels nothing moves",
      pods: [host('a', 'pending', {'ray.io/worker-group-replica-name': 'tpu-x'}), host('b', 'pending', {'ray.io/worker-group-replica-name': 'tpu-x'})],
      hosts: 2,
      want: [{pods: ['a', 'b'], stays: /RayMultiHostIndexing/}],
    },
  ])('$name', ({pods, remotes, hosts, want}) => {
    const pending = pods.filter((p) => p.status?.phase === 'Pending' && !p.metadata?.annotations);
    const sets = replicaSets(state(pods, remotes), 'tpu', hosts, pending);
    expect(
      sets.map((s) => ({pods: names(s.pods), ...('cluster' in s && s.cluster ? {cluster: s.cluster} : {}), ...('reason' in s ? {stays: s.reason} : {})})),
    ).toEqual(want.map((w) => ({pods: w.pods, ...(w.cluster ? {cluster: w.cluster} : {}), ...(w.stays ? {stays: expect.stringMatching(w.stays)} : {})})));
  });
});
