import {afterEach, describe, expect, it} from 'vitest';
import type {Pod} from '../../../src/kube/types.js';
import {preflightTargets, type PreflightSubject} from '../../../src/reconcile/preflight.js';
import {sendJson, sendStatus, TestApiServer, type RecordedRequest} from '../../support/api-server.js';
import {clientFor} from '../../support/client.js';

const servers: TestApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const subject: PreflightSubject = {namespace: 'ml', rayCluster: 'app', headService: 'app-head-svc', mesh: 'cilium', homeClusterId: 'home-id'};
const worker = (extra: Record<string, unknown> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name: 'app-gpu-worker-abcde', namespace: 'ml', labels: {'ray.io/group': 'gpu'}},
  spec: {containers: [{name: 'ray-worker', image: 'ray', resources: {requests: {cpu: '1'}}}], ...extra},
});

/** A target cluster that answers the preflight's reads as `answer` says, and records them. */
async function target(answer: (req: RecordedRequest) => {code: number; body?: unknown; reason?: string}) {
  const server = await TestApiServer.start((req, res) => {
    const {code, body, reason} = answer(req);
    if (code === 200) sendJson(res, 200, body ?? {});
    else sendStatus(res, code, reason ?? 'Failure', `${reason ?? 'failure'} on purpose`);
  });
  servers.push(server);
  return {server, client: clientFor(server, {context: 'cloud'})};
}

const emptyList = {kind: 'List', metadata: {}, items: []};
/** The namespace is there and everything else is absent, except what `overrides` answers. */
const cluster = (overrides: (req: RecordedRequest) => {code: number; body?: unknown; reason?: string} | undefined = () => undefined) => (req: RecordedRequest) =>
  overrides(req) ??
  (req.path === '/api/v1/namespaces/ml'
    ? {code: 200, body: {kind: 'Namespace', metadata: {name: 'ml'}}}
    : req.path.endsWith('/resourcequotas')
      ? {code: 200, body: emptyList}
      : req.method === 'POST'
        ? {code: 201, body: {kind: 'Pod', metadata: {name: 'x'}}}
        : {code: 404, reason: 'NotFound'});

describe('preflightTargets', () => {
  it('reads each thing once per cluster, for every worker group, and asks its admission once per group', async () => {
    const {server, client} = await target(cluster());
    const workers = new Map([['gpu', worker({priorityClassName: 'batch'})], ['cpu', worker({priorityClassName: 'batch'})]]);
    const checks = await preflightTargets(subject, workers, [{client, id: 'cloud-id'}], {copySecrets: false, dryRunCreate: true});
    expect(checks.get('cloud-id')?.refusals).toEqual(
      new Map([
        ['gpu', ['PriorityClass batch is not there in cloud, and its admission refuses a pod that names it']],
        ['cpu', ['PriorityClass batch is not there in cloud, and its admission refuses a pod that names it']],
      ]),
    );
    expect(server.requests.filter((r) => r.path.endsWith('/priorityclasses/batch'))).toHaveLength(1);
    // Refused by the reads already: the server's admission is not asked.
    expect(server.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });

  it.each([
    ['forbidden', 403, 'Forbidden', 'forbidden: bind the roles of deploy/rbac there'],
    ['failing', 500, 'InternalError', 'InternalError on purpose'],
  ])('refuses a cluster whose quotas it cannot read (%s), saying so, never taking them to be none', async (_, code, reason, why) => {
    const {client} = await target(cluster((req) => (req.path.endsWith('/resourcequotas') ? {code, reason} : undefined)));
    const checks = await preflightTargets(subject, new Map([['gpu', worker()]]), [{client, id: 'cloud-id'}], {copySecrets: false, dryRunCreate: false});
    expect(checks.get('cloud-id')?.refusals.get('gpu')?.[0]).toMatch(new RegExp(`^cannot read the ResourceQuotas of namespace ml in cloud \\(${why.replace(/[()]/g, '\\$&')}`));
  });

  it('takes a dry run refused for a full quota as room to wait for, and one refused for anything else as a refusal', async () => {
    const refusing = cluster((req) => (req.method === 'POST' ? {code: 403, reason: 'Forbidden'} : undefined));
    const quotaFull = await TestApiServer.start((req, res) =>
      req.method === 'POST'
        ? sendStatus(res, 403, 'Forbidden', 'pods "x" is forbidden: exceeded quota: small, requested: requests.cpu=1, used: requests.cpu=1, limited: requests.cpu=1')
        : (() => {
            const a = cluster()(req);
            return a.code === 200 ? sendJson(res, 200, a.body) : sendStatus(res, a.code, a.reason ?? '', 'absent');
          })(),
    );
    servers.push(quotaFull);
    const full = await preflightTargets(subject, new Map([['gpu', worker()]]), [{client: clientFor(quotaFull, {context: 'cloud'}), id: 'cloud-id'}], {copySecrets: false, dryRunCreate: true});
    expect(full.get('cloud-id')?.refusals.get('gpu')).toEqual([]);
    const failing = await target(cluster((req) => (req.method === 'POST' ? {code: 500, reason: 'InternalError'} : undefined)));
    const unknown = await preflightTargets(subject, new Map([['gpu', worker()]]), [{client: failing.client, id: 'cloud-id'}], {copySecrets: false, dryRunCreate: true});
    expect(unknown.get('cloud-id')?.refusals.get('gpu')).toEqual(['cannot read the answer to a dry-run create of a remote worker in cloud (InternalError on purpose), so whether the workers may run there is unknown']);
    const {client} = await target(refusing);
    const refused = await preflightTargets(subject, new Map([['gpu', worker()]]), [{client, id: 'cloud-id'}], {copySecrets: false, dryRunCreate: true});
    expect(refused.get('cloud-id')?.refusals.get('gpu')).toEqual(['a dry-run create of a remote worker is refused in cloud: Forbidden on purpose']);
  });
});
