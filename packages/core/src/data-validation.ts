import { SessionSerializationError, SessionValidationError } from './errors.js';
import type { JsonValue } from './session.js';

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
 * `null`): what session data and `patch.set` must be.
 * @throws SessionValidationError `INVALID_ARGUMENT`
 */
export function assertPlainRecord(
  value: unknown,
  where: string,
): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw new SessionValidationError(
      `${where} must be a plain object, got ${describeKind(value)}`,
      {
        field: where,
      },
    );
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
