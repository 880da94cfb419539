import type { DeleteByUserOptions, LoadOptions } from './contracts.js';
import { SessionSerializationError, SessionValidationError } from './errors.js';
import { isOptionsObject } from './option-checks.js';
import type { JsonValue, SessionPatch } from './session.js';
import { isValidSessionId } from './session-id.js';

/*
 * What callers hand to the stores and the manager, checked at their edge and
 * shared, so that every store refuses exactly the same input (the in-memory
 * fallback must not take what Redis refuses): session data and its keys (what
 * JSON round-trips), and the shapes of method arguments. A refusal is a
 * `SessionValidationError` (`INVALID_ARGUMENT`; `INVALID_SESSION_ID` for an
 * id), or a `SessionSerializationError` for a value JSON cannot carry. It
 * names the field and what was expected, never the value: it may be huge or
 * hostile.
 */

/**
 * Key names refused at every depth. Assigning them through ordinary property
 * writes (`obj[key] = v`, naive deep merges in app code) reaches the prototype
 * chain, so they are rejected on the way in and on the way out of storage.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** Limits {@link assertJsonValue} and {@link assertTopLevelKey} enforce. */
export interface DataLimits {
  /** Deepest allowed nesting; the session data object itself is level 1. */
  readonly maxDepth: number;
  /** Longest allowed top-level key, in UTF-16 code units. */
  readonly maxKeyLength: number;
}

// With the `u` flag a well-formed surrogate pair is one code point and does
// not match, so this finds only lone surrogates. Redis stores keys as UTF-8,
// where a lone surrogate becomes U+FFFD: the key would silently change.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
// Control characters never appear in a top-level key. Stores rely on it: the
// Redis store frames fields with ASCII RS/US (0x1E/0x1F), which JSON.stringify
// always escapes inside values, so a key must not carry them either.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Check one top-level key (of `data`, `patch.set` or `patch.unset`).
 * @throws SessionValidationError `INVALID_ARGUMENT`
 */
export function assertTopLevelKey(
  key: unknown,
  limits: DataLimits,
  where: string,
): asserts key is string {
  if (typeof key !== 'string') {
    throw new SessionValidationError(`${where}: keys must be strings`, { field: where });
  }
  if (FORBIDDEN_KEYS.has(key)) {
    throw new SessionValidationError(`${formatPath(where, [key])}: forbidden key name`, {
      field: formatPath(where, [key]),
    });
  }
  if (key.length === 0 || key.length > limits.maxKeyLength) {
    throw new SessionValidationError(
      `${where}: keys must be 1 to ${limits.maxKeyLength} characters long (got ${key.length})`,
      { field: where },
    );
  }
  if (LONE_SURROGATE.test(key)) {
    throw new SessionValidationError(`${where}: key contains a lone UTF-16 surrogate`, {
      field: where,
    });
  }
  if (CONTROL_CHARACTER.test(key)) {
    throw new SessionValidationError(`${where}: key contains a control character`, {
      field: where,
    });
  }
}

/**
 * Throw unless `value` is a plain object (prototype `Object.prototype` or
 * `null`): what session data, `patch.set` and `changes` must be.
 * @throws SessionValidationError `INVALID_ARGUMENT`
 */
export function assertPlainRecord(
  value: unknown,
  where: string,
  operation?: string,
): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    const message = `${where} must be a plain object, got ${describeKind(value)}`;
    throw new SessionValidationError(message, {
      field: where,
      ...(operation === undefined ? {} : { operation }),
    });
  }
}

/**
 * Walk one top-level value and throw on anything `JSON.stringify` would
 * drop, change or choke on, so that a value that passes round-trips exactly
 * (except `-0`, which JSON writes as `0`). One cheap pass, no string building:
 * the caller stringifies afterwards.
 *
 * `root` and `key` name the value for messages (`data` and `cart` →
 * `data.cart`); segments below are tracked on a stack and only formatted
 * when something fails.
 *
 * @throws SessionSerializationError for BigInt, functions, symbols, `undefined`,
 *   NaN/±Infinity, cycles, non-plain objects (Date, Map, Set, Buffer, class
 *   instances) and symbol-keyed properties (JSON would drop them silently)
 * @throws SessionValidationError `INVALID_ARGUMENT` for a forbidden key name or nesting deeper than `maxDepth`
 */
export function assertJsonValue(
  value: unknown,
  root: string,
  limits: DataLimits,
  key?: string,
): asserts value is JsonValue {
  // The value sits inside the data object, which is level 1. `key` starts the
  // path lazily: formatting it on every call would cost more than the walk.
  walk(value, 2, {
    root,
    segments: key === undefined ? [] : [key],
    ancestors: [],
    maxDepth: limits.maxDepth,
  });
}

interface WalkState {
  readonly root: string;
  readonly segments: (string | number)[];
  readonly ancestors: object[];
  readonly maxDepth: number;
}

function walk(value: unknown, depth: number, state: WalkState): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(state, `${String(value)} is not representable in JSON`);
      return;
    case 'object':
      break;
    case 'undefined':
      return fail(state, 'undefined is not representable in JSON (use null or omit the key)');
    default:
      return fail(state, `a ${typeof value} is not representable in JSON`);
  }
  if (value === null) return;

  // Only the current chain of containers matters: a shared (non-cyclic)
  // reference is fine for JSON. The chain is at most maxDepth long.
  // Checked before depth, so a cycle is reported as one.
  if (state.ancestors.includes(value)) fail(state, 'circular reference');

  if (depth > state.maxDepth) {
    throw new SessionValidationError(
      `${formatPath(state.root, state.segments)}: nesting deeper than maxDepth ${state.maxDepth}`,
      { field: formatPath(state.root, state.segments) },
    );
  }

  state.ancestors.push(value);
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) fail(state, 'an array subclass');
    // Own properties besides the indices (`arr.note = 1`) are dropped by
    // JSON without a word. Object.keys lists indices first, ascending, then
    // other string keys: one is there exactly when the last key is not an index.
    const keys = Object.keys(value);
    const last = keys[keys.length - 1];
    if (
      (last !== undefined && String(Number(last)) !== last) ||
      Object.getOwnPropertySymbols(value).length > 0
    ) {
      fail(state, 'array with properties other than its elements (JSON drops them)');
    }
    // Index loop on purpose: it visits holes of sparse arrays (as undefined).
    for (let i = 0; i < value.length; i++) {
      state.segments.push(i);
      walk(value[i], depth + 1, state);
      state.segments.pop();
    }
  } else {
    if (!isPlainObject(value)) fail(state, `${describeKind(value)} is not a plain object`);
    if (Object.getOwnPropertySymbols(value).length > 0) {
      fail(state, 'symbol-keyed properties are dropped by JSON');
    }
    const record = value;
    for (const key of Object.keys(record)) {
      state.segments.push(key);
      if (FORBIDDEN_KEYS.has(key)) {
        const where = formatPath(state.root, state.segments);
        throw new SessionValidationError(`${where}: forbidden key name`, { field: where });
      }
      walk(record[key], depth + 1, state);
      state.segments.pop();
    }
  }
  state.ancestors.pop();
}

function fail(state: WalkState, reason: string): never {
  throw new SessionSerializationError(`${formatPath(state.root, state.segments)}: ${reason}`, {
    details: { path: formatPath(state.root, state.segments) },
  });
}

/** Prototype `Object.prototype` or `null`, not an array: what JSON round-trips as an object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return `a ${typeof value}`;
  const ctor: unknown = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)
    ?.constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? `a ${ctor.name}` : 'an object';
}

/** `data.cart.items[3]`, `data["odd key"]`. */
export function formatPath(root: string, segments: readonly (string | number)[]): string {
  let out = root;
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

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

/** Throw unless a function (`update`'s and `lock`'s callback). */
export function assertFunction(
  value: unknown,
  field: string,
  operation: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgument(field, operation, 'a function');
}

/** The optional `expectedVersion` of a fenced write. @throws SessionValidationError `INVALID_ARGUMENT` unless absent or a positive integer. */
export function optionalVersion(value: unknown, operation: string): number | undefined {
  if (value !== undefined) assertPositiveInteger(value, 'options.expectedVersion', operation);
  return value;
}

/**
 * `get`'s options as a store takes them (`undefined` when there is nothing to pass).
 * @throws SessionValidationError `INVALID_ARGUMENT` unless
 *   `{ minVersion?: non-negative integer, minVersionSince?: epoch ms }`
 */
export function loadOptions(value: unknown): LoadOptions | undefined {
  if (value === undefined) return undefined;
  assertObjectArgument(value, 'options', 'get');
  const { minVersion, minVersionSince } = value as Record<string, unknown>;
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

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `{ set?: plain object, unset?: string[] }`. */
export function assertPatch(value: unknown, operation: string): asserts value is SessionPatch {
  assertPlainRecord(value, 'changes', operation);
  const { set, unset } = value;
  if (set !== undefined) assertPlainRecord(set, 'changes.set', operation);
  if (unset !== undefined && (!Array.isArray(unset) || unset.some((k) => typeof k !== 'string'))) {
    throw invalidArgument('changes.unset', operation, 'an array of strings');
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
