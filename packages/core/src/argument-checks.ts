import type { DeleteByUserOptions } from './contracts.js';
import { SessionValidationError } from './errors.js';
import { isOptionsObject } from './option-checks.js';
import { isValidSessionId } from './session-id.js';

/*
 * Checks of store and manager method arguments, shared so that every store
 * refuses exactly the same input (the in-memory fallback must not take what
 * Redis refuses). Each throws `SessionValidationError` `INVALID_ARGUMENT`
 * naming the field and what was expected, never the value: it may be huge
 * or hostile.
 */

/** Latest epoch ms a `Date` can hold: the upper bound of every accepted time. */
export const MAX_EPOCH_MS = 8.64e15;

/** Throw unless a method argument (an input or options bag) is a non-null, non-array object. */
export function assertObjectArgument(
  value: unknown,
  field: string,
  operation: string,
): asserts value is object {
  if (!isOptionsObject(value)) {
    throw new SessionValidationError(`${field} must be an object`, { field, operation });
  }
}

/** Throw unless an epoch-ms time (`expiresAt`, `now`): finite, from 0 to {@link MAX_EPOCH_MS}. */
export function assertEpochMs(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_EPOCH_MS) {
    throw new SessionValidationError(`${field} must be a finite epoch ms timestamp`, {
      field,
      operation,
    });
  }
}

/** Throw unless a safe integer ≥ 1 (a version, a limit, a duration in ms). */
export function assertPositiveInteger(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SessionValidationError(`${field} must be a positive integer`, { field, operation });
  }
}

/**
 * The ids `deleteByUser` must keep (`options.except`), checked as every
 * store and the manager check them.
 * @throws SessionValidationError `INVALID_ARGUMENT` (`options`, `options.except`) or `INVALID_SESSION_ID` (`except[i]`)
 */
export function exceptIds(
  options: DeleteByUserOptions | undefined,
  operation = 'deleteByUser',
): ReadonlySet<string> {
  if (options === undefined) return new Set();
  assertObjectArgument(options, 'options', operation);
  const except: unknown = options.except;
  if (except === undefined) return new Set();
  if (!Array.isArray(except)) {
    throw new SessionValidationError('options.except must be an array of session ids', {
      field: 'options.except',
      operation,
    });
  }
  const ids = new Set<string>();
  for (const [index, id] of (except as unknown[]).entries()) {
    if (!isValidSessionId(id)) {
      throw new SessionValidationError('Invalid session id', {
        code: 'INVALID_SESSION_ID',
        field: `except[${index}]`,
        operation,
      });
    }
    ids.add(id);
  }
  return ids;
}
