import { SessionCorruptedError } from '@session-cluster/core';
import type { SessionCodec, SessionRecord } from '@session-cluster/core';

/** Hash field of each data key: `f:<key>`. Metadata fields are single letters, so they never collide. */
export const DATA_FIELD_PREFIX = 'f:';

/**
 * What one session hash holds, as read by `HGETALL`:
 * - `missing`: no hash (never created, deleted, or removed by its Redis TTL);
 * - `expired`: its `e` is ≤ now — invisible to every reader, whatever else it holds;
 * - `live`: a decoded record.
 */
export type SessionHashState =
  | { readonly kind: 'missing' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'live'; readonly record: SessionRecord };

/**
 * Decode an `HGETALL` reply of a session hash (fields `v`, `e`, `c`, `m`,
 * `u`, `z`, `f:<key>`…). Logical expiry is decided here, against `now`, before
 * anything else is decoded: the store never relies on Redis TTL for it.
 *
 * @throws SessionCorruptedError when metadata is unreadable or a data field fails the codec's check
 * @throws SessionEncryptionError from the codec (unknown key id, failed decryption)
 */
export function readSessionHash(
  id: string,
  hash: Readonly<Record<string, string>>,
  codec: SessionCodec,
  now: number,
): SessionHashState {
  const fields = Object.keys(hash);
  if (fields.length === 0) return { kind: 'missing' };

  const expiresAt = metaNumber(hash, 'e');
  if (expiresAt <= now) return { kind: 'expired' };
  const version = metaNumber(hash, 'v');
  if (!Number.isSafeInteger(version) || version < 1) throw corruptMeta('v');
  const createdAt = metaNumber(hash, 'c');
  const updatedAt = metaNumber(hash, 'm');
  const userId = Object.hasOwn(hash, 'u') ? hash['u'] : undefined;
  if (userId === '') throw corruptMeta('u');

  const data = codec.decodeData(id, dataFields(hash, fields));
  return {
    kind: 'live',
    record: { id, userId, data, version, createdAt, updatedAt, expiresAt },
  };
}

function* dataFields(
  hash: Readonly<Record<string, string>>,
  fields: readonly string[],
): Generator<readonly [string, string]> {
  for (const field of fields) {
    if (field.startsWith(DATA_FIELD_PREFIX)) {
      yield [field.slice(DATA_FIELD_PREFIX.length), hash[field] ?? ''];
    }
  }
}

function metaNumber(hash: Readonly<Record<string, string>>, field: string): number {
  const raw = Object.hasOwn(hash, field) ? hash[field] : undefined;
  const value = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value)) throw corruptMeta(field);
  return value;
}

function corruptMeta(field: string): SessionCorruptedError {
  return new SessionCorruptedError('Stored session metadata is corrupted', {
    details: { reason: 'unreadable metadata', field },
  });
}
