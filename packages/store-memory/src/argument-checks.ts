import { SessionValidationError } from '@session-cluster/core';

/*
 * Checks for the plain-number and object arguments of store and locker
 * methods. Messages name the field and the kind of value, never the value
 * itself (it may be huge or hostile).
 */

/**
 * Throw `INVALID_ARGUMENT` unless `value` is a finite number (an epoch-ms
 * time such as `expiresAt` or `now`).
 */
export function assertFiniteNumber(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SessionValidationError(`${field} must be a finite number, got ${kindOf(value)}`, {
      field,
      operation,
    });
  }
}

/** Throw `INVALID_ARGUMENT` unless `value` is a safe integer ≥ 1 (versions, limits, durations). */
export function assertPositiveInteger(
  value: unknown,
  field: string,
  operation: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SessionValidationError(`${field} must be a positive integer, got ${kindOf(value)}`, {
      field,
      operation,
    });
  }
}

function kindOf(value: unknown): string {
  // Numbers are safe to echo; anything else is described by its kind only.
  if (value === null) return 'null';
  return typeof value === 'number' ? String(value) : typeof value;
}
