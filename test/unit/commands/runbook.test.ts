import * as fs from 'node:fs';
import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {cli, REPO} from '../../support/cli.js';
import {tempDir} from '../../support/kubeconfig.js';

// No cluster is contacted: the kubeconfig named here does not exist.
const nowhere = ['--kubeconfig', '/nonexistent/kubeconfig'];

describe('kubectl superskyray runbook run, with no cluster', () => {
  it('--dry-run checks the runbook and prints its steps with the variables filled in', async () => {
    const result = await cli(['runbook', 'run', path.join(REPO, 'examples/runbooks/manual-scale.yaml'), '--dry-run', '--set', 'home=dc1', '--set', 'namespace=ml', ...nowhere]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(0, 3)).toEqual([
      'runbook "manual scale 2 -> 3 -> 2 with spanning": 10 step(s) in namespace ml, fleet dc1, cloud (dry run: nothing was run)',
      '  1. namespace ml on dc1',
      '  2. place manual-demo (a head and two 3-cpu workers) on dc1',
    ]);
    expect(result.stdout).toContain('  6. the third worker runs on cloud, joined to the same head (at most 120s)\n');
  });

  it('-o json --dry-run prints the steps as data', async () => {
    const result = await cli(['runbook', 'run', path.join(REPO, 'examples/runbooks/autoscaler-gpu.yaml'), '--dry-run', '-o', 'json', ...nowhere]);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout) as {namespace: string; steps: Array<{kind: string; text?: string}>};
    expect(doc.namespace).toBe('ray-gpu-demo');
    expect(doc.steps.map((s) => s.kind)).toEqual(['apply', 'place', 'wait', 'watch', 'patch', 'wait', 'patch', 'wait', 'status']);
    expect(doc.steps.some((s) => s.text !== undefined)).toBe(false);
  });

  it.each([
    {name: 'a missing runbook', file: () => '/nonexistent/book.yaml', message: /^error: cannot read runbook \/nonexistent\/book\.yaml: ENOENT; pass the path of a runbook YAML file\n$/},
    {
      name: 'a mistake in a late step, before any step runs',
      file: () => {
        const file = path.join(tempDir(), 'book.yaml');
        fs.writeFileSync(file, 'steps:\n  - sleep: 1s\n  - scale: {group: app, replicas: many}\n');
        return file;
      },
      message: /^error: step 2: replicas must be a whole number, 0 or more; write replicas: 2\n$/,
    },
  ])('refuses $name with one line and exit 2', async ({file, message}) => {
    const result = await cli(['runbook', 'run', file(), ...nowhere]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});
