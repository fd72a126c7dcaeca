import * as http from 'node:http';
import type {AddressInfo} from 'node:net';
import * as path from 'node:path';
import {SandboxCluster, type SandboxFleet, sandboxKubeconfig} from '../../src/sandbox/cluster.js';
import type {ClusterProfile} from '../../src/sandbox/profile.js';
import * as fs from 'node:fs';

/**
 * What the e2e suite does to its clusters beyond the API (stop an API server, add a cluster), for a
 * sandbox fleet running in the global-setup process: a tiny HTTP service on 127.0.0.1 that the test
 * workers call.
 */
export async function startControl(fleet: SandboxFleet, dir: string): Promise<{url: string; close: () => Promise<void>}> {
  const extra = new Map<string, SandboxCluster>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const [, action, name] = (req.url ?? '').split('/');
      const cluster = fleet.clusters.find((c) => c.name === name) ?? extra.get(name ?? '');
      const done = (result: unknown) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(result ?? {}));
      const fail = (err: unknown) => res.writeHead(500).end(String((err as Error).message));
      switch (action) {
        case 'stop-apiserver':
          void cluster!.stopApiserver().then(done, fail);
          return;
        case 'start-apiserver':
          void cluster!.startApiserver().then(done, fail);
          return;
        case 'add-cluster': {
          const added = new SandboxCluster(name!, 20 + extra.size, JSON.parse(body) as ClusterProfile, path.join(dir, name!, 'audit.log'));
          extra.set(name!, added);
          void added.start().then(() => {
            const file = path.join(dir, name!, 'kubeconfig');
            fs.writeFileSync(file, sandboxKubeconfig([{name: name!, url: added.url}]), {mode: 0o600});
            done({kubeconfig: file});
          }, fail);
          return;
        }
        case 'remove-cluster':
          extra.delete(name!);
          void (cluster?.stop() ?? Promise.resolve()).then(done, fail);
          return;
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: async () => {
      await Promise.all([...extra.values()].map((c) => c.stop()));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // The workers' keep-alive connections would hold the close open.
      server.closeAllConnections();
      await closed;
    },
  };
}
