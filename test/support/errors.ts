import {InputError} from '../../src/errors.js';

/** Runs `fn` and returns the InputError it throws; anything else fails the test. */
export function thrown(fn: () => unknown): InputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error('expected an InputError');
}
