import { toSessionError } from '@session-cluster/core';
import type { SessionError } from '@session-cluster/core';

/**
 * `error` as a {@link SessionError} whose `operation` is the manager
 * operation that failed (`get`, `update`, …), so a caller sees one
 * vocabulary whichever layer threw.
 *
 * - Anything that is not a `SessionError` becomes `INTERNAL` with the
 *   original as `cause`.
 * - A `SessionError` already naming `operation` is returned as is.
 * - A `SessionError` naming another operation (the store's `load`, the
 *   locker's `lock.acquire`) is copied: same class, code, message, stack,
 *   cause and details, `operation` replaced, and the inner name kept as
 *   `details.innerOperation`. A copy, not a mutation, because the original
 *   may be shared (a rejected promise several callers awaited).
 */
export function withOperation(error: unknown, operation: string): SessionError {
  const sessionError = toSessionError(error, { operation });
  if (sessionError.operation === operation) return sessionError;
  const copy = Object.create(Object.getPrototypeOf(sessionError) as object) as SessionError;
  Object.defineProperties(copy, Object.getOwnPropertyDescriptors(sessionError));
  // From V8 13 (Node 24) an error's own `stack` is an accessor that reads a
  // slot of the error it was captured on, so a copied descriptor reads
  // `undefined` on the copy: copy the text itself.
  Object.defineProperty(copy, 'stack', {
    value: sessionError.stack,
    enumerable: false,
    writable: true,
    configurable: true,
  });
  Object.defineProperty(copy, 'operation', {
    value: operation,
    enumerable: true,
    writable: false,
    configurable: true,
  });
  if (sessionError.operation !== undefined) {
    Object.defineProperty(copy, 'details', {
      value: { ...sessionError.details, innerOperation: sessionError.operation },
      enumerable: true,
      writable: false,
      configurable: true,
    });
  }
  return copy;
}
