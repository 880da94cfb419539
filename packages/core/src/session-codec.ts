import * as zlib from 'node:zlib';
import type { EncodedData, EncodedPatch, SessionCodec } from './codec.js';
import {
  FORBIDDEN_KEYS,
  assertJsonValue,
  assertPlainRecord,
  assertTopLevelKey,
  formatPath,
} from './input-validation.js';
import type { DataLimits } from './input-validation.js';
import {
  SessionCorruptedError,
  SessionError,
  SessionSerializationError,
  SessionValidationError,
  isSessionError,
} from './errors.js';
import { deriveFrameKeys } from './frame-keys.js';
import { MIN_SEALED_BYTES, createKeyRing, openWithKeyRing, sealWithKeyRing } from './key-ring.js';
import type { KeyRingOptions } from './key-ring.js';
import { createOptionChecks } from './option-checks.js';
import { parseStoredJson } from './parse-stored-json.js';
import type { JsonValue, SessionData, SessionPatch } from './session.js';

const check = createOptionChecks('createSessionCodec');

/** Options of {@link createSessionCodec}. */
export interface SessionCodecOptions {
  /**
   * Upper bound on a session's encoded size: Σ UTF-8 bytes of the JSON key
   * plus the stored value (its JSON text, or the sealed value when
   * encrypted) over its fields — what Redis holds, the same in every store.
   * Default 65536.
   */
  readonly maxBytes?: number | undefined;
  /** Deepest nesting of objects/arrays; the data object itself is level 1. Default 32. */
  readonly maxDepth?: number | undefined;
  /** Longest top-level key, in UTF-16 code units. Default 256. */
  readonly maxKeyLength?: number | undefined;
  /**
   * Encrypt every value at rest with AES-256-GCM. Values stored in plain
   * form are refused unless `acceptPlaintext` (for a migration).
   */
  readonly encryption?: KeyRingOptions | undefined;
  /**
   * With `encryption`: still read values stored in plain form. Default
   * `false`: a plain value is refused (`SESSION_CORRUPTED`), because anyone
   * who can write to Redis could otherwise plant one (`{ role: 'admin' }`)
   * and have it read as the session's. Set it to `true` only while
   * migrating a store that holds sessions written before encryption was
   * turned on (they are encrypted on their next full write, or expire);
   * see docs/security.md. Without `encryption` plain values are what is
   * written, and this option is ignored.
   */
  readonly acceptPlaintext?: boolean | undefined;
}

/** Defaults of {@link SessionCodecOptions}. */
export const DEFAULT_CODEC_LIMITS = Object.freeze({
  maxBytes: 65_536,
  maxDepth: 32,
  maxKeyLength: 256,
});

/*
 * Stored formats, one string per top-level key:
 *
 *   j1:<crc32, 8 lowercase hex>:<json>
 *       CRC-32 over sessionId NUL key NUL json.
 *   e1:<keyId>:<base64url(iv(12) | tag(16) | ciphertext)>
 *       AES-256-GCM of the json, AAD = sessionId NUL key.
 *
 * Binding session id and key into the check means a value copied to another
 * session or key fails it. The framing is unambiguous because session ids
 * (base64url) and JSON text never contain a raw NUL, so the checksummed /
 * authenticated bytes identify (sessionId, key, json) uniquely.
 *
 * CRC-32 detects accidents (truncation, bit rot, a value written to the
 * wrong place), not an attacker who can write to Redis: use encryption for that.
 */
const PLAIN_PREFIX = 'j1:';
/** Why a plain value is refused under encryption (a `SESSION_CORRUPTED` reason). */
const PLAINTEXT_REFUSED = 'plain value where encryption is required';
const SEALED_PREFIX = 'e1:';
const CRC_HEX_LENGTH = 8;
const PLAIN_JSON_OFFSET = PLAIN_PREFIX.length + CRC_HEX_LENGTH + 1;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Check one entry of session data as the codec checks every entry it
 * encodes (the key's rules; a value JSON carries and reads back the same,
 * within the default depth), without encoding it: for a caller that wants a
 * bad value refused where it is set, long before the session is encoded
 * and stored. Sizes are left to the store, which checks the encoded
 * session against its `maxBytes`.
 * @throws SessionValidationError / SessionSerializationError as
 *   `encodePatch(id, { set: { [key]: value } })` would, with the same fields
 */
export function checkSessionEntry(key: string, value: unknown): void {
  assertTopLevelKey(key, DEFAULT_CODEC_LIMITS, 'patch.set');
  toJson({ [key]: value }, key, 'patch.set', DEFAULT_CODEC_LIMITS);
}

/**
 * Check a key to remove as the codec checks `patch.unset` (the key's rules).
 * @throws SessionValidationError as `encodePatch(id, { unset: [key] })` would
 */
export function checkSessionKey(key: string): void {
  assertTopLevelKey(key, DEFAULT_CODEC_LIMITS, 'patch.unset');
}

/** `data[key]` as JSON text, checked first (see `assertJsonValue`); what JSON cannot carry is a `SessionSerializationError`. */
function toJson(
  data: Record<string, unknown>,
  key: string,
  where: string,
  limits: DataLimits,
): string {
  try {
    const value = data[key];
    assertJsonValue(value, where, limits, key);
    const json: unknown = JSON.stringify(value);
    // Validation and stringify each read nested values once, so only a
    // getter or proxy that answers differently the second time (a `toJSON`
    // that appears) can make stringify return undefined here.
    if (typeof json !== 'string') throw new TypeError('value changed while being encoded');
    return json;
  } catch (error) {
    if (isSessionError(error)) throw error;
    const path = formatPath(where, [key]);
    throw new SessionSerializationError(`${path}: value could not be serialised`, {
      cause: error,
      details: { path },
    });
  }
}

/**
 * Build the {@link SessionCodec} every store uses.
 *
 * `-0` is stored as `0` (JSON has no negative zero); every other value that
 * passes validation round-trips exactly.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 *   (`maxBytes`, `encryption.keys[1].key`, …)
 * @example
 * ```ts
 * const codec = createSessionCodec({
 *   encryption: { keys: [{ id: '2025-06', key: process.env.SESSION_KEY! }] },
 * });
 * const { fields } = codec.encodeData(sid, { cart: { items: [1, 2] } });
 * const data = codec.decodeData(sid, fields);
 * ```
 */
export function createSessionCodec(options: SessionCodecOptions = {}): SessionCodec {
  if (typeof zlib.crc32 !== 'function') {
    throw new SessionError('INTERNAL', 'The session codec needs zlib.crc32 (Node.js >= 20.15)');
  }
  const maxBytes = check.integer(options.maxBytes, 'maxBytes', 1) ?? DEFAULT_CODEC_LIMITS.maxBytes;
  const limits: DataLimits = {
    maxDepth: check.integer(options.maxDepth, 'maxDepth', 1) ?? DEFAULT_CODEC_LIMITS.maxDepth,
    maxKeyLength:
      check.integer(options.maxKeyLength, 'maxKeyLength', 1) ?? DEFAULT_CODEC_LIMITS.maxKeyLength,
  };
  const ring = options.encryption === undefined ? undefined : createKeyRing(options.encryption);
  const acceptPlaintext = check.boolean(options.acceptPlaintext, 'acceptPlaintext') ?? false;
  // Plain values are refused when they could only have been planted.
  const requiresEncryption = ring !== undefined && !acceptPlaintext;

  function encodeValue(sessionId: string, key: string, json: string): string {
    if (ring !== undefined) {
      return `${SEALED_PREFIX}${ring.primaryId}:${sealWithKeyRing(ring, bindingOf(sessionId, key), json)}`;
    }
    return `${PLAIN_PREFIX}${crcHex(sessionId, key, json)}:${json}`;
  }

  /**
   * Validate and encode `data`. `fields` form: `[key, j1/e1 value]`;
   * `entries` form: `[JSON key, JSON text or e1 value]` (see EncodedEntries).
   */
  function encodeRecord(
    sessionId: string,
    data: unknown,
    where: string,
    form: 'fields' | 'entries',
  ): EncodedData {
    assertSessionIdType(sessionId);
    assertPlainRecord(data, where);
    if (Object.getOwnPropertySymbols(data).length > 0) {
      // Object.keys skips them: they would vanish without a word.
      throw new SessionSerializationError(`${where}: symbol-keyed properties are dropped by JSON`, {
        details: { path: where },
      });
    }
    const fields: (readonly [string, string])[] = [];
    let bytes = 0;
    for (const key of Object.keys(data)) {
      assertTopLevelKey(key, limits, where);
      const json = toJson(data, key, where, limits);
      if (form === 'fields') {
        const encoded = encodeValue(sessionId, key, json);
        fields.push([key, encoded]);
        bytes += fieldBytes(key, encoded);
      } else {
        const value = ring === undefined ? json : encodeValue(sessionId, key, json);
        const jsonKey = JSON.stringify(key);
        fields.push([jsonKey, value]);
        bytes += entryBytes(jsonKey, value);
      }
    }
    if (bytes > maxBytes) {
      throw new SessionValidationError(
        `${where} is ${bytes} bytes encoded, over the limit of ${maxBytes} bytes`,
        { code: 'PAYLOAD_TOO_LARGE', field: where, details: { bytes, maxBytes } },
      );
    }
    return { fields, bytes };
  }

  function decodeField(sessionId: string, key: string, encoded: string): JsonValue {
    try {
      return decodeOrThrow(sessionId, key, encoded);
    } catch (error) {
      if (isSessionError(error)) throw error;
      // Never put the cause's message into ours: V8's JSON errors quote the
      // stored text, which may be sensitive.
      // Nor the cause itself (it is printed with the error): a stand-in with its name.
      if (error instanceof CorruptValue) throw corrupted(key, error.message, error);
      const reason = 'unparsable JSON or a forbidden key';
      throw corrupted(key, reason, redactedParseError(error, reason));
    }
  }

  function decodeOrThrow(sessionId: string, key: string, encoded: string): JsonValue {
    if (typeof encoded !== 'string') throw new CorruptValue('not a string');
    if (encoded.startsWith(PLAIN_PREFIX)) {
      const crc = readCrcHex(encoded, PLAIN_PREFIX.length);
      if (crc < 0 || encoded.charCodeAt(PLAIN_JSON_OFFSET - 1) !== 0x3a /* : */) {
        throw new CorruptValue('malformed plain value');
      }
      const json = encoded.slice(PLAIN_JSON_OFFSET);
      if (crcOf(sessionId, key, json) !== crc) throw new CorruptValue('checksum mismatch');
      if (requiresEncryption) throw new CorruptValue(PLAINTEXT_REFUSED);
      return parseStoredJson(json);
    }
    if (encoded.startsWith(SEALED_PREFIX)) {
      const colon = encoded.indexOf(':', SEALED_PREFIX.length);
      const keyId = colon < 0 ? '' : encoded.slice(SEALED_PREFIX.length, colon);
      const body = colon < 0 ? '' : encoded.slice(colon + 1);
      if (!KEY_ID.test(keyId) || !BASE64URL.test(body)) {
        throw new CorruptValue('malformed encrypted value');
      }
      const sealed = Buffer.from(body, 'base64url');
      if (sealed.length < MIN_SEALED_BYTES) throw new CorruptValue('encrypted value too short');
      return parseStoredJson(openWithKeyRing(ring, keyId, bindingOf(sessionId, key), sealed));
    }
    throw new CorruptValue('unknown format');
  }

  function decodeData(
    sessionId: string,
    fields: Iterable<readonly [key: string, encoded: string]>,
  ): SessionData {
    const data: SessionData = {};
    for (const [key, encoded] of fields) {
      // Keys come from storage: never let one reach the prototype chain, and
      // never let a duplicate silently win. maxKeyLength is deliberately not
      // enforced here: lowering it must not make stored sessions unreadable.
      if (typeof key !== 'string' || key.length === 0) throw corrupted(key, 'invalid key');
      if (FORBIDDEN_KEYS.has(key)) throw corrupted(key, 'forbidden key name');
      if (Object.hasOwn(data, key)) throw corrupted(key, 'duplicate key');
      data[key] = decodeField(sessionId, key, encoded);
    }
    return data;
  }

  function corrupted(key: unknown, reason: string, cause?: unknown): SessionCorruptedError {
    // Keys from storage are echoed only when short enough to be ours.
    const field =
      typeof key === 'string' && key.length <= limits.maxKeyLength
        ? formatPath('data', [key])
        : undefined;
    return new SessionCorruptedError(`Stored session value is corrupted: ${reason}`, {
      cause: cause ?? new CorruptValue(reason),
      details: { reason, ...(field === undefined ? {} : { field }) },
    });
  }

  function decodeEntry(sessionId: string, key: string, value: string): JsonValue {
    if (typeof value === 'string' && value.startsWith(SEALED_PREFIX)) {
      return decodeField(sessionId, key, value);
    }
    try {
      if (typeof value !== 'string') throw new CorruptValue('not a string');
      if (requiresEncryption) throw new CorruptValue(PLAINTEXT_REFUSED);
      return parseStoredJson(value);
    } catch (error) {
      // Nor the cause itself (it is printed with the error): a stand-in with its name.
      if (error instanceof CorruptValue) throw corrupted(key, error.message, error);
      const reason = 'unparsable JSON or a forbidden key';
      throw corrupted(key, reason, redactedParseError(error, reason));
    }
  }

  function encodePatch(
    sessionId: string,
    patch: SessionPatch,
    form: 'fields' | 'entries',
  ): EncodedPatch {
    assertPlainRecord(patch, 'patch');
    const { set: rawSet, unset: rawUnset } = patch as { set?: unknown; unset?: unknown };
    const set = rawSet === undefined ? EMPTY : encodeRecord(sessionId, rawSet, 'patch.set', form);
    if (rawUnset === undefined) return { set, unset: [] };
    if (!Array.isArray(rawUnset)) {
      throw new SessionValidationError('patch.unset must be an array of keys', {
        field: 'patch.unset',
      });
    }
    // rawSet passed encodeRecord's plain-record check when present.
    const setKeys = new Set(rawSet === undefined ? [] : Object.keys(rawSet as object));
    const unset = new Set<string>();
    for (const key of rawUnset as readonly unknown[]) {
      assertTopLevelKey(key, limits, 'patch.unset');
      if (setKeys.has(key)) {
        const field = formatPath('patch.unset', [key]);
        throw new SessionValidationError(`${field}: key is both set and unset`, { field });
      }
      unset.add(form === 'fields' ? key : JSON.stringify(key)); // duplicates are kept once
    }
    return { set, unset: [...unset] };
  }

  return {
    maxBytes,
    requiresEncryption,
    frameKeys: ring === undefined ? undefined : deriveFrameKeys(ring, acceptPlaintext),
    encodeData: (sessionId, data) => encodeRecord(sessionId, data, 'data', 'fields'),
    encodePatch: (sessionId, patch) => encodePatch(sessionId, patch, 'fields'),
    decodeField,
    decodeData,
    fieldBytes,
    encodeEntries: (sessionId, data) => {
      const { fields, bytes } = encodeRecord(sessionId, data, 'data', 'entries');
      return { entries: fields, bytes };
    },
    encodePatchEntries: (sessionId, patch) => {
      const { set, unset } = encodePatch(sessionId, patch, 'entries');
      return { set: { entries: set.fields, bytes: set.bytes }, unset };
    },
    decodeEntry,
  };
}

const EMPTY: EncodedData = Object.freeze({ fields: Object.freeze([]), bytes: 0 });

/** A stored value failed a structural check; `message` is a fixed, data-free reason. */
class CorruptValue extends Error {
  public override readonly name = 'CorruptValue';
}

/** What one entry (JSON key, stored value) counts toward `maxBytes`: its bytes in the frame. */
function entryBytes(jsonKey: string, value: string): number {
  return Buffer.byteLength(jsonKey, 'utf8') + Buffer.byteLength(value, 'utf8');
}

/**
 * What one field counts toward `maxBytes`, given in `fields` form (a plain
 * key and a j1/e1 value): the size of the entry Redis stores for it, JSON
 * key plus the value without the `j1:<crc>:` prefix (the entries carry one
 * checksum for all). So the MemoryStore (the fallback) refuses exactly what
 * Redis refuses; counting the prefix made it refuse sessions Redis held.
 */
function fieldBytes(key: string, encoded: string): number {
  const json = entryBytes(JSON.stringify(key), encoded);
  return encoded.startsWith(PLAIN_PREFIX) ? json - PLAIN_JSON_OFFSET : json;
}

function bindingOf(sessionId: string, key: string): string {
  return `${sessionId}\0${key}`;
}

function crcOf(sessionId: string, key: string, json: string): number {
  // One call on the concatenation measured faster than chaining two calls.
  return zlib.crc32(`${sessionId}\0${key}\0${json}`);
}

function crcHex(sessionId: string, key: string, json: string): string {
  return crcOf(sessionId, key, json).toString(16).padStart(CRC_HEX_LENGTH, '0');
}

/**
 * The CRC written as 8 lowercase hex digits at `at`, or -1 when they are
 * not exactly that. Hand-parsed: a regex test plus parseInt cost more than
 * the check itself on the load path.
 */
function readCrcHex(text: string, at: number): number {
  let value = 0;
  for (let i = at; i < at + CRC_HEX_LENGTH; i++) {
    const c = text.charCodeAt(i);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

function assertSessionIdType(sessionId: unknown): void {
  if (typeof sessionId !== 'string' || sessionId.length === 0) {
    throw new SessionValidationError('Invalid session id', { code: 'INVALID_SESSION_ID' });
  }
}

/**
 * A stand-in for an error thrown while parsing stored text: same name, our
 * message. V8's JSON errors quote the text they failed on, and a cause is
 * printed with its error (`util.inspect`, pino), so the original never
 * travels.
 */
export function redactedParseError(error: unknown, message: string): Error {
  if (error instanceof SyntaxError) return new SyntaxError(message);
  const stand = new Error(message);
  stand.name = error instanceof Error ? error.name : 'Error';
  return stand;
}
