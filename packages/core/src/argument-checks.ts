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

/** The `INVALID_ARGUMENT` error for argument `field` of `operation`: what was `expected`. */
export function invalidArgument(field: string, operation: string, expected: string) {
  return new SessionValidationError(`${field} must be ${expected}`, { field, operation });
}

/** Throw unless a method argument (an input or options bag) is a non-null, non-array object. */
export function assertObjectArgument(
  value: unknown,
  field: string,
  operation: string,
): asserts value is object {
  if (!isOptionsObject(value)) throw invalidArgument(field, operation, 'an object');
}

/** Throw unless an epoch-ms time (`expiresAt`, `now`): finite, from 0 to {@link MAX_EPOCH_MS}. */
export function assertEpochMs(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_EPOCH_MS)) {
    throw invalidArgument(field, operation, 'a finite epoch ms timestamp');
  }
}

/** Throw unless a safe integer ≥ 1 (a version, a limit, a duration in ms). */
export function assertPositiveInteger(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw invalidArgument(field, operation, 'a positive integer');
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
  if (options !== undefined) assertObjectArgument(options, 'options', operation);
  const except: unknown = options?.except ?? [];
  if (!Array.isArray(except)) {
    throw invalidArgument('options.except', operation, 'an array of session ids');
  }
  for (const [index, id] of (except as unknown[]).entries()) {
    if (!isValidSessionId(id)) {
      throw new SessionValidationError('Invalid session id', {
        code: 'INVALID_SESSION_ID',
        field: `except[${index}]`,
        operation,
      });
    }
  }
  return new Set(except as string[]);
}
