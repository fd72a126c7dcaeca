import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {InputError} from '../../../src/errors.js';
import {Fleet, defaultFleetFile, resolveFleet} from '../../../src/kube/fleet.js';
import {tempDir, writeKubeconfig} from '../../support/kubeconfig.js';

function fleetFile(content: string): string {
  const file = path.join(tempDir(), 'fleet.yaml');
  fs.writeFileSync(file, content);
  return file;
}

describe('resolveFleet', () => {
  const home = tempDir();
  const env = {HOME: home};

  it.each([
    {name: '--context flags, in order', inputs: {contexts: ['onprem', 'cloud'], env}, contexts: ['onprem', 'cloud'], source: '--context'},
    {
      name: 'flags win over the environment',
      inputs: {contexts: ['cloud'], env: {...env, SUPERSKYRAY_CONTEXTS: 'onprem'}},
      contexts: ['cloud'],
      source: '--context',
    },
    {
      name: 'SUPERSKYRAY_CONTEXTS, commas and spaces',
      inputs: {env: {...env, SUPERSKYRAY_CONTEXTS: ' onprem, cloud  edge '}},
      contexts: ['onprem', 'cloud', 'edge'],
      source: 'SUPERSKYRAY_CONTEXTS',
    },
    {
      name: 'a fleet file named by --fleet wins over the environment',
      inputs: {fleetFile: fleetFile('contexts: [a]'), env: {...env, SUPERSKYRAY_CONTEXTS: 'b'}},
      contexts: ['a'],
      source: 'fleet file',
    },
    {
      name: 'SUPERSKYRAY_CONTEXTS wins over SUPERSKYRAY_FLEET',
      inputs: {env: {...env, SUPERSKYRAY_CONTEXTS: 'b', SUPERSKYRAY_FLEET: fleetFile('contexts: [a]')}},
      contexts: ['b'],
      source: 'SUPERSKYRAY_CONTEXTS',
    },
  ])('$name', ({inputs, contexts, source}) => {
    const spec = resolveFleet(inputs);
    expect(spec.contexts).toEqual(contexts);
    expect(spec.source).toBe(source);
  });

  it('reads a fleet file given by --fleet, names and {name} entries alike, and resolves its kubeconfig beside it', () => {
    const file = fleetFile('contexts:\n  - onprem\n  - name: cloud\nkubeconfig: ./kc.yaml\n');
    expect(resolveFleet({fleetFile: file, env})).toEqual({
      contexts: ['onprem', 'cloud'],
      source: 'fleet file',
      file,
      kubeconfig: path.join(path.dirname(file), 'kc.yaml'),
    });
  });

  it('reads a fleet file from SUPERSKYRAY_FLEET', () => {
    const file = fleetFile('contexts: [x, y]');
    expect(resolveFleet({env: {...env, SUPERSKYRAY_FLEET: file}}).contexts).toEqual(['x', 'y']);
  });

  it('reads the default fleet file when it exists', () => {
    const configHome = tempDir();
    const file = defaultFleetFile({XDG_CONFIG_HOME: configHome});
    fs.mkdirSync(path.dirname(file), {recursive: true});
    fs.writeFileSync(file, 'contexts: [only]');
    expect(resolveFleet({env: {XDG_CONFIG_HOME: configHome}}).contexts).toEqual(['only']);
  });

  it.each([
    {name: 'nothing set', inputs: {env}, message: /no fleet is set/},
    {name: 'a missing fleet file', inputs: {fleetFile: '/nonexistent/fleet.yaml', env}, message: /fleet file \/nonexistent\/fleet.yaml does not exist/},
    {name: 'a context named twice', inputs: {contexts: ['a', 'a'], env}, message: /context "a" is named twice in --context/},
    {name: 'an unknown field', inputs: {fleetFile: fleetFile('contexts: [a]\nclusters: [b]'), env}, message: /unknown field "clusters"/},
    {name: 'an entry of the wrong shape', inputs: {fleetFile: fleetFile('contexts: [[a]]'), env}, message: /contexts\[0\] must be a context name/},
    {name: 'an empty list', inputs: {fleetFile: fleetFile('contexts: []'), env}, message: /"contexts" must be a non-empty list/},
    {name: 'broken YAML', inputs: {fleetFile: fleetFile('contexts: [a'), env}, message: /cannot be read/},
  ])('rejects $name with an InputError', ({inputs, message}) => {
    expect(() => resolveFleet(inputs)).toThrow(InputError);
    expect(() => resolveFleet(inputs)).toThrow(message);
  });

  it('never falls back to the contexts of the kubeconfig', () => {
    const kubeconfig = writeKubeconfig([{name: 'prod', server: 'https://127.0.0.1:1'}]);
    expect(() => Fleet.open({kubeconfig, env})).toThrow(/no fleet is set/);
  });
});

describe('Fleet.open', () => {
  it('builds one client per context, in fleet order, with each context server', () => {
    const kubeconfig = writeKubeconfig([
      {name: 'onprem', server: 'https://127.0.0.1:6443'},
      {name: 'cloud', server: 'https://127.0.0.1:7443'},
    ]);
    const fleet = Fleet.open({contexts: ['cloud', 'onprem'], kubeconfig, env: {}});
    expect(fleet.clusters.map((c) => [c.context, c.server])).toEqual([
      ['cloud', 'https://127.0.0.1:7443'],
      ['onprem', 'https://127.0.0.1:6443'],
    ]);
  });

  it('uses the kubeconfig a fleet file names, over KUBECONFIG; --kubeconfig wins over both', () => {
    const dir = tempDir();
    writeKubeconfig([{name: 'edge', server: 'https://127.0.0.1:8443'}], dir);
    const file = path.join(dir, 'fleet.yaml');
    fs.writeFileSync(file, 'contexts: [edge]\nkubeconfig: kubeconfig\n');
    const elsewhere = writeKubeconfig([{name: 'edge', server: 'https://127.0.0.1:9443'}]);
    expect(Fleet.open({fleetFile: file, env: {HOME: tempDir()}}).clusters[0]?.server).toBe('https://127.0.0.1:8443');
    expect(Fleet.open({fleetFile: file, env: {HOME: tempDir(), KUBECONFIG: elsewhere}}).clusters[0]?.server).toBe('https://127.0.0.1:8443');
    expect(Fleet.open({fleetFile: file, kubeconfig: elsewhere, env: {HOME: tempDir()}}).clusters[0]?.server).toBe('https://127.0.0.1:9443');
  });

  it("takes the placeholder image from --placeholder-image, else the fleet file's placeholderImage", () => {
    const dir = tempDir();
    writeKubeconfig([{name: 'edge', server: 'https://127.0.0.1:8443'}], dir);
    const file = path.join(dir, 'fleet.yaml');
    fs.writeFileSync(file, 'contexts: [edge]\nkubeconfig: kubeconfig\nplaceholderImage: registry.internal/pause:3.10\n');
    expect(Fleet.open({fleetFile: file, env: {HOME: tempDir()}}).placeholderImage).toBe('registry.internal/pause:3.10');
    expect(Fleet.open({fleetFile: file, placeholderImage: 'mirror/pause:3.10', env: {HOME: tempDir()}}).placeholderImage).toBe('mirror/pause:3.10');
    fs.writeFileSync(file, 'contexts: [edge]\nkubeconfig: kubeconfig\n');
    expect(Fleet.open({fleetFile: file, env: {HOME: tempDir()}}).placeholderImage).toBeUndefined();
    fs.writeFileSync(file, 'contexts: [edge]\nplaceholderImage: ""\n');
    expect(() => Fleet.open({fleetFile: file, env: {HOME: tempDir()}})).toThrow(/"placeholderImage" must be an image reference/);
  });

  it("takes the claims remote workers mount from the fleet file, --claim winning claim by claim", () => {
    const dir = tempDir();
    writeKubeconfig([{name: 'edge', server: 'https://127.0.0.1:8443'}], dir);
    const file = path.join(dir, 'fleet.yaml');
    fs.writeFileSync(file, 'contexts: [edge]\nkubeconfig: kubeconfig\nclaims: {datasets: datasets-replica, models: models-cache}\n');
    expect(Fleet.open({fleetFile: file, env: {HOME: tempDir()}}).claims).toEqual({datasets: 'datasets-replica', models: 'models-cache'});
    expect(Fleet.open({fleetFile: file, claims: {models: 'models-nvme'}, env: {HOME: tempDir()}}).claims).toEqual({datasets: 'datasets-replica', models: 'models-nvme'});
    fs.writeFileSync(file, 'contexts: [edge]\nclaims: [datasets]\n');
    expect(() => Fleet.open({fleetFile: file, env: {HOME: tempDir()}})).toThrow(/"claims" must map each home claim/);
  });

  it('takes the namespace the contexts set as the default for -n, and refuses two that differ', () => {
    const dir = tempDir();
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: a, cluster: {server: "https://127.0.0.1:1"}}, {name: b, cluster: {server: "https://127.0.0.1:2"}}]',
        'users: [{name: u, user: {}}]',
        'contexts:',
        '  - {name: onprem, context: {cluster: a, user: u, namespace: ml}}',
        '  - {name: cloud, context: {cluster: b, user: u}}',
        '  - {name: other, context: {cluster: b, user: u, namespace: ray}}',
        '',
      ].join('\n'),
    );
    expect(Fleet.open({contexts: ['onprem', 'cloud'], kubeconfig, env: {}}).namespace).toBe('ml');
    expect(Fleet.open({contexts: ['cloud'], kubeconfig, env: {}}).namespace).toBeUndefined();
    const split = Fleet.open({contexts: ['onprem', 'other'], kubeconfig, env: {}});
    expect(() => split.namespace).toThrow(/contexts "onprem" and "other" set different namespaces \("ml", "ray"\)/);
  });
});
