import { hash, randomFillSync } from 'node:crypto';
import { SessionValidationError } from './errors.js';

/** Bytes of entropy in a session id (256 bits). */
export const SESSION_ID_BYTES = 32;

/** Length of a session id: 32 bytes in unpadded base64url. */
export const SESSION_ID_LENGTH = 43;

// base64url alphabet only, exact length. The last character of 32 bytes in
// base64url carries 4 padding bits, so only 16 of the 64 symbols can appear
// there; requiring that keeps the id canonical (one string per byte value).
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

// One CSPRNG call fills ids for 128 sessions: `randomBytes(32)` costs ~11 µs
// a call on this class of VM (a call into OpenSSL each time), a slice of the
// pool ~0.3 µs. Each slice is handed out once and the pool is refilled only
// after every slice was used, so no two ids share a byte.
const ID_POOL = Buffer.alloc(SESSION_ID_BYTES * 128);
let poolOffset = ID_POOL.length;

/** A fresh 256-bit session id from the CSPRNG, base64url without padding. */
export function generateSessionId(): string {
  if (poolOffset === ID_POOL.length) {
    randomFillSync(ID_POOL);
    poolOffset = 0;
  }
  const start = poolOffset;
  poolOffset += SESSION_ID_BYTES;
  return ID_POOL.toString('base64url', start, poolOffset);
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
  // One-shot crypto.hash (Node ≥ 20.12): a third of createHash's cost, and
  // this runs on every traced operation and every masked log line.
  return hash('sha256', id, 'hex').slice(0, 12);
}

// A token shaped exactly like a generated session id (43 base64url chars,
// canonical last char) and not part of a longer base64url run.
const SESSION_ID_TOKEN = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048](?![A-Za-z0-9_-])/g;

/**
 * Free text (an error message from a driver, a Redis key, a log line) with
 * every token shaped like a session id replaced by `<sid:hash>` — the same
 * {@link hashSessionId} logs, spans and metrics use — so the text can go
 * where raw ids must not.
 *
 * @example
 * ```ts
 * maskSessionIds(`app:s:{app:3}:${sid}`); // 'app:s:{app:3}:<sid:1f2e3d4c5b6a>'
 * ```
 */
export function maskSessionIds(text: string): string {
  return text.replace(SESSION_ID_TOKEN, (id) => `<sid:${hashSessionId(id)}>`);
}
