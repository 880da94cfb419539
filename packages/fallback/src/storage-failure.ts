import { isSessionError } from '@session-cluster/core';
import { isBrokenCircuitError } from 'cockatiel';

/**
 * True for cockatiel's `TaskCancelledError` (checked by its brand, so a
 * duplicate cockatiel copy counts too). Not cockatiel's own
 * `isTaskCancelledError`: in 3.2.1 it tests the bulkhead's brand and is
 * false for every `TaskCancelledError`.
 */
export function isTaskCancelled(error: unknown): error is Error {
  return error instanceof Error && 'isTaskCancelledError' in error;
}

/** The code a failover names: the `SessionError` code, `STORAGE_TIMEOUT` for the call timeout. */
export function failureCode(error: unknown): string {
  if (isSessionError(error)) return error.code;
  return isTaskCancelled(error) ? 'STORAGE_TIMEOUT' : 'INTERNAL';
}

/**
 * True for a failure that says "the primary is not answering": a
 * `SessionError` of category `storage` that is retryable
 * (`StorageUnavailableError`: STORAGE_UNAVAILABLE, STORAGE_TIMEOUT) or
 * cockatiel's `TaskCancelledError` from the call timeout. Only these count
 * toward the breaker. Not found, validation, version conflicts and
 * corruption are answers from a working primary: they reach the caller.
 */
export function isStorageFailure(error: unknown): boolean {
  if (isSessionError(error)) return error.category === 'storage' && error.retryable;
  return isTaskCancelled(error);
}

/**
 * True when a primary call should be served by the secondary instead: a
 * {@link isStorageFailure storage failure}, or the breaker refusing the call
 * (`BrokenCircuitError`, including `IsolatedCircuitError`).
 */
export function shouldFailOver(error: unknown): boolean {
  return isStorageFailure(error) || isBrokenCircuitError(error);
}
