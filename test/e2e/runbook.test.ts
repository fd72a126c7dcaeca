import * as fs from 'node:fs';
import * as path from 'node:path';
import {afterEach, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli, REPO} from '../support/cli.js';
import {freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';

const kubeconfig = inject('kubeconfig');
const RUNBOOKS = path.join(REPO, 'examples', 'runbooks');
type RayClusterObject = KubeObject & {spec: {workerGroupSpecs: Array<{replicas?: number}>}};

/** The step lines a non-terminal run prints on stderr: "[i/n] title: what it did (1.2s)". */
const stepLines = (stderr: string) => stderr.split('\n').filter((l) => /^\[\d+\/\d+\] /.test(l));

describe('kubectl superskyray runbook run: the example runbooks on the real clusters', () => {
  let fleet: Fleet;
  const namespaces: string[] = [];

  beforeAll(() => {
    fleet = testFleet(kubeconfig);
  });
  // Each runbook needs onprem's room for itself.
  afterEach(async () => {
    for (const namespace of namespaces.splice(0)) await removeNamespace(fleet, namespace);
  });

  async function namespace(prefix: string): Promise<string> {
    const name = await freshNamespace(fleet, prefix);
    namespaces.push(name);
    return name;
  }

  it('manual scaling 2 -> 3 -> 2: spans the third worker to cloud, then collapses back to onprem', async () => {
    const ns = await namespace('rb-manual');
    const result = await cli(['runbook', 'run', path.join(RUNBOOKS, 'manual-scale.yaml'), '--kubeconfig', kubeconfig, '--set', `namespace=${ns}`]);
    expect(result.stderr).toMatch(/runbook "manual scale 2 -> 3 -> 2 with spanning": all 10 step\(s\) passed\n$/);
    expect(result.code).toBe(0);
    const lines = stepLines(result.stderr);
    expect(lines).toHaveLength(10);
    expect(lines[4]).toMatch(/^\[5\/10\] scale to 3 workers; the third does not fit on onprem: raycluster\/manual-demo: worker group cpu 2 -> 3, grows across clusters \(home onprem\)/);
    expect(lines[7]).toMatch(/^\[8\/10\] scale back to 2 workers; the remote one goes first: raycluster\/manual-demo: worker group cpu 3 -> 2, shrinks, remote workers first/);
    // The status steps print their tables on stdout: single, spanned, single again.
    expect([...result.stdout.matchAll(/^raycluster\/manual-demo in \S+: (\w+), home onprem/gm)].map((m) => m[1])).toEqual(['single', 'spanned', 'single']);

    const rc = await fleet.cluster('onprem').get<RayClusterObject>(RESOURCES.rayclusters, 'manual-demo', ns);
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(2);
    const left = await fleet.cluster('cloud').list<KubeObject>(RESOURCES.pods, {namespace: ns});
    expect(left.items).toEqual([]);
  });

  it('autoscaler growth to 2 GPU workers: the background watch spans the second to cloud and ends with the run', async () => {
    const ns = await namespace('rb-gpu');
    const result = await cli(['runbook', 'run', path.join(RUNBOOKS, 'autoscaler-gpu.yaml'), '--kubeconfig', kubeconfig, '--set', `namespace=${ns}`]);
    expect(result.stderr).toMatch(/runbook "autoscaler growth to 2 GPU workers": all 9 step\(s\) passed\n$/);
    expect(result.code).toBe(0);
    expect(stepLines(result.stderr)[7]).toMatch(/^\[8\/9\] the watch spans it to cloud: so after \d+\.\ds/);

    const remote = (await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace: ns})).items;
    expect(remote.map((p) => [p.metadata?.labels?.['superskyray.io/role'], p.status?.phase])).toEqual([['remote-worker', 'Running']]);
    expect(remote[0]!.spec?.containers[0]?.resources?.requests?.['nvidia.com/gpu']).toBe('1');
    // The watch stopped with the run and let go of the group.
    expect((await fleet.cluster('onprem').list<KubeObject>(RESOURCES.leases, {namespace: ns})).items).toEqual([]);
  });

  it('a broken runbook stops at the failing step with exit 1, naming it and why; the steps after it never run', async () => {
    const ns = await namespace('rb-broken');
    const dir = tempDir();
    fs.copyFileSync(path.join(REPO, 'examples', 'raycluster-manual.yaml'), path.join(dir, 'app.yaml'));
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(
      file,
      `name: broken
contexts: [onprem, cloud]
steps:
  - place: {file: app.yaml, skipCapacityRelocate: true}
  - wait: {group: raycluster/manual-demo, running: true, timeout: 2m}
  - name: expects a span that nothing asked for
    assert: {group: raycluster/manual-demo, mode: spanned, clusters: {cloud: {remote: 1}}}
  - scale: {group: raycluster/manual-demo, replicas: 3}
`,
    );
    const result = await cli(['runbook', 'run', file, '--kubeconfig', kubeconfig, '-n', ns]);
    expect(result.code).toBe(1);
    const lines = stepLines(result.stderr);
    expect(lines.map((l) => l.replace(/ \(\d+\.\ds\)$/, ''))).toEqual([
      expect.stringMatching(/^\[1\/4\] place app\.yaml: raycluster\/manual-demo placed on onprem/),
      expect.stringMatching(/^\[2\/4\] wait raycluster\/manual-demo; all running: so after \d+\.\ds$/),
      expect.stringMatching(/^\[3\/4\] expects a span that nothing asked for: FAILED after \d+\.\ds: mode is single, want spanned; cloud has remote=0, want 1$/),
    ]);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('error: '))).toEqual(['error: step 3 (expects a span that nothing asked for) failed: mode is single, want spanned; cloud has remote=0, want 1']);
    const rc = await fleet.cluster('onprem').get<RayClusterObject>(RESOURCES.rayclusters, 'manual-demo', ns);
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(2);
  });
});
