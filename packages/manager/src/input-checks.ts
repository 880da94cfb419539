import { SessionValidationError, isPlainObject } from '@session-cluster/core';
import type { SessionPatch } from '@session-cluster/core';

/*
 * Edge checks of the manager's arguments. They look at shapes only (is it
 * an object, an integer, a function); what data may contain is the codec's
 * business, checked by the store before anything is written.
 */

function invalid(operation: string, field: string, expected: string): SessionValidationError {
  return new SessionValidationError(`${field}: expected ${expected}`, { field, operation });
}

function isInteger(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `value` (an input, options or session data) is a plain object. */
export function assertObjectArgument(
  value: unknown,
  operation: string,
  field: string,
): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(operation, field, 'a plain object');
}

/** The optional `expectedVersion` of a fenced write. @throws SessionValidationError `INVALID_ARGUMENT` unless absent or a positive integer. */
export function optionalVersion(value: unknown, operation: string): number | undefined {
  if (value !== undefined && !isInteger(value, 1)) {
    throw invalid(operation, 'options.expectedVersion', 'a positive integer');
  }
  return value;
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless a positive safe integer. */
export function assertTtl(
  value: unknown,
  operation: string,
  field = 'ttlMs',
): asserts value is number {
  if (!isInteger(value, 1)) throw invalid(operation, field, 'a positive integer (ms)');
}

/**
 * `get`'s options as the store takes them (`undefined` when there is nothing to pass).
 * @throws SessionValidationError `INVALID_ARGUMENT` unless `{ minVersion?: non-negative integer }`
 */
export function loadOptions(value: unknown): { minVersion: number } | undefined {
  if (value === undefined) return undefined;
  assertObjectArgument(value, 'get', 'options');
  const { minVersion } = value;
  if (minVersion === undefined) return undefined;
  if (!isInteger(minVersion, 0)) {
    throw invalid('get', 'options.minVersion', 'a non-negative integer');
  }
  return { minVersion };
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `{ set?: object, unset?: string[] }`. */
export function assertPatch(value: unknown, operation: string): asserts value is SessionPatch {
  assertObjectArgument(value, operation, 'changes');
  const { set, unset } = value;
  if (set !== undefined) assertObjectArgument(set, operation, 'changes.set');
  if (unset !== undefined && (!Array.isArray(unset) || unset.some((k) => typeof k !== 'string'))) {
    throw invalid(operation, 'changes.unset', 'an array of strings');
  }
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless a function. */
export function assertFunction(
  value: unknown,
  operation: string,
  field: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalid(operation, field, 'a function');
}
