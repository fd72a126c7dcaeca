import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {describe, expect, it} from 'vitest';
import {ClusterClient} from '../../../src/kube/client.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject} from '../../../src/kube/types.js';
import {SandboxApiServer} from '../../../src/sandbox/apiserver.js';
import {Store} from '../../../src/sandbox/store.js';
import {REPO, run} from '../../support/cli.js';
import {FAST_RETRY} from '../../support/client.js';
import {tempDir, writeKubeconfig} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';

const COMPLETE_JS = path.join(REPO, 'bin', 'complete.js');

// What kubectl runs on Tab: kubectl_complete-superskyray WORDS..., answered in Cobra's __complete format.
describe('kubectl_complete-superskyray', () => {
  it('completes contexts from the kubeconfig without contacting any cluster', async () => {
    const kubeconfig = writeKubeconfig([{name: 'onprem', server: 'https://127.0.0.1:1'}, {name: 'cloud', server: 'https://127.0.0.1:1'}]);
    const result = await run(process.execPath, [COMPLETE_JS, 'scale', 'app', '--context', ''], {KUBECONFIG: kubeconfig});
    expect(result).toMatchObject({code: 0, stdout: 'onprem\ncloud\n:4\n'});
  });

  it('answers candidates, not help, when the words hold --help', async () => {
    const result = await run(process.execPath, [COMPLETE_JS, 'status', '--help', '--con']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^--context\t[^\n]+\n:4\n$/);
  });

  it('offers the groups of the fleet from a listing kept on disk, listed again in the background, never while Tab waits', async () => {
    const server = new SandboxApiServer(new Store(), {});
    const port = await server.listen();
    try {
      const agent = new http.Agent({keepAlive: true});
      const client = new ClusterClient({context: 'onprem', server: `http://127.0.0.1:${port}`, credentials: {prepare: async () => ({agent, headers: {}})}, retry: FAST_RETRY});
      await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'ml'}});
      const app = yaml.load(fs.readFileSync(path.join(REPO, 'test/e2e/fixtures/raycluster-small.yaml'), 'utf8')) as KubeObject;
      for (const [name, labels] of [['app', {'superskyray.io/managed-by': 'kubectl-superskyray', 'superskyray.io/group': 'app'}], ['theirs', {}]] as const) {
        await client.create(RESOURCES.rayclusters, {...app, metadata: {name, labels}}, {namespace: 'ml'});
      }
      const cache = tempDir();
      const env = {KUBECONFIG: writeKubeconfig([{name: 'onprem', server: `http://127.0.0.1:${port}`}]), XDG_CACHE_HOME: cache};
      const words = [COMPLETE_JS, 'status', '--context', 'onprem', '-n', 'ml', ''];

      // Nothing listed yet: no names, at once; the listing starts for the next Tab.
      expect(await run(process.execPath, words, env)).toMatchObject({code: 0, stdout: ':4\n'});
      const dir = path.join(cache, 'kubectl-superskyray');
      await waitFor('the listing written', () => (fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.json')) ? true : undefined));
      expect(await run(process.execPath, words, env)).toMatchObject({code: 0, stdout: 'app\tRayCluster in ml, home onprem\n:4\n'});
      // watch takes several groups; scale takes one.
      expect((await run(process.execPath, [COMPLETE_JS, 'watch', 'app', '--context', 'onprem', '-n', 'ml', ''], env)).stdout).toBe('app\tRayCluster in ml, home onprem\n:4\n');
      expect((await run(process.execPath, [COMPLETE_JS, 'scale', 'app', '--context', 'onprem', '-n', 'ml', ''], env)).stdout).toBe(':4\n');
      // Another namespace's names are not offered.
      expect((await run(process.execPath, [COMPLETE_JS, 'status', '--context', 'onprem', '-n', 'other', ''], env)).stdout).toBe(':4\n');
      const [file] = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
      expect(fs.statSync(path.join(dir, file!)).mode & 0o777).toBe(0o600);
    } finally {
      await server.close();
    }
  });
});
