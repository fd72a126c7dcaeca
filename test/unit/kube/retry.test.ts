import {describe, expect, it} from 'vitest';
import {KubeError} from '../../../src/kube/errors.js';
import {DEFAULT_RETRY, isRetryable, mayRetry, retryDelayMs} from '../../../src/kube/retry.js';

const error = (code: number | undefined, reason: string, retryAfterSeconds?: number) =>
  new KubeError({code, reason, message: reason, context: 'c', retryAfterSeconds});

describe('isRetryable', () => {
  it.each([
    {err: error(429, 'TooManyRequests'), idempotent: false, want: true},
    {err: error(undefined, 'ConnectionRefused'), idempotent: false, want: true},
    {err: error(undefined, 'HostNotFound'), idempotent: false, want: true},
    {err: error(503, 'ServiceUnavailable'), idempotent: true, want: true},
    {err: error(503, 'ServiceUnavailable'), idempotent: false, want: false},
    {err: error(500, 'InternalError'), idempotent: true, want: true},
    {err: error(501, 'NotImplemented'), idempotent: true, want: false},
    {err: error(undefined, 'ConnectionReset'), idempotent: true, want: true},
    {err: error(undefined, 'ConnectionReset'), idempotent: false, want: false},
    {err: error(undefined, 'Timeout'), idempotent: true, want: true},
    {err: error(undefined, 'Aborted'), idempotent: true, want: false},
    {err: error(undefined, 'TLSError'), idempotent: true, want: false},
    {err: error(409, 'Conflict'), idempotent: true, want: false},
    {err: error(404, 'NotFound'), idempotent: true, want: false},
    {err: error(403, 'Forbidden'), idempotent: true, want: false},
  ])('$err.reason ($err.code), idempotent=$idempotent: $want', ({err, idempotent, want}) => {
    expect(isRetryable(err, idempotent)).toBe(want);
  });
});

describe('mayRetry', () => {
  it('allows policy.attempts in all, and never another after a request that got no answer in time', () => {
    const busy = error(503, 'ServiceUnavailable');
    const slow = error(undefined, 'Timeout');
    const gatewayTimeout = error(504, 'Timeout');
    expect([1, 2, 3, 4, 5].map((attempt) => mayRetry(busy, attempt, true, DEFAULT_RETRY))).toEqual([true, true, true, true, false]);
    expect(mayRetry(slow, 1, true, DEFAULT_RETRY)).toBe(false);
    // The server itself answered 504: it is there, so this is an ordinary server error.
    expect(mayRetry(gatewayTimeout, 1, true, DEFAULT_RETRY)).toBe(true);
  });
});

describe('retryDelayMs', () => {
  const policy = {...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000};

  it('takes Retry-After as it is, up to the cap', () => {
    expect(retryDelayMs(error(429, 'TooManyRequests', 2), 1, policy)).toBe(2000);
    expect(retryDelayMs(error(429, 'TooManyRequests', 0), 1, policy)).toBe(0);
    expect(retryDelayMs(error(429, 'TooManyRequests', 60), 1, policy)).toBe(5000);
  });

  it.each([
    {attempt: 1, low: 50, high: 100},
    {attempt: 2, low: 100, high: 200},
    {attempt: 3, low: 200, high: 400},
    {attempt: 5, low: 500, high: 1000},
    {attempt: 9, low: 500, high: 1000},
  ])('backs off exponentially with jitter: attempt $attempt waits $low..$high ms', ({attempt, low, high}) => {
    const err = error(503, 'ServiceUnavailable');
    expect(retryDelayMs(err, attempt, policy, () => 0)).toBe(low);
    expect(retryDelayMs(err, attempt, policy, () => 1)).toBe(high);
  });
});
