import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yaml from 'js-yaml';

export interface TestContext {
  name: string;
  server: string;
  token?: string;
  username?: string;
  password?: string;
}

/** Writes a kubeconfig with one cluster, one user and one context per entry; returns its path. */
export function writeKubeconfig(contexts: TestContext[], dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssr-kc-'))): string {
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    file,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: contexts.map((c) => ({name: `${c.name}-cluster`, cluster: {server: c.server}})),
      users: contexts.map((c) => ({
        name: `${c.name}-user`,
        user: c.token ? {token: c.token} : c.username ? {username: c.username, password: c.password} : {},
      })),
      contexts: contexts.map((c) => ({name: c.name, context: {cluster: `${c.name}-cluster`, user: `${c.name}-user`}})),
      'current-context': contexts[0]?.name ?? '',
    }),
  );
  return file;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ssr-test-'));
}
