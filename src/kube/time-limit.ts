import {getMaxListeners, setMaxListeners} from 'node:events';

/**
 * A signal that aborts with `parent`, or after `ms` with the error `reason` makes. Built from a plain
 * timer rather than AbortSignal.timeout and AbortSignal.any: on Node 20 a timeout signal can be
 * collected before it fires (nodejs/node#57736), and every AbortSignal.any leaves a listener on its
 * parent until the parent itself is collected. Call `done` when the work ends.
 */
export function timeLimit(parent: AbortSignal | undefined, ms: number, reason: () => Error): {signal: AbortSignal; done: () => void} {
  const controller = new AbortController();
  // The limited signal serves the same requests its parent did, as many at once.
  if (parent) setMaxListeners(getMaxListeners(parent), controller.signal);
  const onAbort = () => controller.abort(parent?.reason);
  const timer = setTimeout(() => controller.abort(reason()), ms);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, {once: true});
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}

/** Runs `work` under timeLimit, and cleans up after it whatever it does. */
export async function withTimeLimit<T>(parent: AbortSignal | undefined, ms: number, reason: () => Error, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const limit = timeLimit(parent, ms, reason);
  try {
    return await work(limit.signal);
  } finally {
    limit.done();
  }
}
