import { createHash, randomBytes } from 'node:crypto';
import { SessionValidationError } from './errors.js';

/** Bytes of entropy in a session id (256 bits). */
export const SESSION_ID_BYTES = 32;

/** Length of a session id: 32 bytes in unpadded base64url. */
export const SESSION_ID_LENGTH = 43;

// base64url alphabet only, exact length. The last character of 32 bytes in
// base64url carries 4 padding bits, so only 16 of the 64 symbols can appear
// there; requiring that keeps the id canonical (one string per byte value).
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A fresh 256-bit session id from the CSPRNG, base64url without padding. */
export function generateSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}

/**
 * True only for ids this library could have generated. Checked before any
 * storage key is built, so `*`, `{`, `:`, whitespace, control characters and
 * wrong lengths never reach Redis.
 */
export function isValidSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID_PATTERN.test(value);
}

/**
 * Throw {@link SessionValidationError} (`INVALID_SESSION_ID`) unless `value`
 * is a valid id. The message never echoes the input (it may be an attack string).
 */
export function assertValidSessionId(value: unknown, operation?: string): asserts value is string {
  if (!isValidSessionId(value)) {
    throw new SessionValidationError('Invalid session id', {
      code: 'INVALID_SESSION_ID',
      operation,
      details: {
        type: typeof value,
        ...(typeof value === 'string' ? { length: value.length } : {}),
      },
    });
  }
}

/**
 * Short, stable, non-reversible tag for a session id, for logs, spans and
 * metrics (first 12 hex chars of SHA-256). The raw id never goes there.
 */
export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 12);
}
