export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Checked on every round: a message ends the wait at once (a process that died, say). */
  giveUp?: () => string | undefined;
}

/**
 * Polls `check` until it returns something other than undefined, or fails after the timeout with
 * what it last saw. Tests and the test environment wait with this, never with a bare sleep.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const {timeoutMs = 90_000, intervalMs = 200} = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    const fatal = options.giveUp?.();
    if (fatal) throw new Error(`${fatal} while waiting for ${what}`);
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message ?? String(last)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
