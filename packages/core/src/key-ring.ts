import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SessionEncryptionError, SessionValidationError } from './errors.js';

/** One AES-256 key of a {@link KeyRingOptions | key ring}. */
export interface EncryptionKey {
  /** Stored beside every value it seals: `[A-Za-z0-9_-]{1,32}`, unique in the ring. */
  readonly id: string;
  /** Exactly 32 bytes: raw bytes, or a base64 / base64url string. */
  readonly key: Buffer | Uint8Array | string;
}

/**
 * AES-256-GCM keys for encryption at rest. The first key encrypts; any key
 * decrypts (found by the id stored with the value). Rotate by putting a new
 * key first and keeping the old ones until every value sealed with them has
 * been rewritten or has expired.
 */
export interface KeyRingOptions {
  readonly keys: readonly EncryptionKey[];
}

/** A validated key ring. Key bytes live only inside `KeyObject`s. */
export interface KeyRing {
  readonly primaryId: string;
  readonly primary: KeyObject;
  readonly byId: ReadonlyMap<string, KeyObject>;
}

const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

/**
 * Validate key ring options (at construction, so a bad key fails at startup,
 * not at the first request).
 * @param path option path used in error fields, e.g. `encryption`
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad field (`encryption.keys[1].key`)
 */
export function createKeyRing(options: KeyRingOptions, path = 'encryption'): KeyRing {
  const invalid = (field: string, message: string): SessionValidationError =>
    new SessionValidationError(`${field}: ${message}`, { code: 'INVALID_CONFIG', field });

  const keys: unknown = (options as { keys?: unknown } | null | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw invalid(`${path}.keys`, 'expected a non-empty array of { id, key }');
  }
  const byId = new Map<string, KeyObject>();
  const entries = keys as readonly unknown[];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as { id?: unknown; key?: unknown } | null | undefined;
    const at = `${path}.keys[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw invalid(at, 'expected { id, key }');
    const { id, key } = entry;
    if (typeof id !== 'string' || !KEY_ID_PATTERN.test(id)) {
      throw invalid(`${at}.id`, 'expected 1 to 32 characters of [A-Za-z0-9_-]');
    }
    if (byId.has(id)) throw invalid(`${at}.id`, `duplicate key id "${id}"`);
    byId.set(id, createSecretKey(keyBytes(key, `${at}.key`, invalid)));
  }
  const primaryId = (entries[0] as { id: string }).id;
  const primary = byId.get(primaryId);
  if (primary === undefined) throw invalid(`${path}.keys[0]`, 'missing'); // unreachable: checked above
  return { primaryId, primary, byId };
}

function keyBytes(
  key: unknown,
  field: string,
  invalid: (field: string, message: string) => SessionValidationError,
): Buffer {
  let bytes: Buffer;
  if (typeof key === 'string') {
    // Buffer.from(…, 'base64') skips characters it does not know; check first
    // so a typo is an error instead of a silently different key.
    if (!BASE64_PATTERN.test(key)) throw invalid(field, 'expected base64 or base64url text');
    bytes = Buffer.from(key, 'base64');
  } else if (key instanceof Uint8Array) {
    // A copy: later changes to the caller's buffer must not change the key.
    bytes = Buffer.from(key);
  } else {
    throw invalid(field, 'expected a Buffer, a Uint8Array or a base64 string');
  }
  if (bytes.length !== KEY_BYTES) {
    throw invalid(field, `expected exactly ${KEY_BYTES} bytes, got ${bytes.length}`);
  }
  return bytes;
}

// One CSPRNG call per IV costs more than the AES-GCM work itself on small
// values, so IVs are cut from a pool filled 4 KiB at a time (what Node's own
// randomUUID does). Every IV is still 96 fresh random bits, never reused: a
// slice is handed out once and the pool is refilled only after all are used.
// Synchronous code in one thread: no two callers can take the same slice.
const IV_POOL = Buffer.allocUnsafe(IV_BYTES * 341);
let ivPoolOffset = IV_POOL.length;

function nextIv(): Buffer {
  if (ivPoolOffset + IV_BYTES > IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivPoolOffset = 0;
  }
  const iv = IV_POOL.subarray(ivPoolOffset, ivPoolOffset + IV_BYTES);
  ivPoolOffset += IV_BYTES;
  return iv;
}

/**
 * Seal `plaintext` with the ring's primary key: base64url of
 * `iv(12) | tag(16) | ciphertext`, with a fresh random IV per call. `aad` binds
 * the value to where it is stored (session id and key).
 * @throws SessionEncryptionError `ENCRYPTION_FAILED` (OpenSSL failure; not expected in practice)
 */
export function sealWithKeyRing(ring: KeyRing, aad: string, plaintext: string): string {
  try {
    const iv = nextIv();
    const cipher = createCipheriv(ALGORITHM, ring.primary, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const head = cipher.update(plaintext, 'utf8');
    const tail = cipher.final();
    return Buffer.concat([iv, cipher.getAuthTag(), head, tail]).toString('base64url');
  } catch (cause) {
    throw new SessionEncryptionError('Encrypting a session value failed', {
      code: 'ENCRYPTION_FAILED',
      cause,
    });
  }
}

/** Smallest sealed payload: IV and tag around at least one byte of JSON. */
export const MIN_SEALED_BYTES = IV_BYTES + TAG_BYTES + 1;

/**
 * Open a value sealed by {@link sealWithKeyRing} with the key `keyId`.
 * `sealed` must already be decoded from base64url and at least
 * {@link MIN_SEALED_BYTES} long.
 * @throws SessionEncryptionError `UNKNOWN_KEY_ID` when the ring lacks `keyId`;
 *   `DECRYPTION_FAILED` when the GCM tag does not verify (tampered, wrong key, moved to another session/key)
 */
export function openWithKeyRing(
  ring: KeyRing | undefined,
  keyId: string,
  aad: string,
  sealed: Buffer,
): string {
  const key = ring?.byId.get(keyId);
  if (key === undefined) {
    throw new SessionEncryptionError(
      ring === undefined
        ? 'Stored value is encrypted but the codec has no key ring'
        : 'Stored value is encrypted with a key id that is not in the key ring',
      { code: 'UNKNOWN_KEY_ID', details: { keyId } },
    );
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const head = decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES), undefined, 'utf8');
    return head + decipher.final('utf8');
  } catch (cause) {
    throw new SessionEncryptionError('Stored value failed authenticated decryption', {
      code: 'DECRYPTION_FAILED',
      cause,
      details: { keyId },
    });
  }
}
