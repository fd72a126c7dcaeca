import {describe, expect, it} from 'vitest';
import type {FleetGroups} from '../../../src/reconcile/fleet-groups.js';
import {fleetGroupsDocument, renderFleetGroups, renderGroupProblems} from '../../../src/ui/fleet-groups.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');

const fleet: FleetGroups = {
  clusters: [
    {context: 'onprem', server: 'https://onprem:6443', state: 'Unreachable', problems: [{reason: 'ConnectionRefused', message: 'connection refused'}]},
    {context: 'cloud', server: 'https://cloud:6443', state: 'Ready', problems: [], version: 'v1.34.1', clusterId: 'cloud-0000-id'},
  ],
  groups: [
    {
      namespace: 'ml',
      name: 'trainer',
      home: 'onprem',
      homeClusterId: 'onprem-id',
      mode: 'degraded',
      workers: [
        {context: 'onprem', home: true, observed: false},
        {context: 'cloud', home: false, observed: true, remote: 2},
      ],
      repairs: [],
      reasons: ['its home cluster onprem-id did not answer'],
    },
    {
      namespace: 'serve',
      kind: 'RayService',
      name: 'chat',
      home: 'cloud',
      homeClusterId: 'cloud-0000-id',
      mode: 'single',
      mesh: 'cilium',
      relocate: 'if-fits',
      workers: [
        {context: 'onprem', home: false, observed: false},
        {context: 'cloud', home: true, observed: true, local: 3, placeholders: 0, pending: 1},
      ],
      createdAt: '2026-12-06T09:30:00Z',
      repairs: [{action: 'delete', object: 'service/chat-head-svc', context: 'onprem', why: 'no remote worker of the group is left in that cluster'}],
      reasons: [],
    },
  ],
};

describe('status -A as a table', () => {
  it('lists each group below the clusters: its home, mode, workers per cluster, age and repairs; unknown counts as ?', () => {
    const text = renderFleetGroups(fleet, false, NOW);
    const groups = text.split('\n\n')[1]!;
    expect(groups.split('\n')).toEqual([
      'NAMESPACE   GROUP             HOME     MODE       WORKERS                                AGE    REPAIR',
      'ml          trainer           onprem   degraded   onprem: ?; cloud: 2 remote             -      -',
      'serve       rayservice/chat   cloud    single     onprem: ?; cloud: 3 local, 1 Pending   150m   1',
      '',
    ]);
  });

  it('-o wide adds the mesh, the relocate policy and the reasons, repairs first', () => {
    const lines = renderFleetGroups(fleet, true, NOW).split('\n\n')[1]!.split('\n');
    expect(lines[0]).toMatch(/REPAIR\s+MESH\s+RELOCATE\s+REASONS$/);
    expect(lines[1]).toMatch(/-\s+-\s+-\s+its home cluster onprem-id did not answer$/);
    expect(lines[2]).toMatch(/1\s+cilium\s+if-fits\s+delete service\/chat-head-svc in onprem: no remote worker of the group is left in that cluster$/);
  });

  it('leaves out NAMESPACE for one namespace, and says when it has no group', () => {
    const one = renderFleetGroups({...fleet, namespace: 'serve', groups: fleet.groups.slice(1)}, false, NOW).split('\n\n')[1]!;
    expect(one.split('\n')[0]).toMatch(/^GROUP\s+HOME/);
    expect(renderFleetGroups({...fleet, namespace: 'empty', groups: []}, false, NOW).split('\n\n')[1]).toBe('No groups of kubectl-superskyray in namespace "empty".\n');
    expect(renderFleetGroups({...fleet, groups: []}, false, NOW).split('\n\n')[1]).toBe('No groups of kubectl-superskyray in any namespace.\n');
  });

  it('warns of each degraded group on stderr, with why', () => {
    expect(renderGroupProblems(fleet)).toEqual(['warning: group trainer in ml is degraded: its home cluster onprem-id did not answer']);
  });
});

describe('status -A as data', () => {
  it('gives the clusters as status does, and each group with its counts per cluster, unknown ones left out', () => {
    const doc = fleetGroupsDocument(fleet) as {kind: string; clusters: Array<{context: string; reachable: boolean}>; groups: Array<Record<string, unknown>>};
    expect(doc.kind).toBe('FleetStatus');
    expect(doc.clusters.map((c) => [c.context, c.reachable])).toEqual([
      ['onprem', false],
      ['cloud', true],
    ]);
    expect(doc.groups[0]).toEqual(fleet.groups[0]);
    expect(doc.groups[1]).toMatchObject({kind: 'RayService', name: 'chat', mesh: 'cilium', relocate: 'if-fits', createdAt: '2026-12-06T09:30:00Z'});
  });
});
