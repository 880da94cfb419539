import { hash } from 'node:crypto';
import {
  FORBIDDEN_KEYS,
  keyedFrameCheck,
  verifyKeyedFrameCheck,
  SessionCorruptedError,
  SessionEncryptionError,
  isSessionError,
  parseStoredJson,
  redactedParseError,
} from '@session-cluster/core';
import type { FrameKeys, SessionCodec, SessionData, SessionRecord } from '@session-cluster/core';

/** Separates a frame's entries (and the header from the first entry): ASCII RS. */
export const ENTRY_SEPARATOR = '\x1e';
/** Separates header fields, and an entry's key from its value: ASCII US. */
export const FIELD_SEPARATOR = '\x1f';
/**
 * First header field of the frames the store writes by default: the frame
 * format (bump it when the layout or the check changes). `SC2`'s check `k`
 * covers every header field but the expiry.
 */
export const FRAME_MAGIC = 'SC2';
/**
 * The format earlier releases wrote, whose `k` covers the entries only.
 * Still read (and upgraded to {@link FRAME_MAGIC} by the next patch or save),
 * so an upgrade loses no session; written with the store option
 * `frameFormat: 1`, while instances of an earlier release still run.
 */
export const LEGACY_FRAME_MAGIC = 'SC1';
/**
 * The format written under encryption at rest: the layout of
 * {@link FRAME_MAGIC}, with a keyed check `k` = `keyId:mac` (see `FrameKeys`
 * in core) that only a holder of the key ring can compute.
 */
export const KEYED_FRAME_MAGIC = 'SC3';

/**
 * What the session key of a retired id holds until it expires (deleted, or
 * retired by a save that expired it, as regenerate does; `lua/frame.lua`
 * writes it): every reader sees no session, and `create` refuses the id.
 */
export const RETIRED_FRAME = 'SC0';

const HEADER_START = FRAME_MAGIC + FIELD_SEPARATOR;
const LEGACY_HEADER_START = LEGACY_FRAME_MAGIC + FIELD_SEPARATOR;
const KEYED_HEADER_START = KEYED_FRAME_MAGIC + FIELD_SEPARATOR;

/**
 * The scripts' frame format argument (see frame_format in lua/frame.lua):
 * the format to write, then, under encryption, whether unkeyed frames are
 * still read and every key's check secrets, the current key first.
 */
export function frameFormatArgument(format: 1 | 2 | 3, keys: FrameKeys | undefined): string {
  if (keys === undefined) return String(format);
  const current = keys.byId.get(keys.currentId);
  const ordered = [
    ...(current === undefined ? [] : [[keys.currentId, current] as const]),
    ...[...keys.byId].filter(([id]) => id !== keys.currentId),
  ];
  const us = FIELD_SEPARATOR;
  let argument = `${format}${us}${keys.acceptUnkeyed ? '1' : '0'}`;
  for (const [id, key] of ordered) argument += `${us}${id}${us}${key.inner}${us}${key.outer}`;
  return argument;
}

/**
 * What one session key holds, as read by `GET`:
 * - `missing`: no key (never created, or removed by its Redis TTL), or the
 *   tombstone of a retired id ({@link RETIRED_FRAME});
 * - `expired`: its `e` is ≤ now — invisible to every reader, whatever else it holds;
 * - `live`: a decoded record.
 */
export type SessionFrameState =
  | { readonly kind: 'missing' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'live'; readonly record: SessionRecord };

const MISSING: SessionFrameState = Object.freeze({ kind: 'missing' });
const EXPIRED: SessionFrameState = Object.freeze({ kind: 'expired' });

/** Marks an encrypted entry value: US then `e1:` (a JSON text never starts with `e`). */
const SEALED_ENTRY = FIELD_SEPARATOR + 'e1:';

/**
 * The entries part of a frame: `(RS jsonKey US value)*` from
 * `SessionCodec.encodeEntries`. Neither separator can occur in a JSON key or
 * value (JSON.stringify escapes control characters) or in base64url, so the
 * framing is unambiguous; `lua/frame.lua` reads the same layout.
 */
export function frameEntries(fields: readonly (readonly [key: string, encoded: string])[]): string {
  let entries = '';
  for (const [key, encoded] of fields) {
    entries += ENTRY_SEPARATOR + key + FIELD_SEPARATOR + encoded;
  }
  return entries;
}

/**
 * A session frame with the value of `key` replaced by `raw` (appended when
 * the key has no entry), header (and its checksum) untouched: what a
 * corrupted value looks like.
 * For tests and repair tools: the store never needs it.
 */
export function replaceFrameEntry(frame: string, key: string, raw: string): string {
  const entries = frame.split(ENTRY_SEPARATOR);
  const prefix = JSON.stringify(key) + FIELD_SEPARATOR;
  const at = entries.findIndex((entry, i) => i > 0 && entry.startsWith(prefix));
  if (at < 0) entries.push(prefix + raw);
  else entries[at] = prefix + raw;
  return entries.join(ENTRY_SEPARATOR);
}

/** The header fields a frame's check `k` covers, as stored (text). */
export interface CheckedHeaderFields {
  readonly v: string;
  readonly c: string;
  readonly m: string;
  readonly z: string;
  readonly u: string;
}

/**
 * The integrity check `k` of a frame, as `frame_check` in `lua/frame.lua`
 * computes it on every write. With `header` (format `SC2`): sha1 hex of
 * (sid NUL v US c US m US z US u NUL entries), so a damaged owner, version
 * or timestamp fails the check like damaged data does; only the expiry `e`
 * is left out (touch moves it without rewriting the rest). Without
 * (`SC1`): sha1 hex of (sid NUL entries).
 */
export function frameCheck(
  id: string,
  entries: string,
  header?: CheckedHeaderFields,
  keys?: FrameKeys,
): string {
  if (header === undefined) return hash('sha1', `${id}\0${entries}`);
  const message = checkedMessage(id, entries, header);
  if (keys === undefined) return hash('sha1', message);
  // The current key is in the ring by construction (createKeyRing).
  return keyedFrameCheck(keys, keys.currentId, message) ?? '';
}

/** What the checks of formats 2 and 3 cover (frame_message in lua/frame.lua). */
function checkedMessage(id: string, entries: string, header: CheckedHeaderFields): string {
  const { v, c, m, z, u } = header;
  const us = FIELD_SEPARATOR;
  return `${id}\0${v}${us}${c}${us}${m}${us}${z}${us}${u}\0${entries}`;
}

/**
 * Decode a session frame read by `GET`
 * (`SC2 US v US e US c US m US z US k US u (RS jsonKey US value)*`, or `SC1`, see
 * `lua/frame.lua`). Logical expiry is decided here, against `now`, before
 * any data is decoded: the store never relies on Redis TTL for it. Then one
 * checksum covers all the data, and plain data is parsed in one `JSON.parse`.
 *
 * @throws SessionCorruptedError when the frame or its metadata is unreadable, the checksum fails, or a value does not parse
 * @throws SessionEncryptionError from the codec (unknown key id, failed decryption)
 */
export function readSessionFrame(
  id: string,
  raw: string | null,
  codec: SessionCodec,
  now: number,
): SessionFrameState {
  if (raw === null || raw === RETIRED_FRAME) return MISSING;
  const keyed = raw.startsWith(KEYED_HEADER_START);
  const legacy = !keyed && !raw.startsWith(HEADER_START);
  if (legacy && !raw.startsWith(LEGACY_HEADER_START)) {
    throw corruptFrame('frame', 'unknown frame format');
  }
  const firstEntry = raw.indexOf(ENTRY_SEPARATOR);
  const headerEnd = firstEntry < 0 ? raw.length : firstEntry;

  // Seven header fields after the magic: v e c m z k u. Only e is decoded
  // before the expiry check; the rest waits until the session is known live.
  const ends = [0, 0, 0, 0, 0, 0];
  let from = HEADER_START.length;
  for (let i = 0; i < 6; i++) {
    const end = raw.indexOf(FIELD_SEPARATOR, from);
    if (end < 0 || end > headerEnd) throw corruptFrame('frame', 'truncated header');
    ends[i] = end;
    from = end + 1;
  }
  const extra = raw.indexOf(FIELD_SEPARATOR, from);
  if (extra >= 0 && extra < headerEnd) throw corruptFrame('frame', 'header has extra fields');
  const field = (i: number): string =>
    raw.slice(i === 0 ? HEADER_START.length : (ends[i - 1] ?? 0) + 1, ends[i]);

  const expiresAt = metaNumber(field(1), 'e');
  if (expiresAt <= now) return EXPIRED;
  const version = metaNumber(field(0), 'v');
  if (!Number.isSafeInteger(version) || version < 1) throw corruptFrame('v');
  const createdAt = metaNumber(field(2), 'c');
  const updatedAt = metaNumber(field(3), 'm');
  const owner = raw.slice(from, headerEnd);
  const userId = owner === '' ? undefined : owner;

  const entries = firstEntry < 0 ? '' : raw.slice(firstEntry);
  const keys = codec.frameKeys;
  if (keyed) {
    // Decided before the entries are decrypted: a forged header (owner,
    // version) or a removed or replayed entry fails here.
    const message = checkedMessage(id, entries, {
      v: field(0),
      c: field(2),
      m: field(3),
      z: field(4),
      u: owner,
    });
    const check = field(5);
    const keyId = check.slice(0, Math.max(0, check.indexOf(':')));
    if (keyId !== '' && keys?.byId.has(keyId) !== true) {
      // Written by a store holding a key this one lacks: say which, as the
      // codec does for a value sealed with it (never "corrupted").
      throw unknownFrameKeyError(keys, keyId);
    }
    if (keys === undefined || !verifyKeyedFrameCheck(keys, check, message)) {
      throw corruptFrame('k', 'keyed check mismatch');
    }
  } else {
    if (keys !== undefined && !keys.acceptUnkeyed) {
      throw corruptFrame('k', 'unkeyed frame where encryption is required');
    }
    const check = legacy
      ? frameCheck(id, entries)
      : frameCheck(id, entries, { v: field(0), c: field(2), m: field(3), z: field(4), u: owner });
    if (check !== field(5)) throw corruptFrame('k', 'checksum mismatch');
  }
  const data = decodeEntries(id, entries, codec);
  return {
    kind: 'live',
    record: { id, userId, data, version, createdAt, updatedAt, expiresAt },
  };
}

/**
 * The error for a keyed frame checked with key `keyId`, which `keys` (the
 * store's ring, if any) lacks: a key rotation that has not reached this
 * store yet. Not corruption: the frame is intact, only unreadable here.
 */
export function unknownFrameKeyError(
  keys: FrameKeys | undefined,
  keyId: string,
  context: { readonly operation?: string; readonly sessionIdHash?: string } = {},
): SessionEncryptionError {
  return new SessionEncryptionError(
    keys === undefined
      ? 'Stored session has a keyed check but the codec has no key ring'
      : 'Stored session is checked with a key id that is not in the key ring',
    { ...context, code: 'UNKNOWN_KEY_ID', details: { keyId } },
  );
}

/**
 * How many leading bytes of a frame {@link readFrameHead} needs: the magic,
 * `v` and `e` (a safe integer has at most 16 digits, an epoch ms 13–16).
 */
export const FRAME_HEAD_BYTES = 48;

/**
 * The version and logical expiry at the head of a frame, as `GETRANGE key 0
 * FRAME_HEAD_BYTES-1` returns it; `undefined` for anything else (no key, a
 * tombstone, an unknown format, a damaged field). Unverified: a caller
 * compares them with what its own write left, nothing more.
 */
export function readFrameHead(
  head: string | null,
): { readonly version: number; readonly expiresAt: number } | undefined {
  if (
    head === null ||
    !(
      head.startsWith(HEADER_START) ||
      head.startsWith(KEYED_HEADER_START) ||
      head.startsWith(LEGACY_HEADER_START)
    )
  ) {
    return undefined;
  }
  const afterVersion = head.indexOf(FIELD_SEPARATOR, HEADER_START.length);
  const afterExpiry = afterVersion < 0 ? -1 : head.indexOf(FIELD_SEPARATOR, afterVersion + 1);
  if (afterExpiry < 0) return undefined;
  const version = Number(head.slice(HEADER_START.length, afterVersion));
  const expiresAt = Number(head.slice(afterVersion + 1, afterExpiry));
  if (!Number.isSafeInteger(version) || version < 1 || !Number.isFinite(expiresAt)) {
    return undefined;
  }
  return { version, expiresAt };
}

/**
 * The entries part of a frame in the default format ({@link FRAME_MAGIC}),
 * from its first RS on (`''` for none), as stored: what a patch on the
 * record read from it may splice into. `undefined` for another format. For
 * a frame {@link readSessionFrame} has just verified (a header holds no RS).
 */
export function storedFrameEntries(raw: string): string | undefined {
  if (!raw.startsWith(HEADER_START)) return undefined;
  const at = raw.indexOf(ENTRY_SEPARATOR);
  return at < 0 ? '' : raw.slice(at);
}

/**
 * The data object of verified entries (`''` or `(RS jsonKey US value)+`).
 * Plain entries are exactly `"key":json` once the separators become `:` and
 * `,`, so all of them parse in one JSON.parse (parseStoredJson refuses
 * forbidden keys at any depth). Encrypted entries go through the codec one
 * by one. Also what a store's own write sent (see `RedisStore`'s local
 * refill): the same text decodes to the same data a read would give.
 */
function decodeEntries(id: string, entries: string, codec: SessionCodec): SessionData {
  if (entries === '') return {};
  try {
    if (!entries.includes(SEALED_ENTRY)) {
      // Every entry plain: refused under encryption (planted, or from before
      // it was turned on; see the codec's acceptPlaintext).
      if (codec.requiresEncryption === true) {
        throw corruptFrame('entry', 'plain value where encryption is required');
      }
      const text = `{${entries.slice(1).replaceAll(ENTRY_SEPARATOR, ',').replaceAll(FIELD_SEPARATOR, ':')}}`;
      return parseStoredJson(text) as SessionData;
    }
    const data: SessionData = {};
    let start = 0;
    while (start < entries.length) {
      const next = entries.indexOf(ENTRY_SEPARATOR, start + 1);
      const end = next < 0 ? entries.length : next;
      const split = entries.indexOf(FIELD_SEPARATOR, start + 1);
      if (split < 0 || split > end) throw corruptFrame('entry', 'entry without a key separator');
      const key: unknown = JSON.parse(entries.slice(start + 1, split));
      if (typeof key !== 'string' || FORBIDDEN_KEYS.has(key) || Object.hasOwn(data, key)) {
        throw corruptFrame('entry', 'invalid, forbidden or duplicate key');
      }
      data[key] = codec.decodeEntry(id, key, entries.slice(split + 1, end));
      start = end;
    }
    return data;
  } catch (error) {
    if (isSessionError(error)) throw error;
    // Never echo the cause (nor keep it: it is printed with the error):
    // V8's JSON errors quote stored text.
    throw new SessionCorruptedError('Stored session value is corrupted', {
      cause: redactedParseError(error, 'unparsable JSON or a forbidden key'),
      details: { reason: 'unparsable JSON or a forbidden key' },
    });
  }
}

function metaNumber(raw: string, field: string): number {
  // Number('') and Number(' ') are 0; the scripts' tonumber() reads blank as
  // unreadable, and both sides must agree on which frames are damaged.
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value)) throw corruptFrame(field);
  return value;
}

function corruptFrame(field: string, reason = 'unreadable metadata'): SessionCorruptedError {
  return new SessionCorruptedError('Stored session metadata is corrupted', {
    details: { reason, field },
  });
}

/**
 * A frame's length as the cache counts it (the stored text's), from the
 * entries' byte total `z` and their count: each entry adds its two
 * separators, the header about {@link FRAME_HEADER_ESTIMATE} bytes.
 */
export function frameBytes(z: number, entries: number): number {
  return z + 2 * entries + FRAME_HEADER_ESTIMATE;
}

/** Bytes of a frame's header (magic, version, times, size, check, owner), roughly. */
export const FRAME_HEADER_ESTIMATE = 100;
