import {
  assertEpochMs,
  assertPositiveInteger,
  invalidArgument,
  isPlainObject,
} from '@session-cluster/core';
import type { LoadOptions, SessionPatch } from '@session-cluster/core';

/*
 * Edge checks of the manager's arguments, besides core's. They look at
 * shapes only (is it an object, an integer, a function); what data may
 * contain is the codec's business, checked by the store before anything is written.
 */

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `value` (an input, options or session data) is a plain object. */
export function assertPlainObject(
  value: unknown,
  field: string,
  operation: string,
): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) throw invalidArgument(field, operation, 'a plain object');
}

/** The optional `expectedVersion` of a fenced write. @throws SessionValidationError `INVALID_ARGUMENT` unless absent or a positive integer. */
export function optionalVersion(value: unknown, operation: string): number | undefined {
  if (value !== undefined) assertPositiveInteger(value, 'options.expectedVersion', operation);
  return value;
}

/**
 * `get`'s options as the store takes them (`undefined` when there is nothing to pass).
 * @throws SessionValidationError `INVALID_ARGUMENT` unless
 *   `{ minVersion?: non-negative integer, minVersionSince?: epoch ms }`
 */
export function loadOptions(value: unknown): LoadOptions | undefined {
  if (value === undefined) return undefined;
  assertPlainObject(value, 'options', 'get');
  const { minVersion, minVersionSince } = value;
  if (minVersionSince !== undefined)
    assertEpochMs(minVersionSince, 'options.minVersionSince', 'get');
  if (minVersion === undefined) return undefined;
  if (!Number.isSafeInteger(minVersion) || (minVersion as number) < 0) {
    throw invalidArgument('options.minVersion', 'get', 'a non-negative integer');
  }
  return minVersionSince === undefined
    ? { minVersion: minVersion as number }
    : { minVersion: minVersion as number, minVersionSince };
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `{ set?: object, unset?: string[] }`. */
export function assertPatch(value: unknown, operation: string): asserts value is SessionPatch {
  assertPlainObject(value, 'changes', operation);
  const { set, unset } = value;
  if (set !== undefined) assertPlainObject(set, 'changes.set', operation);
  if (unset !== undefined && (!Array.isArray(unset) || unset.some((k) => typeof k !== 'string'))) {
    throw invalidArgument('changes.unset', operation, 'an array of strings');
  }
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless a function. */
export function assertFunction(
  value: unknown,
  field: string,
  operation: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgument(field, operation, 'a function');
}
