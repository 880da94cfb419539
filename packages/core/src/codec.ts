import type { JsonValue, SessionData, SessionPatch } from './session.js';

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
  /** Size of one field toward `maxBytes`: UTF-8 bytes of key plus encoded value. */
  fieldBytes(key: string, encoded: string): number;
}
