import * as path from 'node:path';
import {describe, expect, it} from 'vitest';
import {cli} from '../../support/cli.js';
import {tempDir} from '../../support/kubeconfig.js';

describe('kubectl superskyray sandbox up / down', () => {
  it('starts a fleet in the background that the tool can use, says so once, and stops it by its pid', async () => {
    const dir = tempDir();
    try {
      const up = await cli(['sandbox', 'up', '--dir', dir, '--clusters', 'dc1,dc2,cloud']);
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/^sandbox started: dc1 \(http:\/\/127\.0\.0\.1:\d+\), dc2 \(http:\/\/127\.0\.0\.1:\d+\), cloud \(http:\/\/127\.0\.0\.1:\d+\)\n/);
      expect(up.stdout).toContain(`kubeconfig: ${path.join(dir, 'kubeconfig')}\n`);
      const again = await cli(['sandbox', 'up', '--dir', dir]);
      expect(again.stdout).toMatch(/^sandbox already running: dc1/);

      const status = await cli(['status', '--kubeconfig', path.join(dir, 'kubeconfig'), '--context', 'dc1', '--context', 'dc2', '--context', 'cloud', '-o', 'json']);
      expect(status.code).toBe(0);
      const clusters = (JSON.parse(status.stdout) as {clusters: Array<{context: string; state: string; nodes?: {ready: number}}>}).clusters;
      expect(clusters.map((c) => [c.context, c.state])).toEqual([['dc1', 'Ready'], ['dc2', 'Ready'], ['cloud', 'Ready']]);
    } finally {
      const down = await cli(['sandbox', 'down', '--dir', dir]);
      expect(down).toMatchObject({code: 0, stdout: 'sandbox stopped\n'});
    }
    const gone = await cli(['sandbox', 'down', '--dir', dir]);
    expect(gone).toMatchObject({code: 0, stdout: 'no sandbox is running\n'});
  });
});
