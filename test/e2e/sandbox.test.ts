import * as fs from 'node:fs';
import * as path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {cli, run} from '../support/cli.js';
import {tempDir} from '../support/kubeconfig.js';

// kubectl is what CI installs for the e2e suite; here it reads a sandbox fleet as it reads a cluster.
describe('kubectl against a sandbox fleet', () => {
  const dir = tempDir();
  const kubeconfig = path.join(dir, 'kubeconfig');
  const kubectl = (args: string[], stdin?: string) => run('kubectl', ['--kubeconfig', kubeconfig, ...args], {}, stdin);

  beforeAll(async () => {
    expect((await cli(['sandbox', 'up', '--dir', dir])).code).toBe(0);
    const placed = await cli(['runbook', 'run', path.join(process.cwd(), 'examples', 'runbooks', 'manual-scale.yaml'), '--kubeconfig', kubeconfig, '--set', 'namespace=demo']);
    expect(placed.code).toBe(0);
  });
  afterAll(async () => {
    await cli(['sandbox', 'down', '--dir', dir]);
  });

  it('lists pods in every namespace, with their status, IP and node', async () => {
    const pods = await kubectl(['--context', 'onprem', 'get', 'pods', '-A', '-o', 'wide']);
    expect(pods.stderr).toBe('');
    expect(pods.code).toBe(0);
    expect(pods.stdout).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    expect(pods.stdout).toMatch(/^demo\s+manual-demo-head-\w{5}\s+1\/1\s+Running\s+0\s+\S+\s+10\.100\.0\.\d+\s+onprem-node-0/m);
    expect(pods.stdout.match(/^demo\s+manual-demo-cpu-worker-\w{5}\s+1\/1\s+Running/gm)).toHaveLength(2);
  });

  it('lists RayClusters, describes a pod with its events, and reads raw JSON', async () => {
    const clusters = await kubectl(['--context', 'onprem', 'get', 'rayclusters', '-A']);
    expect(clusters.code).toBe(0);
    expect(clusters.stdout).toMatch(/^demo\s+manual-demo\s+2\s+2\s+ready\s+/m);
    const described = await kubectl(['--context', 'onprem', 'describe', 'raycluster', 'manual-demo', '-n', 'demo']);
    expect(described.stdout).toMatch(/^Name:\s+manual-demo$/m);
    const nodes = await kubectl(['--context', 'cloud', 'get', 'nodes', '-o', 'name']);
    expect(nodes.stdout).toBe('node/cloud-node-0\nnode/cloud-node-1\n');
  });

  it('takes kubectl\'s typed subcommands (protobuf), and holds a ServiceAccount to its RBAC under --as', async () => {
    const onprem = (args: string[]) => kubectl(['--context', 'onprem', ...args]);
    for (const args of [
      ['create', 'namespace', 'team'],
      ['create', 'serviceaccount', 'bot', '-n', 'team'],
      ['create', 'secret', 'generic', 'creds', '--from-literal=password=x', '-n', 'team'],
      ['create', 'role', 'pod-reader', '--verb=get,list', '--resource=pods', '-n', 'team'],
      ['create', 'rolebinding', 'bot', '--role=pod-reader', '--serviceaccount=team:bot', '-n', 'team'],
    ]) {
      const made = await onprem(args);
      expect(made.stderr, args.join(' ')).toBe('');
      expect(made.stdout).toMatch(/ created\n$/);
    }
    expect((await onprem(['get', 'secret', 'creds', '-n', 'team', '-o', 'jsonpath={.type}'])).stdout).toBe('Opaque');
    expect((await onprem(['get', 'rolebindings', '-n', 'team', '-o', 'wide'])).stdout).toMatch(/^bot\s+Role\/pod-reader\s+\d+s\s+team\/bot\s*$/m);
    const token = await onprem(['create', 'token', 'bot', '-n', 'team']);
    expect(token.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const bot = ['--as', 'system:serviceaccount:team:bot'];
    expect((await onprem(['auth', 'whoami', ...bot])).stdout).toMatch(/^Username\s+system:serviceaccount:team:bot$/m);
    expect((await onprem(['auth', 'can-i', '--list', '-n', 'team', ...bot])).stdout).toMatch(/^pods\s+\[\]\s+\[\]\s+\[get list\]$/m);
    expect((await onprem(['auth', 'can-i', 'list', 'pods', '-n', 'team', ...bot])).stdout).toBe('yes\n');
    const cannot = await onprem(['auth', 'can-i', 'delete', 'pods', '-n', 'team', ...bot]);
    expect(cannot.stdout).toBe('no\n');
    expect(cannot.code).toBe(1);
    expect((await onprem(['get', 'pods', '-n', 'team', ...bot])).stderr).toBe('No resources found in team namespace.\n');
    const denied = await onprem(['get', 'secrets', '-n', 'team', ...bot]);
    expect(denied.stderr).toBe('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:team:bot" cannot list resource "secrets" in API group "" in the namespace "team"\n');
    expect(denied.code).toBe(1);
  });

  it('applies manifests as kubectl apply does, with its field validation and its three-way merge', async () => {
    const apply = (text: string) => kubectl(['--context', 'cloud', 'apply', '-f', '-'], text);
    const configMap = (labels: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default${labels}}\ndata: {x: "1"}\n`;
    expect(await apply(configMap(', labels: {tier: a}'))).toMatchObject({code: 0, stdout: 'configmap/settings created\n', stderr: ''});
    // A label the last apply had and this one has not is removed.
    expect(await apply(configMap(''))).toMatchObject({code: 0, stdout: 'configmap/settings configured\n'});
    expect((await kubectl(['--context', 'cloud', 'get', 'configmap', 'settings', '-o', 'jsonpath={.metadata.labels}'])).stdout).toBe('');
    const manifest = fs.readFileSync(path.join(process.cwd(), 'examples', 'raycluster-manual.yaml'), 'utf8');
    expect(await apply(manifest)).toMatchObject({code: 0, stdout: 'raycluster.ray.io/manual-demo created\n', stderr: ''});
    expect(await apply(manifest)).toMatchObject({code: 0, stdout: 'raycluster.ray.io/manual-demo unchanged\n'});
  });
});
