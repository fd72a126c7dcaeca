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

/** The work was started and state is consistent, but it did not converge in time. Exit code 3. */
export class ConvergeTimeoutError extends Error {
  override readonly name = 'ConvergeTimeoutError';
}
