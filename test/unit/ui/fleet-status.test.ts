import {describe, expect, it} from 'vitest';
import type {FleetStatus} from '../../../src/reconcile/fleet-status.js';
import {fleetStatusDocument, renderFleetTable, renderProblems} from '../../../src/ui/fleet-status.js';

const status: FleetStatus = {
  clusters: [
    {
      context: 'onprem',
      server: 'https://127.0.0.1:6443',
      state: 'Ready',
      problems: [],
      version: 'v1.35.1',
      clusterId: '6f1c2a9e-1111-2222-3333-444455556666',
      capacity: {
        nodes: {total: 2, ready: 2, schedulable: 2},
        pods: {bound: 3, pending: 1},
        resources: {
          cpu: {allocatable: 16_000, requested: 2500},
          memory: {allocatable: 64 * 2 ** 30, requested: 6 * 2 ** 30},
          'nvidia.com/gpu': {allocatable: 1, requested: 1},
          pods: {allocatable: 220, requested: 3},
        },
      },
    },
    {
      context: 'cloud',
      server: 'https://127.0.0.1:7443',
      state: 'Unreachable',
      problems: [{reason: 'ConnectionRefused', message: 'connection refused (127.0.0.1:7443)', fix: 'check that the cluster is up'}],
    },
  ],
};

describe('fleet status rendering', () => {
  it('draws one row per context, unreachable ones with dashes, never zeros', () => {
    expect(renderFleetTable(status, false)).toBe(
      [
        'CONTEXT   STATUS        VERSION   CLUSTER-ID   NODES   CPU            MEMORY          GPU          PENDING',
        'onprem    Ready         v1.35.1   6f1c2a9e     2/2     2.5/16 (16%)   6Gi/64Gi (9%)   1/1 (100%)   1',
        'cloud     Unreachable   -         -            -       -              -               -            -',
        '',
      ].join('\n'),
    );
  });

  it('adds pods, the server and the whole cluster id when wide', () => {
    const [header, onprem] = renderFleetTable(status, true).split('\n');
    expect(header).toMatch(/PENDING\s+PODS\s+SERVER$/);
    expect(onprem).toContain('6f1c2a9e-1111-2222-3333-444455556666');
    expect(onprem).toMatch(/3\/220 \(1%\)\s+https:\/\/127\.0\.0\.1:6443$/);
  });

  it('says what is wrong where, with the fix', () => {
    expect(renderProblems(status)).toEqual([
      'warning: context "cloud" is unreachable: connection refused (127.0.0.1:7443); check that the cluster is up',
    ]);
  });

  it('gives data with cpu in cores and memory in bytes', () => {
    const doc = fleetStatusDocument(status) as {clusters: Array<Record<string, unknown>>};
    expect(doc.clusters[0]).toMatchObject({
      context: 'onprem',
      reachable: true,
      resources: {cpu: {allocatable: 16, requested: 2.5}, memory: {allocatable: 64 * 2 ** 30, requested: 6 * 2 ** 30}},
    });
    expect(doc.clusters[1]).toEqual({
      context: 'cloud',
      server: 'https://127.0.0.1:7443',
      state: 'Unreachable',
      reachable: false,
      problems: status.clusters[1]?.problems,
    });
  });
});
