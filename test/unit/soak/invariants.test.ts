import {describe, expect, it} from 'vitest';
import {Checker, type ClusterLook, type Deliberate, type Faults, type KubeItem} from '../../soak/invariants.js';

const NS = 'ml';
const CALM: Faults = {active: false, partitioned: []};

interface PodOptions {
  node?: string;
  phase?: string;
  role?: 'placeholder' | 'remote-worker';
  /** A remote worker's home cluster id. */
  home?: string;
  /** A placeholder's remote worker's cluster id. */
  remote?: string;
  replaces?: string;
  deleting?: boolean;
}

function pod(name: string, o: PodOptions = {}): KubeItem {
  const labels: Record<string, string> = {'ray.io/cluster': 'app', 'ray.io/group': 'cpu', 'ray.io/node-type': 'worker'};
  if (o.role) labels['superskyray.io/role'] = o.role;
  if (o.home) labels['superskyray.io/home-cluster'] = o.home;
  const annotations: Record<string, string> = {};
  if (o.remote) annotations['superskyray.io/remote-cluster'] = o.remote;
  if (o.replaces) annotations['superskyray.io/replaces'] = o.replaces;
  return {
    kind: 'Pod',
    metadata: {name, namespace: NS, uid: `uid-${name}`, labels, annotations, ...(o.deleting ? {deletionTimestamp: '2026-01-01T00:00:00Z'} : {})},
    spec: {nodeName: o.node ?? 'n-0'},
    status: {phase: o.phase ?? 'Running'},
  };
}

const rayCluster = (replicas: number, workersToDelete: string[] = []): KubeItem => ({
  kind: 'RayCluster',
  metadata: {name: 'app', namespace: NS},
  spec: {workerGroupSpecs: [{groupName: 'cpu', replicas, minReplicas: 0, maxReplicas: 10, ...(workersToDelete.length ? {scaleStrategy: {workersToDelete}} : {})}]},
});

/** A fleet of two: onprem (home of "app") and cloud. */
function fleet(at: number, o: {home?: KubeItem[]; cloud?: KubeItem[]; rc?: KubeItem; cloudAnswered?: boolean}) {
  const clusters: ClusterLook[] = [
    {context: 'onprem', id: 'onprem-id', answered: true, pods: o.home ?? [], rayClusters: [o.rc ?? rayCluster(o.home?.length ?? 0)]},
    {context: 'cloud', id: 'cloud-id', answered: o.cloudAnswered ?? true, pods: o.cloudAnswered === false ? [] : (o.cloud ?? []), rayClusters: []},
  ];
  return {at, clusters};
}

/** A spanned app: 2 local workers, 1 placeholder at home for a remote worker in cloud. */
const spanned = () => ({
  home: [pod('w-1'), pod('w-2'), pod('w-3', {role: 'placeholder', remote: 'cloud-id', replaces: 'w-p'})],
  cloud: [pod('w-3', {role: 'remote-worker', home: 'onprem-id', node: 'c-0'})],
});

const checker = () => new Checker({settleMs: 20_000, passMs: 5_000});
const said = (c: Checker, looks: Array<[ReturnType<typeof fleet>, Deliberate[]?, Faults?]>) =>
  looks.flatMap(([look, did, faults]) => c.look(look, did ?? [], faults ?? CALM)).map((v) => `${v.invariant}: ${v.what}`);

describe('the soak checker', () => {
  it('finds nothing wrong with a spanned app that stays as it is', () => {
    const c = checker();
    expect(said(c, [0, 1000, 2000, 60_000].map((at) => [fleet(at, spanned())]))).toEqual([]);
  });

  it("says when KubeRay's count stays off replicas longer than it may take to mend it, once", () => {
    const c = checker();
    const two = {home: [pod('w-1'), pod('w-2')], rc: rayCluster(3)};
    expect(said(c, [[fleet(0, two)], [fleet(19_000, two)]])).toEqual([]);
    expect(said(c, [[fleet(21_000, two)], [fleet(30_000, two)]])).toEqual(['kuberay-count: onprem: raycluster ml/app group cpu has 2 worker pod(s) for 3 replicas']);
    // Mended: a new mismatch starts its own clock.
    const three = {home: [pod('w-1'), pod('w-2'), pod('w-4')], rc: rayCluster(3)};
    expect(said(c, [[fleet(31_000, three)], [fleet(32_000, {...three, rc: rayCluster(4)})], [fleet(50_000, {...three, rc: rayCluster(4)})]])).toEqual([]);
  });

  it('counts neither pods on their way out nor those named in workersToDelete', () => {
    const c = checker();
    const look = {home: [pod('w-1'), pod('w-2', {deleting: true}), pod('w-3')], rc: rayCluster(1, ['w-3'])};
    expect(said(c, [[fleet(0, look)], [fleet(60_000, look)]])).toEqual([]);
  });

  it('gives a remote worker without its placeholder one pass from when the faults stop, not while they go on', () => {
    const c = checker();
    const orphan = {home: [pod('w-1'), pod('w-2')], cloud: [pod('w-3', {role: 'remote-worker', home: 'onprem-id'})], rc: rayCluster(2)};
    expect(said(c, [[fleet(0, orphan), [], {active: true, partitioned: []}], [fleet(60_000, orphan), [], {active: true, partitioned: []}]])).toEqual([]);
    expect(said(c, [[fleet(62_000, orphan), [], {active: false, partitioned: [], stoppedAt: 60_000}]])).toEqual([]);
    expect(said(c, [[fleet(66_000, orphan), [], {active: false, partitioned: [], stoppedAt: 60_000}]])).toEqual(['remote-without-home: cloud: remote worker ml/w-3 has no placeholder in onprem']);
  });

  it('finds a remote worker running in two clusters, and two placeholders for one Pending worker', () => {
    const c = checker();
    const {home, cloud} = spanned();
    const third: ClusterLook = {context: 'edge', id: 'edge-id', answered: true, pods: [pod('w-3', {role: 'remote-worker', home: 'onprem-id'})], rayClusters: []};
    const look = fleet(0, {home: [...home, pod('w-9', {role: 'placeholder', remote: 'edge-id', replaces: 'w-p'})], cloud, rc: rayCluster(4)});
    look.clusters.push(third);
    expect(said(c, [[look]])).toEqual(['duplicate: remote worker ml/w-3 runs in cloud and edge', 'duplicate: onprem: placeholders w-3 and w-9 both replace ml/w-p']);
  });

  it('says when a running worker ends with nothing deliberate behind it', () => {
    const c = checker();
    const {home, cloud} = spanned();
    expect(said(c, [[fleet(0, {home, cloud})], [fleet(1000, {home: home.filter((p) => p.metadata?.name !== 'w-2'), cloud, rc: rayCluster(3)})]])).toEqual([
      'running-worker-deleted: onprem: running worker ml/w-2 of app ended, and nothing deliberate asked for it',
    ]);
  });

  it('lets a placeholder go (its remote worker was never made, say): only a remote worker left without it is wrong', () => {
    const c = checker();
    const {home} = spanned();
    expect(said(c, [[fleet(0, {home, cloud: []})], [fleet(1000, {home: home.slice(0, 2), cloud: [], rc: rayCluster(3)})]])).toEqual([]);
  });

  it.each([
    {name: 'a shrink the soak made', did: [{at: 500, kind: 'shrink', namespace: NS, rayCluster: 'app'}] as Deliberate[]},
    {name: 'a drain of its node', did: [{at: 500, kind: 'drain', context: 'onprem', node: 'n-0'}] as Deliberate[]},
    {name: 'its head deleted', did: [{at: 500, kind: 'delete-head', namespace: NS, rayCluster: 'app'}] as Deliberate[]},
  ])('lets a running worker end after $name', ({did}) => {
    const c = checker();
    const {home, cloud} = spanned();
    expect(said(c, [[fleet(0, {home, cloud})], [fleet(1000, {home: home.filter((p) => p.metadata?.name !== 'w-2'), cloud, rc: rayCluster(3)}), did]])).toEqual([]);
  });

  it("takes a remote worker's end, minutes later, as the drain that took its placeholder; and as nothing deliberate without one", () => {
    // The placeholder w-3 on n-0 is drained away; its remote worker waits for a replacement (the
    // node is cordoned), which at last runs at home: the remote worker is surplus and ends.
    const {home, cloud} = spanned();
    const waiting = {home: [...home.slice(0, 2), pod('w-4', {phase: 'Pending'})], cloud};
    const after = {home: [...home.slice(0, 2), pod('w-4')], cloud: []};
    const drain: Deliberate[] = [{at: 500, kind: 'drain', context: 'onprem', node: 'n-0'}];
    // The chaos goes on meanwhile (the node stays cordoned): the tool cannot be asked to mend it yet.
    const chaos: Faults = {active: true, partitioned: []};
    const drained = checker();
    expect(said(drained, [[fleet(0, {home, cloud})], [fleet(1000, waiting), drain, chaos], [fleet(120_000, waiting), drain, chaos], [fleet(121_000, after), drain, chaos]])).toEqual([]);
    const unasked = checker();
    expect(said(unasked, [[fleet(0, {home, cloud})], [fleet(1000, waiting), [], chaos], [fleet(120_000, waiting), [], chaos], [fleet(121_000, after), [], chaos]])).toEqual([
      'running-worker-deleted: cloud: running worker ml/w-3 of app ended, and nothing deliberate asked for it',
    ]);
    // A drain of another node, or one long before its placeholder went, asked for nothing.
    const elsewhere = checker();
    const other: Deliberate[] = [{at: 500, kind: 'drain', context: 'onprem', node: 'n-1'}];
    expect(said(elsewhere, [[fleet(0, {home, cloud})], [fleet(1000, waiting), other, chaos], [fleet(121_000, after), other, chaos]])).toHaveLength(1);
    const early = checker();
    const before: Deliberate[] = [{at: -60_000, kind: 'drain', context: 'onprem', node: 'n-0'}];
    expect(said(early, [[fleet(0, {home, cloud}), before, chaos], [fleet(1000, waiting), before, chaos], [fleet(121_000, after), before, chaos]])).toHaveLength(1);
    // Nor one that came after its placeholder was gone: it took nothing of it.
    const late = checker();
    const later: Deliberate[] = [{at: 60_000, kind: 'drain', context: 'onprem', node: 'n-0'}];
    expect(said(late, [[fleet(0, {home, cloud}), [], chaos], [fleet(1000, waiting), [], chaos], [fleet(121_000, after), later, chaos]])).toHaveLength(1);
  });

  it("takes a remote worker's end as the drain that took its placeholder, when both went between two looks", () => {
    // Found by the 30-minute soak, seed 2: the drain evicted the placeholder and the replacement
    // ran at home at once, so the tool ended the remote worker within the same second.
    const {home, cloud} = spanned();
    const after = {home: [...home.slice(0, 2), pod('w-4')], cloud: []};
    const chaos: Faults = {active: true, partitioned: []};
    const drain: Deliberate[] = [{at: 1500, kind: 'drain', context: 'onprem', node: 'n-0'}];
    expect(said(checker(), [[fleet(0, {home, cloud}), [], chaos], [fleet(1000, {home, cloud}), [], chaos], [fleet(2000, after), drain, chaos]])).toEqual([]);
    // Without the drain, or with the placeholder still there, it asked for nothing.
    expect(said(checker(), [[fleet(0, {home, cloud}), [], chaos], [fleet(1000, {home, cloud}), [], chaos], [fleet(2000, after), [], chaos]])).toHaveLength(1);
    expect(said(checker(), [[fleet(0, {home, cloud}), [], chaos], [fleet(1000, {home, cloud}), [], chaos], [fleet(2000, {home, cloud: []}), drain, chaos]])).toEqual([
      'running-worker-deleted: cloud: running worker ml/w-3 of app ended, and nothing deliberate asked for it',
    ]);
  });

  it('takes replicas going down (the autoscaler scaling in) as a shrink', () => {
    const c = checker();
    const {home, cloud} = spanned();
    expect(said(c, [[fleet(0, {home, cloud})], [fleet(1000, {home, cloud, rc: rayCluster(2)})], [fleet(2000, {home: [home[0]!, home[2]!], cloud, rc: rayCluster(2)})]])).toEqual([]);
  });

  it('says when a placeholder ends while the cluster of its remote worker is cut off from the tool', () => {
    const c = checker();
    const {home, cloud} = spanned();
    const cut: Faults = {active: true, partitioned: ['cloud']};
    expect(said(c, [[fleet(0, {home, cloud}), [], cut], [fleet(1000, {home: home.slice(0, 2), cloud, rc: rayCluster(3)}), [], cut]])).toEqual([
      'deleted-under-partition: onprem: ml/w-3 ended while cloud was cut off from the tool',
    ]);
  });

  it('takes nothing of a cluster that did not answer to be gone', () => {
    const c = checker();
    const {home, cloud} = spanned();
    expect(said(c, [[fleet(0, {home, cloud})], [fleet(1000, {home, cloud, cloudAnswered: false})], [fleet(2000, {home, cloud})]])).toEqual([]);
  });
});
