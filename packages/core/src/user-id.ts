import { SessionValidationError } from './errors.js';

/** Longest accepted user id, in UTF-16 code units. */
export const MAX_USER_ID_LENGTH = 256;

// No control characters (C0, DEL, C1) and no line/paragraph separators: user
// ids end up in keys, logs and span attributes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN_USER_ID_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// With the `u` flag a well-formed surrogate pair is one code point and does
// not match, so this finds only lone surrogates. Redis stores text as UTF-8,
// where every lone surrogate becomes U+FFFD: `'\uD800'` and `'\uDBFF'` would
// share one user index, and the owner read back would differ from the one written.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * True for a non-empty string of at most {@link MAX_USER_ID_LENGTH} chars
 * without control characters or lone surrogates.
 */
export function isValidUserId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_USER_ID_LENGTH &&
    !FORBIDDEN_USER_ID_CHARS.test(value) &&
    !LONE_SURROGATE.test(value)
  );
}

/** Throw {@link SessionValidationError} (`INVALID_ARGUMENT`, field `userId`) unless valid. */
export function assertValidUserId(value: unknown, operation?: string): asserts value is string {
  if (!isValidUserId(value)) {
    throw new SessionValidationError(
      `Invalid userId: expected a non-empty string of at most ${MAX_USER_ID_LENGTH} characters without control characters or lone surrogates`,
      { field: 'userId', operation },
    );
  }
}
