import yaml from 'js-yaml';
import {describe, expect, it} from 'vitest';
import {InputError} from '../../../src/errors.js';
import {parseServeReplicas, withServeReplicas} from '../../../src/kuberay/serve.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('parseServeReplicas', () => {
  const good = [
    {text: 'fraud.Model=4', want: {app: 'fraud', deployment: 'Model', replicas: 4}},
    {text: 'fraud.Model=0', want: {app: 'fraud', deployment: 'Model', replicas: 0}},
    {text: 'fraud.Model=12', want: {app: 'fraud', deployment: 'Model', replicas: 12}},
    {text: 'fraud.v2.Model=3', want: {app: 'fraud', deployment: 'v2.Model', replicas: 3}},
    {text: 'my-app.my_deployment=007', want: {app: 'my-app', deployment: 'my_deployment', replicas: 7}},
  ];
  it.each(good)('reads $text', ({text, want}) => {
    expect(parseServeReplicas(text)).toEqual(want);
  });

  const bad = ['fraud=4', 'fraud.Model', 'fraud.Model=', '.Model=4', 'fraud.=4', 'fraud.Model=-1', 'fraud.Model=2.5', 'fraud.Model=four', 'fraud.Model=4=5', '=4', ''];
  it.each(bad)('rejects %j with an InputError that shows the form', (text) => {
    const error = thrown(() => parseServeReplicas(text));
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain('APP.DEPLOYMENT=N');
    expect((error as InputError).fix).toContain('--serve');
  });
});

const CONFIG = `
applications:
  - name: fraud
    import_path: fraud.app:graph
    route_prefix: /fraud
    deployments:
      - name: Model
        num_replicas: 2
        ray_actor_options:
          num_gpus: 1
      - name: Preprocess
        num_replicas: 1
  - name: search
    import_path: search.app:graph
    deployments:
      - name: Ranker
        autoscaling_config:
          min_replicas: 1
          max_replicas: 5
`;

interface Config {
  applications: Array<{name: string; route_prefix?: string; deployments: Array<{name: string; num_replicas?: number; ray_actor_options?: unknown}>}>;
}
const load = (text: string) => yaml.load(text) as Config;
const where = 'RayService ml/fraud';

describe('withServeReplicas', () => {
  it('changes num_replicas of the named deployment and keeps everything else', () => {
    const out = withServeReplicas(CONFIG, [{app: 'fraud', deployment: 'Model', replicas: 5}], where);
    expect(out?.changed).toEqual([{app: 'fraud', deployment: 'Model', from: 2, to: 5}]);
    const want = load(CONFIG);
    want.applications[0]!.deployments[0]!.num_replicas = 5;
    expect(load(out!.config)).toEqual(want);
  });

  it('applies several changes in one config', () => {
    const out = withServeReplicas(
      CONFIG,
      [
        {app: 'fraud', deployment: 'Model', replicas: 2},
        {app: 'fraud', deployment: 'Preprocess', replicas: 3},
      ],
      where,
    );
    const deployments = load(out!.config).applications[0]!.deployments;
    expect(deployments.map((d) => [d.name, d.num_replicas])).toEqual([
      ['Model', 2],
      ['Preprocess', 3],
    ]);
  });

  it('sets num_replicas on a deployment that had none', () => {
    const text = 'applications:\n  - name: fraud\n    deployments:\n      - name: Model\n';
    const out = withServeReplicas(text, [{app: 'fraud', deployment: 'Model', replicas: 3}], where)!;
    expect(load(out.config).applications[0]!.deployments[0]).toEqual({name: 'Model', num_replicas: 3});
    expect(out.changed).toEqual([{app: 'fraud', deployment: 'Model', to: 3}]);
  });

  it('returns undefined when every deployment already has that many replicas', () => {
    expect(withServeReplicas(CONFIG, [{app: 'fraud', deployment: 'Model', replicas: 2}, {app: 'fraud', deployment: 'Preprocess', replicas: 1}], where)).toBeUndefined();
  });

  it('returns undefined for no changes', () => {
    expect(withServeReplicas(CONFIG, [], where)).toBeUndefined();
  });

  const errors: Array<{name: string; config: string | undefined; app: string; deployment: string; message: RegExp}> = [
    {name: 'a missing serveConfigV2', config: undefined, app: 'fraud', deployment: 'Model', message: /RayService ml\/fraud has no serveConfigV2/},
    {name: 'an empty serveConfigV2', config: '', app: 'fraud', deployment: 'Model', message: /has no serveConfigV2/},
    {name: 'a missing application, listing those there are', config: CONFIG, app: 'payments', deployment: 'Model', message: /no Serve application "payments" \(it has fraud, search\)/},
    {name: 'a config without applications', config: 'http_options:\n  port: 8000\n', app: 'fraud', deployment: 'Model', message: /no Serve application "fraud" \(it has none\)/},
    {name: 'a missing deployment', config: CONFIG, app: 'fraud', deployment: 'Ranker', message: /application "fraud" does not list deployment "Ranker"/},
    {name: 'a deployment the Serve autoscaler sizes', config: CONFIG, app: 'search', deployment: 'Ranker', message: /search\.Ranker is sized by the Serve autoscaler \(autoscaling_config/},
    {name: 'a deployment with num_replicas: auto', config: 'applications:\n  - name: fraud\n    deployments:\n      - name: Model\n        num_replicas: auto\n', app: 'fraud', deployment: 'Model', message: /fraud\.Model is sized by the Serve autoscaler/},
    {name: 'a comment-only serveConfigV2', config: '# nothing yet\n', app: 'fraud', deployment: 'Model', message: /no Serve application "fraud" \(it has none\)/},
  ];
  it.each(errors)('throws an InputError for $name', ({config, app, deployment, message}) => {
    const call = () => withServeReplicas(config, [{app, deployment, replicas: 3}], where);
    expect(call).toThrow(InputError);
    expect(call).toThrow(message);
  });

  it('fails as a whole when one of several changes is bad', () => {
    const call = () =>
      withServeReplicas(
        CONFIG,
        [
          {app: 'fraud', deployment: 'Model', replicas: 4},
          {app: 'search', deployment: 'Ranker', replicas: 4},
        ],
        where,
      );
    expect(call).toThrow(InputError);
  });
});
