import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import {sendJson, TestApiServer} from '../../support/api-server.js';
import {writeKubeconfig} from '../../support/kubeconfig.js';

describe('per-context credentials', () => {
  let onprem: TestApiServer;
  let cloud: TestApiServer;

  beforeAll(async () => {
    const namespace = (req: {path: string}, res: import('node:http').ServerResponse) =>
      sendJson(res, 200, {kind: 'Namespace', metadata: {name: req.path.split('/').pop(), uid: 'u'}});
    onprem = await TestApiServer.start(namespace);
    cloud = await TestApiServer.start(namespace);
  });
  afterAll(async () => {
    await onprem.stop();
    await cloud.stop();
  });

  it('sends each cluster only its own credentials, even with requests interleaved', async () => {
    const kubeconfig = writeKubeconfig([
      {name: 'onprem', server: onprem.url, token: 'token-for-onprem'},
      {name: 'cloud', server: cloud.url, username: 'alice', password: 'cloud-password'},
    ]);
    const fleet = Fleet.open({contexts: ['onprem', 'cloud'], kubeconfig, env: {}});
    const [a, b] = fleet.clusters;
    await Promise.all(
      Array.from({length: 10}, (_, i) => (i % 2 === 0 ? a! : b!).get(RESOURCES.namespaces, `ns-${i}`)),
    );

    expect(onprem.requests).toHaveLength(5);
    expect(cloud.requests).toHaveLength(5);
    for (const req of onprem.requests) expect(req.headers.authorization).toBe('Bearer token-for-onprem');
    const basic = `Basic ${Buffer.from('alice:cloud-password').toString('base64')}`;
    for (const req of cloud.requests) expect(req.headers.authorization).toBe(basic);
  });
});
