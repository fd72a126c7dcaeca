import yaml from 'js-yaml';
import {describe, expect, it} from 'vitest';
import type {WatchReport} from '../../../src/reconcile/watch.js';
import {watchLines} from '../../../src/ui/watch-lines.js';

const AT = '2026-12-01T12:00:00.000Z';
const pass = (trigger: string, stuck: Array<{pending: string; reason: string}> = []): WatchReport => ({
  type: 'pass',
  at: AT,
  group: 'ml/raycluster/app',
  trigger,
  ms: 12,
  result: {group: 'app', kind: 'RayCluster', namespace: 'ml', home: 'onprem', rayCluster: 'app', moves: [], stuck, repairs: [], steps: [], dryRun: false, warnings: []},
});

describe('watchLines', () => {
  it('says nothing for a quiet pass, but accounts for every group under --once', () => {
    expect(watchLines(pass('pod app-x changed in onprem'), 'text')).toEqual([]);
    expect(watchLines(pass('once'), 'text')).toEqual([`${AT} ml/raycluster/app: in step, nothing to do`]);
    expect(watchLines(pass('once', [{pending: 'app-w', reason: 'needs 8 gpus'}]), 'text')).toEqual([`${AT} ml/raycluster/app: app-w fits no cluster of the fleet: needs 8 gpus`]);
    expect(JSON.parse(watchLines(pass('once'), 'json')[0]!)).toMatchObject({type: 'pass', group: 'ml/raycluster/app', trigger: 'once', steps: []});
  });

  it('prints one YAML document per event with -o yaml', () => {
    const lines = watchLines({type: 'cluster', at: AT, context: 'cloud', state: 'Degraded', reason: 'no answer'}, 'yaml');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith('---\n')).toBe(true);
    expect(yaml.load(lines[0]!.slice(4))).toEqual({type: 'cluster', at: AT, context: 'cloud', state: 'Degraded', reason: 'no answer'});
  });
});
