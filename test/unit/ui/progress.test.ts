import {describe, expect, it} from 'vitest';
import {withProgress} from '../../../src/ui/progress.js';

function stream(isTTY: boolean) {
  const written: string[] = [];
  return {isTTY, columns: 80, written, write: (text: string) => written.push(text) > 0, on: () => undefined, once: () => undefined, removeListener: () => undefined};
}

describe('withProgress', () => {
  it('writes one plain line per step where there is no terminal, and returns the result of the work', async () => {
    const out = stream(false);
    const result = await withProgress('scale app', async (say) => {
      say('onprem: patch raycluster/app replicas=3');
      say('cloud: create pod/app-cpu-worker-x (does not fit at home)');
      return 42;
    }, out);
    expect(result).toBe(42);
    expect(out.written.join('')).toBe('scale app\n  onprem: patch raycluster/app replicas=3\n  cloud: create pod/app-cpu-worker-x (does not fit at home)\n');
  });

  it('passes on the failure of the work on a terminal too, after showing the task', async () => {
    const out = stream(true);
    const failed = await withProgress('scale app', async (say) => {
      say('onprem: patch raycluster/app replicas=3');
      throw new Error('the lease is held');
    }, out).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(failed).toBe('the lease is held');
    expect(out.written.join('')).toContain('scale app');
  });
});
