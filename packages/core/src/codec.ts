import type { JsonValue, SessionData, SessionPatch } from './session.js';
import type { FrameKeys } from './frame-keys.js';

/**
 * Encoded session data: one entry per top-level key. Stores keep entries as
 * separate fields (a Redis HASH field each), which is what lets a patch merge
 * fields atomically without decoding anything server-side, and lets each
 * value be sealed with its own integrity check or AES-GCM tag.
 */
export interface EncodedData {
  /** `[key, encodedValue]`, one per top-level key, in the input's key order. */
  readonly fields: readonly (readonly [key: string, encoded: string])[];
  /** Σ {@link SessionCodec.fieldBytes} over `fields`: what counts toward `maxBytes`. */
  readonly bytes: number;
}

/** An encoded {@link SessionPatch}. */
export interface EncodedPatch {
  readonly set: EncodedData;
  /** Validated top-level keys to remove. */
  readonly unset: readonly string[];
}

/**
 * Session data encoded as entries for a container that checksums all of
 * them at once (RedisStore's frame): no per-value integrity check, so a load
 * can verify one checksum and parse every plain value in one `JSON.parse`.
 */
export interface EncodedEntries {
  /**
   * `[jsonKey, value]` per top-level key, in the input's key order. `jsonKey`
   * is `JSON.stringify(key)`. `value` is the value's JSON text, or
   * `e1:<keyId>:<base64url>` when encrypted (JSON text never starts with `e`).
   */
  readonly entries: readonly (readonly [jsonKey: string, value: string])[];
  /** Σ UTF-8 bytes of jsonKey + value: what counts toward `maxBytes`. */
  readonly bytes: number;
}

/** An encoded {@link SessionPatch}, as {@link EncodedEntries}. */
export interface EncodedPatchEntries {
  readonly set: EncodedEntries;
  /** Validated top-level keys to remove, each as `JSON.stringify(key)`. */
  readonly unset: readonly string[];
}

/**
 * Turns session data into stored strings and back, field by field.
 *
 * Every encoded value carries a format version and an integrity check
 * (CRC-32 in plain form, the GCM tag when encrypted), bound to the session id
 * and key, so a value copied to another session or key is detected.
 */
export interface SessionCodec {
  /** Upper bound on a session's total encoded size (default 64 KiB). */
  readonly maxBytes: number;
  /**
   * True when the codec refuses values stored in plain form (encryption on,
   * `acceptPlaintext` off). A container that parses plain entries in bulk,
   * without {@link decodeEntry}, must refuse them itself.
   */
  readonly requiresEncryption?: boolean | undefined;
  /**
   * With encryption: the secrets of the keyed check a container puts over a
   * whole session (header and entries), see {@link FrameKeys}. A container
   * that frames sessions must write and verify it; `undefined` without
   * encryption.
   */
  readonly frameKeys?: FrameKeys | undefined;
  /**
   * Validate and encode a whole data object.
   * @throws SessionSerializationError for values JSON cannot carry (BigInt, cycles, functions, symbols, NaN/Infinity)
   * @throws SessionValidationError `INVALID_ARGUMENT` for bad keys (`__proto__`, `constructor`, `prototype`, empty, too long) or nesting too deep; `PAYLOAD_TOO_LARGE` over `maxBytes`
   */
  encodeData(sessionId: string, data: SessionData): EncodedData;
  /**
   * Validate and encode a patch. `set.bytes` over `maxBytes` throws; the
   * store still checks the merged total against `maxBytes`.
   */
  encodePatch(sessionId: string, patch: SessionPatch): EncodedPatch;
  /**
   * Decode one stored value.
   * @throws SessionCorruptedError on a failed integrity check, unknown format or unparsable JSON
   * @throws SessionEncryptionError `UNKNOWN_KEY_ID` / `DECRYPTION_FAILED`
   */
  decodeField(sessionId: string, key: string, encoded: string): JsonValue;
  /** Decode every field into a fresh data object (null-prototype-safe: no pollution). */
  decodeData(
    sessionId: string,
    fields: Iterable<readonly [key: string, encoded: string]>,
  ): SessionData;
  /**
   * Size of one field (plain key, j1/e1 value) toward `maxBytes`: UTF-8 bytes
   * of its JSON key plus its value as Redis stores it (JSON text without the
   * checksum prefix, or the sealed value).
   */
  fieldBytes(key: string, encoded: string): number;
  /**
   * Validate and encode a whole data object as {@link EncodedEntries}: the
   * same validation, limits and encryption as {@link encodeData}, without a
   * per-value checksum (the container must checksum the entries).
   */
  encodeEntries(sessionId: string, data: SessionData): EncodedEntries;
  /** Validate and encode a patch as {@link EncodedPatchEntries}. */
  encodePatchEntries(sessionId: string, patch: SessionPatch): EncodedPatchEntries;
  /**
   * Decode one entry value written by {@link encodeEntries} (plain JSON text
   * or `e1:…`) for the top-level `key` (decoded, not JSON).
   * @throws SessionCorruptedError on unparsable JSON or a forbidden key
   * @throws SessionEncryptionError `UNKNOWN_KEY_ID` / `DECRYPTION_FAILED`
   */
  decodeEntry(sessionId: string, key: string, value: string): JsonValue;
}
