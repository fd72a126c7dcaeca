/**
 * Errors that decide the exit code. Every layer may throw these; only the command layer turns them
 * into exit codes and one-line messages.
 */

/** Bad usage or bad input: nothing in any cluster was changed. Exit code 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    message: string,
    /** One sentence telling the user how to fix it. */
    readonly fix?: string,
  ) {
    super(message);
  }
}

/**
 * Why a run was stopped from outside: its --timeout ran out, or the user interrupted it. Carried as
 * the reason of the run's AbortSignal, so that every layer can tell a stop from a failure and no
 * cluster is reported as unreachable because the run stopped asking it.
 */
export abstract class StopError extends Error {}

/** The work was started and state is consistent, but it did not converge in time. Exit code 3. */
export class ConvergeTimeoutError extends StopError {
  override readonly name = 'ConvergeTimeoutError';
  constructor(
    message: string,
    /** What was done before the deadline, for the command to print as its result. */
    readonly partial?: unknown,
  ) {
    super(message);
  }
}

/** Ctrl-C or SIGTERM: the run stopped what it was doing and let go of its Lease. Exit code 130. */
export class InterruptedError extends StopError {
  override readonly name = 'InterruptedError';
  constructor(message = 'interrupted') {
    super(message);
  }
}
