import * as assert from 'uvu/assert';
import {JailError, type ErrorKind} from '../../src/errors.js';

/** Assert that `fn` throws a JailError of `kind` whose message matches. */
export const throwsJail = (fn: () => unknown, kind: ErrorKind, message: RegExp | string): void => {
  try {
    fn();
  } catch (error) {
    assert.instance(error, JailError);
    assert.is((error as JailError).kind, kind, (error as Error).message);
    assert.match((error as Error).message, message);
    return;
  }
  assert.unreachable(`should have thrown ${String(message)}`);
};
