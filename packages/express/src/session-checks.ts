import { SessionValidationError } from '@session-cluster/core';
import type { SessionData } from '@session-cluster/core';

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `fn` is a function. */
export function assertMutator(fn: unknown): void {
  if (typeof fn !== 'function') {
    throw new SessionValidationError('fn: expected a function', {
      field: 'fn',
      operation: 'update',
    });
  }
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `value` is a plain object (what `fn` must return). */
export function assertPlainData(value: unknown): asserts value is SessionData {
  const proto: unknown =
    typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new SessionValidationError('update: fn must return the data as a plain object', {
      field: 'fn',
      operation: 'update',
    });
  }
}

/** A session that needs a new cookie cannot start once the headers are out. */
export function headersSentError(): SessionValidationError {
  return new SessionValidationError(
    'A new session cannot be stored after the response headers were sent: ' +
      'call `await req.session.commit()` before streaming the response',
    { operation: 'commit' },
  );
}
