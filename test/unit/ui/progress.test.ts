import {describe, expect, it} from 'vitest';
import {StepError, withProgress, withSteps} from '../../../src/ui/progress.js';

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

describe('withSteps', () => {
  const step = (title: string, result: number | Error) => ({
    title,
    run: async (say: (line: string) => void) => {
      say('working');
      if (result instanceof Error) throw result;
      return result;
    },
    summary: (n: number) => `made ${n}`,
    detail: (n: number) => (n === 2 ? 'a table\n' : undefined),
  });

  it('writes one line per step where there is no terminal, details on the results stream, and stops at the first failure', async () => {
    const err = stream(false);
    const out = stream(false);
    const failed = await withSteps([step('one', 1), step('two', 2), step('three', Object.assign(new Error('mode is single, want spanned'), {fix: 'check the fleet'})), step('four', 4)], err, out).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(StepError);
    expect((failed as StepError).message).toBe('step 3 (three) failed: mode is single, want spanned; check the fleet');
    expect(err.written.join('').replace(/\d+\.\ds/g, 'T')).toBe('[1/4] one: made 1 (T)\n[2/4] two: made 2 (T)\n[3/4] three: FAILED after T: mode is single, want spanned\n');
    expect(out.written.join('')).toBe('a table\n');
  });

  it('returns every result in order on a terminal', async () => {
    const err = stream(true);
    expect(await withSteps([step('one', 1), step('two', 2)], err, stream(false))).toEqual([1, 2]);
    expect(err.written.join('')).toContain('[2/2] two: made 2');
  });
});
