import {describe, expect, it} from 'vitest';
import type {GroupStatus} from '../../../src/reconcile/group-status.js';
import {groupStatusDocument, renderGroupProblems, renderGroupStatus} from '../../../src/ui/group-status.js';

/** Spanned from onprem to cloud, with edge not answering. */
const spanned: GroupStatus = {
  group: 'app',
  kind: 'RayCluster',
  namespace: 'ml',
  home: 'onprem',
  homeClusterId: 'onprem-id',
  rayCluster: 'app',
  mode: 'spanned',
  mesh: 'cilium',
  relocate: 'if-fits',
  autoscaling: true,
  head: {name: 'app-head-x7k2p', phase: 'Running', node: 'onprem-0'},
  workerGroups: [{name: 'gpu', replicas: 5}],
  clusters: [
    {
      context: 'onprem',
      clusterId: 'onprem-id',
      home: true,
      state: 'Ready',
      problems: [],
      workers: [{workerGroup: 'gpu', local: 1, pending: 2, placeholders: 2, running: 1}],
      objects: [{object: 'service/app-head-svc', role: 'home head Service', global: 'true'}],
    },
    {
      context: 'cloud',
      clusterId: 'cloud-id',
      home: false,
      state: 'Ready',
      problems: [],
      workers: [{workerGroup: 'gpu', remote: 1, running: 1}],
      objects: [
        {object: 'service/app-head-svc', role: 'head-Service copy', global: 'true', shared: 'false'},
        {object: 'configmap/app-config', role: 'dependency copy'},
      ],
    },
    {
      context: 'edge',
      home: false,
      state: 'Unreachable',
      problems: [{reason: 'ConnectionRefused', message: 'connection refused (127.0.0.1:7443)', fix: 'check that the cluster is up'}],
    },
  ],
  otherRayClusters: [],
  placeholders: [
    {name: 'app-gpu-worker-bcdfg', workerGroup: 'gpu', ready: true, twinIn: 'cloud', twin: 'Running'},
    {name: 'app-gpu-worker-hldhl', workerGroup: 'gpu', ready: false, twinIn: 'edge-id', twin: 'unknown'},
  ],
  pending: [
    {name: 'app-gpu-worker-fitsc', workerGroup: 'gpu', spanTo: 'cloud', reason: 'onprem/onprem-0: needs nvidia.com/gpu 1, free 0; fits cloud, so span moves it there'},
    {
      name: 'app-gpu-worker-toobg',
      workerGroup: 'gpu',
      reason: 'onprem/onprem-0: needs nvidia.com/gpu 8, free 0; fits no other cluster either: cloud/cloud-0: needs nvidia.com/gpu 8, free 2',
    },
  ],
  repairs: [],
  warnings: [],
};

const HEAD = [
  'raycluster/app in ml: spanned, home onprem, RayCluster app, mesh cilium, relocate if-fits, autoscaling on',
  'head app-head-x7k2p: Running on onprem-0',
  '',
];
const WORKERS = [
  'CONTEXT         STATUS        WORKER-GROUP   DESIRED   LOCAL   PENDING   PLACEHOLDERS   REMOTE',
  'onprem (home)   Ready         gpu            5         1       2         2              -',
  'cloud           Ready         gpu            -         -       -         -              1',
  'edge            Unreachable   gpu            -         -       -         -              ?',
  '',
];

describe('group status rendering', () => {
  it('draws the headline, the workers per cluster and the Services; an unreachable cluster is unknown, never zero', () => {
    expect(renderGroupStatus(spanned, false)).toBe(
      [
        ...HEAD,
        ...WORKERS,
        'CONTEXT         OBJECT                 ROLE                   GLOBAL   SHARED',
        'onprem (home)   service/app-head-svc   home head Service      true     -',
        'cloud           service/app-head-svc   head-Service copy      true     false',
        'edge            ?                      unknown: Unreachable   ?        ?',
        '',
        '-o wide shows why 2 worker(s) wait',
        '',
      ].join('\n'),
    );
  });

  it('adds dependency copies, the placeholders with their twins and why each Pending worker waits when wide', () => {
    expect(renderGroupStatus(spanned, true)).toBe(
      [
        ...HEAD,
        ...WORKERS,
        'CONTEXT         OBJECT                 ROLE                   GLOBAL   SHARED',
        'onprem (home)   service/app-head-svc   home head Service      true     -',
        'cloud           service/app-head-svc   head-Service copy      true     false',
        'cloud           configmap/app-config   dependency copy        -        -',
        'edge            ?                      unknown: Unreachable   ?        ?',
        '',
        'PLACEHOLDER            WORKER-GROUP   READY   TWIN-IN   TWIN',
        'app-gpu-worker-bcdfg   gpu            yes     cloud     Running',
        'app-gpu-worker-hldhl   gpu            no      edge-id   unknown',
        '',
        'PENDING WORKER         WORKER-GROUP   SPAN-TO   WHY',
        'app-gpu-worker-fitsc   gpu            cloud     onprem/onprem-0: needs nvidia.com/gpu 1, free 0; fits cloud, so span moves it there',
        'app-gpu-worker-toobg   gpu            -         onprem/onprem-0: needs nvidia.com/gpu 8, free 0; fits no other cluster either: cloud/cloud-0: needs nvidia.com/gpu 8, free 2',
        '',
      ].join('\n'),
    );
  });

  it('lists, when wide, the clusters the preflight found may take no worker, and why', () => {
    const skipped: GroupStatus = {...spanned, skipped: [{context: 'edge', reasons: ['PriorityClass batch is not there in edge, and its admission refuses a pod that names it', 'Secret(s) creds that the workers need are not there in edge']}]};
    const lines = renderGroupStatus(skipped, true).split('\n');
    const at = lines.indexOf('SKIPPED CLUSTER   WHY');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('edge              PriorityClass batch is not there in edge, and its admission refuses a pod that names it; Secret(s) creds that the workers need are not there in edge');
    expect(renderGroupStatus(skipped, false)).not.toContain('SKIPPED CLUSTER');
  });

  it('shows a single group with nothing waiting, and no hint', () => {
    const single: GroupStatus = {
      ...spanned,
      kind: 'RayService',
      mode: 'single',
      mesh: 'endpoints',
      relocate: 'never',
      autoscaling: false,
      rayCluster: 'app-x2x4z',
      head: {name: 'app-x2x4z-head-abcde', phase: 'Pending'},
      workerGroups: [{name: 'gpu', replicas: 2}],
      clusters: [
        {context: 'onprem', home: true, state: 'Ready', problems: [], workers: [{workerGroup: 'gpu', local: 2, pending: 0, placeholders: 0, running: 2}], objects: [{object: 'service/app-x2x4z-head-svc', role: 'home head Service'}]},
        {context: 'cloud', home: false, state: 'Ready', problems: [], workers: [{workerGroup: 'gpu', remote: 0, running: 0}], objects: []},
      ],
      placeholders: [],
      pending: [],
    };
    expect(renderGroupStatus(single, true)).toBe(
      [
        'rayservice/app in ml: single, home onprem, RayCluster app-x2x4z, mesh endpoints, relocate never, autoscaling off',
        'head app-x2x4z-head-abcde: Pending',
        '',
        'CONTEXT         STATUS   WORKER-GROUP   DESIRED   LOCAL   PENDING   PLACEHOLDERS   REMOTE',
        'onprem (home)   Ready    gpu            2         2       0         0              -',
        'cloud           Ready    gpu            -         -       -         -              0',
        '',
        'CONTEXT         OBJECT                       ROLE                GLOBAL   SHARED',
        'onprem (home)   service/app-x2x4z-head-svc   home head Service   -        -',
        '',
      ].join('\n'),
    );
  });

  it('marks unknown home counts and a missing head pod, and lists repairs due when wide', () => {
    const odd: GroupStatus = {
      ...spanned,
      head: undefined,
      workerGroups: [],
      clusters: [{context: 'onprem', home: true, state: 'Degraded', problems: [{reason: 'HeadServiceUnread', message: 'the head Service app-head-svc could not be read: forbidden'}], workers: []}],
      placeholders: [],
      pending: [],
      repairs: [{action: 'delete-copy', object: 'service/app-head-svc', context: 'cloud', why: 'no remote worker of the group is left in that cluster'}],
    };
    const [, headLine, , , workers, , , objects, , , repair] = renderGroupStatus(odd, true).split('\n');
    expect(headLine).toBe('head: no head pod in onprem');
    expect(workers).toBe('onprem (home)   Degraded   -              -         -       -         -              -');
    expect(objects).toBe('onprem (home)   ?        unknown: Degraded   ?        ?');
    expect(repair).toBe('delete-copy   service/app-head-svc   cloud     no remote worker of the group is left in that cluster');
    expect(renderGroupStatus(odd, false)).toMatch(/\n-o wide shows 1 repair\(s\) due\n$/);
  });

  it('says where a relocating group moves to', () => {
    const [headlineOut] = renderGroupStatus({...spanned, mode: 'relocating', relocatingTo: 'big'}, false).split('\n');
    expect(headlineOut).toBe('raycluster/app in ml: relocating to big, home onprem, RayCluster app, mesh cilium, relocate if-fits, autoscaling on');
  });

  it("names the group's other RayClusters, live or gone, with their remote workers", () => {
    const out = renderGroupStatus(
      {
        ...spanned,
        otherRayClusters: [
          {name: 'svc-new', exists: true, remote: [{context: 'cloud', workers: 2}]},
          {name: 'svc-old', exists: false, remote: []},
        ],
      },
      false,
    ).split('\n');
    expect(out.slice(2, 4)).toEqual([
      'also RayCluster svc-new, the other of the two a RayService switches between: 2 remote worker(s) in cloud',
      'also RayCluster svc-old, gone: what was made for it goes on the next pass: no remote worker',
    ]);
  });

  it('says what is wrong where, with the fix, then the warnings', () => {
    expect(renderGroupProblems({...spanned, warnings: ['cloud runs remote workers of app but has no head-Service copy: they cannot reach the head']})).toEqual([
      'warning: context "edge" is unreachable: connection refused (127.0.0.1:7443); check that the cluster is up',
      'warning: cloud runs remote workers of app but has no head-Service copy: they cannot reach the head',
    ]);
  });

  it('gives a GroupStatus document', () => {
    const doc = groupStatusDocument(spanned) as Record<string, unknown>;
    expect(doc).toMatchObject({
      apiVersion: 'superskyray.io/v1alpha1',
      kind: 'GroupStatus',
      group: {kind: 'RayCluster', name: 'app', namespace: 'ml'},
      home: 'onprem',
      rayCluster: 'app',
      mode: 'spanned',
      mesh: 'cilium',
    });
    expect(doc.clusters).toEqual(spanned.clusters);
    expect(doc.pending).toEqual(spanned.pending);
    expect(doc).not.toHaveProperty('namespace');
  });
});
