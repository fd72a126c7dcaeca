import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {REPO, run} from '../../support/cli.js';
import {writeKubeconfig} from '../../support/kubeconfig.js';

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
});
