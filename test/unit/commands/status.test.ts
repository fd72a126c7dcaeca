import * as fs from 'node:fs';
import * as path from 'node:path';
import {pathToFileURL} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {sendJson, sendStatus, TestApiServer, type RecordedRequest} from '../../support/api-server.js';
import {cli, REPO, run, RUN_JS} from '../../support/cli.js';
import {tempDir, writeKubeconfig} from '../../support/kubeconfig.js';

const GiB = 2 ** 30;

/** Answers the four questions status asks, the way an API server would, for one small cluster. */
function clusterApi(opts: {uid: string; version: string; token: string; forbidPods?: boolean}) {
  return (req: RecordedRequest, res: import('node:http').ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) return sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
    switch (req.path) {
      case '/version':
        return sendJson(res, 200, {major: '1', minor: '35', gitVersion: opts.version});
      case '/api/v1/namespaces/kube-system':
        return sendJson(res, 200, {kind: 'Namespace', metadata: {name: 'kube-system', uid: opts.uid}});
      case '/api/v1/nodes':
        return sendJson(res, 200, {
          kind: 'NodeList',
          metadata: {resourceVersion: '7'},
          items: [
            {
              metadata: {name: 'gpu-1'},
              status: {allocatable: {cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '1', pods: '110'}, conditions: [{type: 'Ready', status: 'True'}]},
            },
          ],
        });
      case '/api/v1/pods':
        if (opts.forbidPods) return sendStatus(res, 403, 'Forbidden', 'pods is forbidden: User "bob" cannot list resource "pods"');
        return sendJson(res, 200, {
          kind: 'PodList',
          metadata: {resourceVersion: '7'},
          items: [
            {metadata: {name: 'head'}, spec: {nodeName: 'gpu-1', containers: [{name: 'ray', resources: {requests: {cpu: '2', memory: '8Gi'}}}]}, status: {phase: 'Running'}},
            {metadata: {name: 'worker'}, spec: {containers: [{name: 'ray', resources: {requests: {cpu: '4', 'nvidia.com/gpu': '1'}}}]}, status: {phase: 'Pending'}},
          ],
        });
      default:
        return sendStatus(res, 404, 'NotFound', `${req.path} not found`);
    }
  };
}

describe('kubectl superskyray status', () => {
  let onprem: TestApiServer;
  let restricted: TestApiServer;
  let kubeconfig: string;

  beforeAll(async () => {
    onprem = await TestApiServer.start(clusterApi({uid: 'uid-onprem', version: 'v1.35.1', token: 'onprem-token'}));
    restricted = await TestApiServer.start(clusterApi({uid: 'uid-restricted', version: 'v1.34.2', token: 'r-token', forbidPods: true}));
    const down = await TestApiServer.start(() => undefined);
    const downUrl = down.url;
    await down.stop();
    kubeconfig = writeKubeconfig([
      {name: 'onprem', server: onprem.url, token: 'onprem-token'},
      {name: 'restricted', server: restricted.url, token: 'r-token'},
      {name: 'down', server: downUrl, token: 'x'},
      {name: 'wrong-token', server: onprem.url, token: 'stolen'},
    ]);
  });
  afterAll(async () => {
    await onprem.stop();
    await restricted.stop();
  });

  it('reports a healthy cluster with its identity and capacity, exit 0', async () => {
    const result = await cli(['status', '--kubeconfig', kubeconfig, '--context', 'onprem']);
    expect(result).toMatchObject({code: 0, stderr: ''});
    expect(result.stdout.split('\n')).toEqual([
      'CONTEXT   STATUS   VERSION   CLUSTER-ID   NODES   CPU         MEMORY           GPU        PENDING',
      'onprem    Ready    v1.35.1   uid-onpr     1/1     2/8 (25%)   8Gi/32Gi (25%)   0/1 (0%)   1',
      '',
    ]);
  });

  it('prints data with -o json: cluster id, version, capacity in cores and bytes', async () => {
    const result = await cli(['status', '--kubeconfig', kubeconfig, '--context', 'onprem', '-o', 'json']);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.clusters).toEqual([
      {
        context: 'onprem',
        server: onprem.url,
        state: 'Ready',
        reachable: true,
        version: 'v1.35.1',
        clusterId: 'uid-onprem',
        nodes: {total: 1, ready: 1, schedulable: 1},
        pods: {bound: 1, pending: 1},
        resources: {
          cpu: {allocatable: 8, requested: 2},
          memory: {allocatable: 32 * GiB, requested: 8 * GiB},
          'nvidia.com/gpu': {allocatable: 1, requested: 0},
          pods: {allocatable: 110, requested: 1},
        },
      },
    ]);
  });

  it('still reports the others when one cluster is down, unauthorized or partly forbidden, and exits 1', async () => {
    const args = ['status', '--kubeconfig', kubeconfig, '-o', 'yaml'];
    const result = await cli([...args, '--context', 'onprem', '--context', 'down', '--context', 'restricted', '--context', 'wrong-token']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^apiVersion: superskyray.io\/v1alpha1\nkind: FleetStatus\n/);
    const states = [...result.stdout.matchAll(/context: (\S+)\n\s+server: \S+\n\s+state: (\S+)/g)].map((m) => `${m[1]}=${m[2]}`);
    expect(states).toEqual(['onprem=Ready', 'down=Unreachable', 'restricted=Degraded', 'wrong-token=Unauthorized']);

    const table = await cli(['status', '--kubeconfig', kubeconfig, '--context', 'down', '--context', 'restricted']);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^down\s+Unreachable\s+-\s+-\s+-\s+-/m);
    expect(table.stdout).toMatch(/^restricted\s+Degraded\s+v1\.34\.2\s+uid-rest\s+-/m);
    expect(table.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^warning: context "down" is unreachable: connection refused \(127\.0\.0\.1:\d+\); check that the cluster of context "down" is up/),
      expect.stringMatching(/^warning: context "restricted" is degraded: pods is forbidden: User "bob" cannot list resource "pods"; ask for RBAC access/),
    ]);
  });

  it('takes the fleet from SUPERSKYRAY_CONTEXTS and KUBECONFIG', async () => {
    const result = await cli(['status', '-o', 'json'], {KUBECONFIG: `/nonexistent:${kubeconfig}`, SUPERSKYRAY_CONTEXTS: 'onprem'});
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).clusters.map((c: {context: string}) => c.context)).toEqual(['onprem']);
  });

  it.each([
    {name: 'no fleet', args: ['status'], message: /^error: no fleet is set; name the clusters with --context/},
    {name: 'an unknown context', args: ['status', '--context', 'nope'], message: /^error: context "nope" is not in the kubeconfig/},
    {name: 'a bad output format', args: ['status', '--context', 'onprem', '-o', 'xml'], message: /^error: Expected --output=xml to be one of: table, wide, json, yaml/},
    {name: 'a bad timeout', args: ['status', '--context', 'onprem', '--timeout', 'soon'], message: /^error: --timeout: "soon" is not a duration/},
    {name: 'an unknown flag', args: ['status', '--frobnicate'], message: /^error: Nonexistent flag: --frobnicate/},
  ])('rejects $name with one line and exit 2, contacting nothing', async ({args, message}) => {
    const before = onprem.requests.length;
    const result = await cli(args, {KUBECONFIG: kubeconfig});
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(onprem.requests.length).toBe(before);
  });
  it('runs through kubectl when kubectl-superskyray is on the PATH', async () => {
    const bin = tempDir();
    fs.symlinkSync(RUN_JS, path.join(bin, 'kubectl-superskyray'));
    const result = await run('kubectl', ['superskyray', 'status', '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'restricted'], {
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^onprem\s+Ready\s+v1\.35\.1/m);
    expect(result.stdout).toMatch(/^restricted\s+Degraded/m);
  });
});

describe('the plugin as kubectl sees it', () => {
  it('lists its commands under "kubectl superskyray" in --help', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('$ kubectl superskyray [COMMAND]');
    expect(result.stdout).toMatch(/^\s+status\s+Show every cluster of the fleet/m);
  });

  it('shows help for "help COMMAND", as kubectl does', async () => {
    const result = await cli(['help', 'status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('$ kubectl superskyray status');
  });

  it('rejects an unknown command with one line and exit 2', async () => {
    const result = await cli(['stauts']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: unknown command "stauts" for "kubectl superskyray"; did you mean "status"\? the commands are: ([a-z -]+, )+status(, [a-z -]+)* \(see "kubectl superskyray --help"\)\n$/);
  });

  it('does not load the Kubernetes client or ink for --help', async () => {
    const record = path.join(tempDir(), 'imports.txt');
    const result = await run(process.execPath, ['--import', path.join(REPO, 'test/support/import-recorder.mjs'), RUN_JS, 'status', '--help'], {
      RECORD_IMPORTS: record,
    });
    expect(result.code).toBe(0);
    const imports = fs.readFileSync(record, 'utf8');
    expect(imports).toContain(pathToFileURL(path.join(REPO, 'dist', 'bundle.js')).href);
    expect(imports).not.toContain('@kubernetes/client-node');
    expect(imports).not.toMatch(/node_modules\/ink\//);
    // dist/ is one bundle in chunks (scripts/build.mjs); the build's metafile says which sources each holds.
    const meta = JSON.parse(fs.readFileSync(path.join(REPO, 'bundle-meta.json'), 'utf8')) as {outputs: Record<string, {inputs: Record<string, unknown>}>};
    const sources = (files: string[]) => files.flatMap((file) => Object.keys(meta.outputs[file]!.inputs));
    const client = (source: string) => source.includes('node_modules/@kubernetes/client-node/');
    const ink = (source: string) => source.includes('node_modules/ink/');
    // Both are in the bundle, so that their absence below means something.
    expect(sources(Object.keys(meta.outputs)).some(client)).toBe(true);
    expect(sources(Object.keys(meta.outputs)).some(ink)).toBe(true);
    const loaded = Object.keys(meta.outputs).filter((file) => imports.includes(pathToFileURL(path.join(REPO, file)).href));
    expect(loaded).toContain(path.join('dist', 'bundle.js'));
    expect(sources(loaded).filter(client)).toEqual([]);
    expect(sources(loaded).filter(ink)).toEqual([]);
  });
});
