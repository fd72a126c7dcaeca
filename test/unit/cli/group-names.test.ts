import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {fleetWords, namesFile, namesToOffer, readNames, writeNames} from '../../../src/cli/group-names.js';
import {tempDir} from '../../support/kubeconfig.js';

describe('the group names completion keeps', () => {
  it.each([
    ['flags with their values, in both spellings', ['scale', '--context', 'onprem', '--context=cloud', '-n', 'ml', '--kubeconfig=/k', '--fleet', 'f.yaml'], {contexts: ['onprem', 'cloud'], namespace: 'ml', kubeconfig: '/k', fleet: 'f.yaml'}],
    ['nothing from other flags or words', ['scale', 'app', '--replicas', '3', '--dry-run', '-o', 'json'], {contexts: []}],
    ['a flag still waiting for its value', ['status', '--context'], {contexts: []}],
  ])('reads %s', (_what, words, want) => {
    expect(fleetWords(words)).toEqual(want);
  });

  it('keeps one file per fleet', () => {
    const env = {HOME: '/home/u', KUBECONFIG: '/k'};
    const a = namesFile({contexts: ['onprem', 'cloud']}, env);
    expect(a).toMatch(/^\/home\/u\/\.cache\/kubectl-superskyray\/groups-[0-9a-f]{16}\.json$/);
    expect(namesFile({contexts: ['onprem', 'cloud'], namespace: 'ml'}, env)).toBe(a);
    expect(namesFile({contexts: ['onprem']}, env)).not.toBe(a);
    expect(namesFile({contexts: []}, {...env, SUPERSKYRAY_CONTEXTS: 'onprem,cloud'})).toBe(a);
    expect(namesFile({contexts: ['onprem', 'cloud']}, {...env, XDG_CACHE_HOME: '/c'})).toMatch(/^\/c\/kubectl-superskyray\//);
  });

  it('offers what it has at once, refreshes an old or missing file once per 15 s, and keeps the names of a cluster that did not answer', () => {
    const file = path.join(tempDir(), 'sub', 'groups.json');
    let refreshes = 0;
    const refresh = () => refreshes++;
    const t = Date.parse('2026-12-06T12:00:00Z');
    expect(namesToOffer(file, 'ml', refresh, t)).toEqual([]);
    expect(namesToOffer(file, 'ml', refresh, t + 1000)).toEqual([]);
    expect(refreshes).toBe(1);
    // A refresh that never wrote (no cluster answered) is tried again after 15 s.
    expect(namesToOffer(file, 'ml', refresh, t + 16_000)).toEqual([]);
    expect(refreshes).toBe(2);

    const app = {namespace: 'ml', kind: 'RayCluster', name: 'app', home: 'onprem'};
    const job = {namespace: 'batch', kind: 'RayJob', name: 'nightly', home: 'cloud'};
    writeNames(file, {answered: ['onprem', 'cloud'], groups: [app, job]}, 'batch', t + 2000);
    expect(fs.existsSync(`${file}.refreshing`)).toBe(false);
    expect(namesToOffer(file, 'ml', refresh, t + 3000)).toEqual([app]);
    // Without -n: the contexts' namespace.
    expect(namesToOffer(file, undefined, refresh, t + 3000)).toEqual([job]);
    expect(refreshes).toBe(2);
    // Old: offered still, and listed again.
    expect(namesToOffer(file, 'ml', refresh, t + 40_000)).toEqual([app]);
    expect(refreshes).toBe(3);

    // cloud did not answer this time: its names stay; onprem's are replaced.
    const other = {namespace: 'ml', kind: 'RayService', name: 'chat', home: 'onprem'};
    writeNames(file, {answered: ['onprem'], groups: [other]}, 'batch', t + 50_000);
    expect(readNames(file)?.groups).toEqual([other, job]);
  });
});
