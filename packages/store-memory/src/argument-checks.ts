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

/** Throw `INVALID_ARGUMENT` unless `value` is a non-null object (an input or options bag). */
export function assertObject(
  value: unknown,
  field: string,
  operation: string,
): asserts value is object {
  if (typeof value !== 'object' || value === null) {
    throw new SessionValidationError(`${field} must be an object, got ${kindOf(value)}`, {
      field,
      operation,
    });
  }
}

/**
 * Validate an optional integer constructor option: `undefined` gives
 * `fallback`; anything else must be a safe integer ≥ `min`.
 * @throws SessionValidationError `INVALID_CONFIG` naming the option
 */
export function integerOption(
  value: unknown,
  fallback: number,
  min: number,
  field: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new SessionValidationError(
      `${field} must be an integer >= ${min}, got ${kindOf(value)}`,
      { code: 'INVALID_CONFIG', field },
    );
  }
  return value;
}

function kindOf(value: unknown): string {
  // Numbers are safe to echo; anything else is described by its kind only.
  if (value === null) return 'null';
  return typeof value === 'number' ? String(value) : typeof value;
}
