import yaml from 'js-yaml';
import {describe, expect, it} from 'vitest';
import {thrown} from '../../support/errors.js';
import {readGroupManifest} from '../../../src/kuberay/manifest.js';


const cluster = (name = 'small', namespace?: string) => `apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: ${name}${namespace ? `\n  namespace: ${namespace}` : ''}
spec:
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
          - name: ray-head
            image: rayproject/ray:2.9.0
  workerGroupSpecs:
    - groupName: cpu
      replicas: 2
      template:
        spec:
          containers:
            - name: ray-worker
              image: rayproject/ray:2.9.0
`;
const configMap = (name: string, namespace?: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}${namespace ? `\n  namespace: ${namespace}` : ''}
data:
  train.py: print("hi")
`;
const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {token: abc}\n';
const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n';

const names = (objects: Array<{kind?: string; metadata?: {name?: string}}>) => objects.map((o) => `${o.kind}/${o.metadata?.name}`);

describe('readGroupManifest: what it reads', () => {
  it.each<{name: string; text: string; ray: string; dependencies: string[]; namespace?: string}>([
    {name: 'a lone RayCluster', text: cluster(), ray: 'RayCluster/small', dependencies: []},
    {
      name: 'dependencies in the order they came, around the Ray object',
      text: [configMap('code'), cluster(), secret, 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ray}\n', 'apiVersion: v1\nkind: Service\nmetadata: {name: dash}\nspec: {ports: [{port: 8265}]}\n'].join('---\n'),
      ray: 'RayCluster/small',
      dependencies: ['ConfigMap/code', 'Secret/creds', 'ServiceAccount/ray', 'Service/dash'],
    },
    {
      name: 'comments, a leading ---, empty documents and a trailing ---',
      text: `# my app\n---\n${cluster()}---\n---\n# nothing here\n---\n${configMap('code')}---\n`,
      ray: 'RayCluster/small',
      dependencies: ['ConfigMap/code'],
    },
    {
      name: 'a List is expanded',
      text: `apiVersion: v1\nkind: List\nitems:\n${[cluster(), configMap('code')].map((t) => `  - ${t.trimEnd().split('\n').join('\n    ')}`).join('\n')}\n---\n${secret}`,
      ray: 'RayCluster/small',
      dependencies: ['ConfigMap/code', 'Secret/creds'],
    },
    {
      name: 'JSON, as kubectl also takes',
      text: JSON.stringify(yaml.load(cluster('from-json'))),
      ray: 'RayCluster/from-json',
      dependencies: [],
    },
    {
      name: 'one namespace named by some objects and left out by others',
      text: [cluster('small', 'ml'), configMap('code'), configMap('data', 'ml')].join('---\n'),
      ray: 'RayCluster/small',
      dependencies: ['ConfigMap/code', 'ConfigMap/data'],
      namespace: 'ml',
    },
    {
      name: 'a RayJob',
      text: `apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: train}\nspec:\n  entrypoint: python train.py\n  rayClusterSpec:\n    headGroupSpec:\n      template: {spec: {containers: [{name: ray-head, image: ray}]}}\n`,
      ray: 'RayJob/train',
      dependencies: [],
    },
  ])('$name', ({text, ray, dependencies, namespace}) => {
    const manifest = readGroupManifest(text, 'app.yaml');
    expect(names([manifest.ray])).toEqual([ray]);
    expect(names(manifest.dependencies)).toEqual(dependencies);
    expect(manifest.namespace).toBe(namespace);
  });

  it('keeps values as written: no dates, numbers stay numbers', () => {
    const text = `${configMap('code')}---\n${cluster()}`.replace('train.py: print("hi")', 'created: 2024-01-01\n  version: "2"');
    const manifest = readGroupManifest(text, 'app.yaml');
    expect(manifest.dependencies[0]?.data).toEqual({created: '2024-01-01', version: '2'});
    expect((manifest.ray.spec as {workerGroupSpecs: Array<{replicas: unknown}>}).workerGroupSpecs[0]?.replicas).toBe(2);
  });

  it('gives back copies, even of objects YAML aliases share', () => {
    const text = `apiVersion: v1\nkind: List\nitems:\n  - &cm {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: &d {k: v}}\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: *d}\n---\n${cluster()}`;
    const manifest = readGroupManifest(text, 'app.yaml');
    (manifest.dependencies[0]!.data as Record<string, string>).k = 'changed';
    expect(manifest.dependencies[1]?.data).toEqual({k: 'v'});
  });

  it.each([
    '# header\n---\na: 1\n---\n---\nb: 2\n',
    'a: 1\n---\n# only a comment\n---\nb: 2\n--- {c: 3}\n---\n',
    '%YAML 1.2\n---\na: 1\n--- \nb: 2\n',
    '---\n---\n---\na: 1\n',
  ])('numbers documents the way a YAML stream does: %j', (stream) => {
    // Each non-empty document is replaced by a Deployment: the error must name the number loadAll gives it.
    const firstNonEmpty = yaml.loadAll(stream).findIndex((d) => d !== null && d !== undefined) + 1;
    const text = stream.replace(/^(--- )?\{?a: 1\}?$/m, (_, marker: string | undefined) => `${marker ?? ''}${deployment.trimEnd()}`);
    expect(thrown(() => readGroupManifest(text, 'app.yaml')).message).toBe(
      `app.yaml: document ${firstNonEmpty}: kind "Deployment" is not part of a Ray app group (RayCluster, RayService or RayJob plus ConfigMap, Secret, Service, ServiceAccount)`,
    );
  });
});

/** The 1-based line of the first line holding `needle`. */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((line) => line.includes(needle)) + 1;
const brokenYaml = `${cluster()}---\n${configMap('code')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [oops}\n`;
const duplicateKey = `${cluster()}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n`;

describe('readGroupManifest: what it refuses, whole', () => {
  it.each<{name: string; text: string; namespace?: string; message: string; fix: string}>([
    {
      name: 'a Deployment in document 3',
      text: [cluster(), configMap('code'), deployment].join('---\n'),
      message: 'app.yaml: document 3: kind "Deployment" is not part of a Ray app group (RayCluster, RayService or RayJob plus ConfigMap, Secret, Service, ServiceAccount)',
      fix: 'Apply the Deployment separately, or remove it from app.yaml.',
    },
    {
      name: 'broken YAML, blamed on its line',
      text: brokenYaml,
      message: `app.yaml: document 3: is not valid YAML at line ${lineOf(brokenYaml, '[oops}')}: missed comma between flow collection entries`,
      fix: `Correct the YAML at line ${lineOf(brokenYaml, '[oops}')} of app.yaml.`,
    },
    {
      name: 'a duplicated key',
      text: duplicateKey,
      message: `app.yaml: document 2: is not valid YAML at line ${lineOf(duplicateKey, 'name: b')}: duplicated mapping key`,
      fix: `Correct the YAML at line ${lineOf(duplicateKey, 'name: b')} of app.yaml.`,
    },
    {
      name: 'no Ray object',
      text: [configMap('code'), secret].join('---\n'),
      message: 'app.yaml: holds no RayCluster, RayService or RayJob; a Ray app group needs exactly one',
      fix: 'Add the Ray object to app.yaml, or pass the file that holds it.',
    },
    {
      name: 'an empty file',
      text: '# nothing yet\n',
      message: 'app.yaml: holds no RayCluster, RayService or RayJob; a Ray app group needs exactly one',
      fix: 'Add the Ray object to app.yaml, or pass the file that holds it.',
    },
    {
      name: 'two Ray objects',
      text: [cluster('one'), configMap('code'), cluster('two')].join('---\n'),
      message: 'app.yaml: document 3: RayCluster "two" is a second Ray object; document 1 already holds RayCluster "one"',
      fix: 'Keep one RayCluster, RayService or RayJob per file: a group is one Ray app.',
    },
    {
      name: 'a missing metadata.name',
      text: [cluster(), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: code-}\n'].join('---\n'),
      message: 'app.yaml: document 2: metadata.name is missing from the ConfigMap',
      fix: 'Give the ConfigMap a metadata.name; generateName is not supported because the tool must find the object again.',
    },
    {
      name: 'objects in different namespaces',
      text: [configMap('code', 'ml'), cluster('small', 'ml'), configMap('data', 'other')].join('---\n'),
      message: 'app.yaml: document 3: metadata.namespace "other" of ConfigMap "data" differs from "ml" in document 1; a Ray app group lives in one namespace',
      fix: 'Put every object of the group in the same namespace, or leave metadata.namespace out and choose it with --namespace.',
    },
    {
      name: 'a namespace other than the one asked for',
      text: cluster('small', 'ml'),
      namespace: 'prod',
      message: 'app.yaml: document 1: metadata.namespace "ml" of RayCluster "small" does not match the namespace "prod" asked for',
      fix: 'Remove metadata.namespace from app.yaml, or pass --namespace ml.',
    },
    {
      name: 'an old Ray API version',
      text: cluster().replace('ray.io/v1', 'ray.io/v1alpha1'),
      message: 'app.yaml: document 1: apiVersion "ray.io/v1alpha1" is not supported for a RayCluster',
      fix: 'Use apiVersion: ray.io/v1 for a RayCluster (the version KubeRay v1 reconciles).',
    },
    {
      name: 'a dependency of the wrong API group',
      text: [cluster(), 'apiVersion: apps/v1\nkind: Service\nmetadata: {name: x}\n'].join('---\n'),
      message: 'app.yaml: document 2: apiVersion "apps/v1" is not supported for a Service',
      fix: 'Use apiVersion: v1 for a Service.',
    },
    {
      name: 'no kind',
      text: [cluster(), 'apiVersion: v1\nmetadata: {name: x}\n'].join('---\n'),
      message: 'app.yaml: document 2: kind is missing',
      fix: 'Give every object its kind, such as RayCluster or ConfigMap.',
    },
    {
      name: 'no apiVersion',
      text: [cluster(), 'kind: Secret\nmetadata: {name: x}\n'].join('---\n'),
      message: 'app.yaml: document 2: apiVersion is missing',
      fix: 'Give the Secret its apiVersion (v1).',
    },
    {
      name: 'a document that is not an object',
      text: [cluster(), '- a\n- b\n'].join('---\n'),
      message: 'app.yaml: document 2: expected a Kubernetes object (a map with apiVersion, kind and metadata), found a list',
      fix: 'Write each object as a map with apiVersion, kind and metadata.',
    },
    {
      name: 'a bad item inside a List',
      text: `apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n  - {apiVersion: batch/v1, kind: Job, metadata: {name: b}}\n---\n${cluster()}`,
      message: 'app.yaml: document 1, item 2: kind "Job" is not part of a Ray app group (RayCluster, RayService or RayJob plus ConfigMap, Secret, Service, ServiceAccount)',
      fix: 'Apply the Job separately, or remove it from app.yaml.',
    },
    {
      name: 'the same ConfigMap twice',
      text: [configMap('code'), cluster(), configMap('code')].join('---\n'),
      message: 'app.yaml: document 3: ConfigMap "code" is already defined in document 1',
      fix: 'Remove one of the two ConfigMaps named "code".',
    },
    {
      name: 'a Ray object KubeRay would refuse',
      text: [configMap('code'), cluster().replace('replicas: 2', 'replicas: "2"')].join('---\n'),
      message: 'app.yaml: document 2: RayCluster "small": spec.workerGroupSpecs[0].replicas is "2", not a whole number from 0 to 2147483647',
      fix: 'Set spec.workerGroupSpecs[0].replicas to a whole number without quotes, or remove it to use the default (0).',
    },
    {
      name: 'a RayJob on an existing cluster',
      text: 'apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: train}\nspec:\n  entrypoint: python train.py\n  clusterSelector: {ray.io/cluster: shared}\n',
      message: 'app.yaml: document 1: RayJob "train": spec.clusterSelector makes the RayJob run on an existing RayCluster, which the tool does not place',
      fix: 'Place that RayCluster itself, or replace spec.clusterSelector with a spec.rayClusterSpec so the RayJob brings its own cluster.',
    },
  ])('$name', ({text, namespace, message, fix}) => {
    const error = thrown(() => readGroupManifest(text, 'app.yaml', {namespace}));
    expect(error.message).toBe(message);
    expect(error.fix).toBe(fix);
  });

  it('one bad document among good ones gives an error and no result', () => {
    let result: unknown;
    const error = thrown(() => {
      result = readGroupManifest([configMap('code'), cluster(), secret, deployment, configMap('data')].join('---\n'), 'app.yaml');
    });
    expect(error.message).toMatch(/^app\.yaml: document 4: kind "Deployment"/);
    expect(result).toBeUndefined();
  });
});
