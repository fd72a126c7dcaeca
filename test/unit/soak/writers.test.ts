import {describe, expect, it} from 'vitest';
import {micros, runOf, writersOf, type AuditEvent} from '../../soak/writers.js';

const NS = 'soak';
const T0 = Date.parse('2026-12-06T10:00:00Z');

/** One audited request of a run ("a", "b": the tool's runs; "kuberay": not the tool), at seconds from T0. */
function req(run: string, verb: string, what: string, at: number, o: {took?: number; code?: number; dryRun?: boolean; namespace?: string} = {}): AuditEvent {
  const [resource, name] = what.split('/');
  const time = (s: number) => new Date(T0 + s * 1000).toISOString().replace('Z', '123Z');
  return {
    stage: 'ResponseComplete',
    verb,
    requestURI: `/api/v1/namespaces/${NS}/${resource}/${name}${o.dryRun ? '?dryRun=All' : ''}`,
    userAgent: run === 'kuberay' ? 'kuberay-operator/v1.5.0' : `kubectl-superskyray/0.1.0 (vm/${run === 'a' ? 100 : 200}/${run}${run})`,
    requestReceivedTimestamp: time(at),
    stageTimestamp: time(at + (o.took ?? 0.01)),
    objectRef: {resource, namespace: o.namespace ?? NS, name},
    responseStatus: {code: o.code ?? (verb === 'create' ? 201 : 200)},
  };
}

const LEASE = 'leases/superskyray-raycluster-alpha';
const judge = (onprem: AuditEvent[], cloud: AuditEvent[] = []) => {
  const r = writersOf({onprem, cloud}, NS, [{name: 'alpha', kind: 'RayCluster'}]);
  return {said: r.violations.map((v) => v.what), groups: r.groups};
};

describe("the soak's one-writer-per-group check", () => {
  it('reads the run from the User-Agent, and audit times to the microsecond', () => {
    expect(runOf('kubectl-superskyray/0.1.0 (vm/16454/0461c2)')).toBe('vm/16454/0461c2');
    expect(runOf('kubectl/v1.37.2 (linux/amd64) kubernetes/abc')).toBeUndefined();
    expect(runOf(undefined)).toBeUndefined();
    expect(micros('2026-12-06T10:00:00.000002Z') - micros('2026-12-06T10:00:00.000001Z')).toBe(1);
    expect(micros('2026-12-06T10:00:01Z') - micros('2026-12-06T10:00:00.5Z')).toBe(500_000);
  });

  const cases: Array<{name: string; onprem: AuditEvent[]; cloud?: AuditEvent[]; said: string[]}> = [
    {
      name: 'runs that take turns, each writing while it holds the Lease',
      onprem: [
        req('a', 'create', LEASE, 1),
        req('a', 'patch', 'pods/alpha-w-1', 2),
        req('a', 'patch', LEASE, 3),
        req('a', 'delete', LEASE, 4),
        req('b', 'create', LEASE, 5),
        req('b', 'delete', 'pods/alpha-w-2', 6),
        req('b', 'delete', LEASE, 7),
      ],
      cloud: [req('a', 'create', 'pods/alpha-w-1', 2.5)],
      said: [],
    },
    {
      name: 'a run that writes, in another cluster, while another holds the Lease',
      onprem: [req('a', 'create', LEASE, 1), req('a', 'delete', LEASE, 4), req('b', 'create', LEASE, 5)],
      cloud: [req('a', 'create', 'pods/alpha-w-1', 6)],
      said: ['cloud: vm/100/aa made create pods/alpha-w-1 of alpha while vm/200/bb held the Lease'],
    },
    {
      name: 'a run that goes on writing after another took its expired Lease',
      onprem: [req('a', 'create', LEASE, 1), req('b', 'patch', LEASE, 40), req('a', 'delete', 'pods/alpha-w-1', 41), req('b', 'delete', LEASE, 42)],
      said: ['onprem: vm/100/aa made delete pods/alpha-w-1 of alpha while vm/200/bb held the Lease'],
    },
    {
      name: 'a write with no Lease held at all, the Ray object\'s included',
      onprem: [req('a', 'patch', 'pods/alpha-w-1', 1), req('a', 'patch', 'rayclusters/alpha', 2), req('a', 'patch', 'rayclusters/alphabet', 3)],
      said: ['onprem: vm/100/aa made patch pods/alpha-w-1 of alpha while no run held the Lease', 'onprem: vm/100/aa made patch rayclusters/alpha of alpha while no run held the Lease'],
    },
    {
      name: 'a write in flight while the Lease changes hands is not judged',
      onprem: [req('a', 'create', LEASE, 1), req('a', 'patch', 'pods/alpha-w-1', 3.9, {took: 0.5}), req('b', 'patch', LEASE, 4), req('b', 'delete', LEASE, 5)],
      said: [],
    },
    {
      name: 'what is not a write of the tool for this group is not judged',
      onprem: [
        req('kuberay', 'create', 'pods/alpha-w-9', 1),
        req('a', 'create', 'events/alpha.1', 1),
        req('a', 'patch', 'pods/alpha-w-1', 1, {dryRun: true}),
        req('a', 'patch', 'pods/alpha-w-1', 1, {code: 409}),
        req('a', 'patch', 'pods/beta-w-1', 1),
        req('a', 'patch', 'pods/alpha-w-1', 1, {namespace: 'other'}),
        req('a', 'get', 'pods/alpha-w-1', 1),
      ],
      said: [],
    },
    {
      name: 'a write of the old holder while a take of its expired Lease is at the server is in flight, not judged',
      onprem: [req('a', 'create', LEASE, 1), req('b', 'patch', LEASE, 40, {took: 0.2}), req('a', 'patch', 'pods/alpha-w-1', 40.05, {took: 0.05}), req('b', 'delete', LEASE, 42)],
      said: [],
    },
    {
      name: 'a refused take of the Lease changes nothing',
      onprem: [req('a', 'create', LEASE, 1), req('b', 'patch', LEASE, 2, {code: 409}), req('b', 'create', 'pods/alpha-w-1', 3), req('a', 'delete', LEASE, 4)],
      said: ['onprem: vm/200/bb made create pods/alpha-w-1 of alpha while vm/100/aa held the Lease'],
    },
  ];
  it.each(cases)('$name', ({onprem, cloud, said}) => {
    expect(judge(onprem, cloud).said).toEqual(said);
  });

  it('refuses groups whose objects it could not tell apart by name', () => {
    expect(() => writersOf({onprem: []}, NS, [{name: 'alpha', kind: 'RayCluster'}, {name: 'alpha-2', kind: 'RayCluster'}])).toThrow(/"alpha" and "alpha-2" cannot be told apart/);
  });

  it('judges only the writes from `since`, by holds taken before it too', () => {
    const log = [req('a', 'create', LEASE, 1), req('a', 'patch', 'pods/alpha-w-0', 2), req('a', 'patch', 'pods/alpha-w-1', 10), req('b', 'patch', 'pods/alpha-w-2', 11), req('a', 'delete', LEASE, 12)];
    const r = writersOf({onprem: log}, NS, [{name: 'alpha', kind: 'RayCluster'}], T0 + 5000);
    expect(r.violations.map((v) => v.what)).toEqual(['onprem: vm/200/bb made patch pods/alpha-w-2 of alpha while vm/100/aa held the Lease']);
    expect(r.groups).toEqual([{group: 'alpha', takes: 1, runs: 1, writes: 2}]);
  });

  it('counts the takes, the runs and the writes judged per group', () => {
    const {groups} = judge([req('a', 'create', LEASE, 1), req('a', 'patch', LEASE, 2), req('a', 'delete', 'pods/alpha-w-1', 3), req('a', 'delete', LEASE, 4), req('b', 'create', LEASE, 5), req('b', 'delete', LEASE, 6)]);
    expect(groups).toEqual([{group: 'alpha', takes: 2, runs: 2, writes: 1}]);
  });
});
