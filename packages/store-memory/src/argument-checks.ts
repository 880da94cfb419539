import { SessionValidationError } from '@session-cluster/core';

/*
 * Checks for the plain-number arguments of store and locker methods.
 * Messages name the field and the kind of value, never the value itself
 * (it may be huge or hostile); numbers are safe to echo.
 */

function refuse(value: unknown, field: string, operation: string, expected: string): never {
  const kind = value === null ? 'null' : typeof value === 'number' ? String(value) : typeof value;
  throw new SessionValidationError(`${field} must be ${expected}, got ${kind}`, {
    field,
    operation,
  });
}

/** Throw `INVALID_ARGUMENT` unless `value` is a finite number (an epoch-ms time such as `expiresAt` or `now`). */
export function assertFiniteNumber(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    refuse(value, field, operation, 'a finite number');
  }
}

/** Throw `INVALID_ARGUMENT` unless `value` is a safe integer ≥ 1 (versions, limits, durations). */
export function assertPositiveInteger(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    refuse(value, field, operation, 'a positive integer');
  }
}
