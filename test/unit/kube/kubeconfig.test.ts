import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {InputError} from '../../../src/errors.js';
import {contextKubeConfig, kubeconfigFiles, loadKubeconfig} from '../../../src/kube/kubeconfig.js';
import {tempDir, writeKubeconfig} from '../../support/kubeconfig.js';

describe('kubeconfigFiles', () => {
  it.each([
    {name: 'the flag wins', flag: '/a:/b', env: {KUBECONFIG: '/c', HOME: '/h'}, files: ['/a', '/b']},
    {name: 'then KUBECONFIG, split on ":"', flag: undefined, env: {KUBECONFIG: '/c::/d', HOME: '/h'}, files: ['/c', '/d']},
    {name: 'then ~/.kube/config', flag: undefined, env: {HOME: '/h'}, files: ['/h/.kube/config']},
  ])('$name', ({flag, env, files}) => {
    expect(kubeconfigFiles(flag, env)).toEqual(files);
  });
});

describe('loadKubeconfig', () => {
  it('merges files the way kubectl does: the first file to name an entry wins, missing files are skipped', () => {
    const first = writeKubeconfig([{name: 'shared', server: 'https://127.0.0.1:1001', token: 'first'}]);
    const second = writeKubeconfig([
      {name: 'shared', server: 'https://127.0.0.1:2002', token: 'second'},
      {name: 'other', server: 'https://127.0.0.1:3003'},
    ]);
    const merged = loadKubeconfig([first, '/nonexistent/kubeconfig', second], false);
    expect(merged.files).toEqual([first, second]);
    expect(merged.clusters.get('shared-cluster')?.server).toBe('https://127.0.0.1:1001');
    expect(merged.users.get('shared-user')?.token).toBe('first');
    expect(merged.contexts.has('other')).toBe(true);
  });

  it('rejects a missing file named by --kubeconfig', () => {
    expect(() => loadKubeconfig(['/nonexistent/kubeconfig'], true)).toThrow(InputError);
  });

  it('rejects a file that is not a kubeconfig, naming it', () => {
    const file = path.join(tempDir(), 'broken');
    fs.writeFileSync(file, 'clusters: [');
    expect(() => loadKubeconfig([file], true)).toThrow(new RegExp(`kubeconfig file ${file} cannot be read`));
  });
});

describe('contextKubeConfig', () => {
  const file = writeKubeconfig([
    {name: 'a', server: 'https://127.0.0.1:1001', token: 'token-a'},
    {name: 'b', server: 'https://127.0.0.1:2002', token: 'token-b'},
  ]);
  const merged = loadKubeconfig([file], true);

  it('holds only its own context, cluster and user', () => {
    const kc = contextKubeConfig(merged, 'b');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['b']);
    expect(kc.getClusters().map((c) => c.server)).toEqual(['https://127.0.0.1:2002']);
    expect(kc.getUsers().map((u) => u.token)).toEqual(['token-b']);
    expect(kc.getCurrentContext()).toBe('b');
  });

  it('names the context and the files when the context is missing', () => {
    expect(() => contextKubeConfig(merged, 'nope')).toThrow(`context "nope" is not in the kubeconfig (${file})`);
  });

  it('rejects a cluster without a valid server URL', () => {
    const bad = writeKubeconfig([{name: 'x', server: 'not a url'}]);
    expect(() => contextKubeConfig(loadKubeconfig([bad], true), 'x')).toThrow(/has no valid server URL/);
  });
});
