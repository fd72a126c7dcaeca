import type {KubeError} from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest Retry-After we wait for; a server asking for more gets this. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
};

/**
 * Whether a failed request may be sent again.
 *
 * A request the server certainly did not act on (429, connection refused) is always safe to resend.
 * One it may have acted on (5xx, a reset, a timeout) is resent only when sending it twice does no
 * harm: reads always, writes only when the caller says so (a create with a fixed name is, because a
 * second create answers AlreadyExists; a create with generateName is not, it would make two pods).
 */
export function isRetryable(err: KubeError, idempotent: boolean): boolean {
  if (err.reason === 'Aborted') return false;
  if (err.code === 429) return true;
  if (err.reason === 'ConnectionRefused' || err.reason === 'HostNotFound') return true;
  if (!idempotent) return false;
  if (err.code !== undefined) return err.code >= 500 && err.code !== 501;
  return err.reason === 'ConnectionReset' || err.reason === 'Timeout';
}

/**
 * Whether another attempt may follow attempt number `attempt`, which failed with `err`. A request
 * that got no answer within the request timeout is not sent again: it already waited the whole
 * timeout, and the cluster is taken to be unreachable for the rest of the run (see ClusterClient).
 */
export function mayRetry(err: KubeError, attempt: number, idempotent: boolean, policy: RetryPolicy): boolean {
  if (unanswered(err)) return false;
  return attempt < policy.attempts && isRetryable(err, idempotent);
}

/** The request got no answer in time: the server, or the way to it, is silent. */
export function unanswered(err: KubeError): boolean {
  return err.code === undefined && err.reason === 'Timeout';
}

/**
 * How long to wait before attempt `attempt + 1`: the server's Retry-After when it gave one,
 * otherwise exponential backoff, half of it random so that clients do not retry in step.
 */
export function retryDelayMs(err: KubeError, attempt: number, policy: RetryPolicy, random = Math.random): number {
  if (err.retryAfterSeconds !== undefined) {
    return Math.min(err.retryAfterSeconds * 1000, policy.maxRetryAfterMs);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves after `ms`, or rejects at once with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, {once: true});
  });
}

/** Like sleep, but a deadline ends it quietly: for loops that check the signal themselves. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}
