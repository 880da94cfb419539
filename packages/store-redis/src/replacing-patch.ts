import type { SessionData, SessionRecord } from '@session-cluster/core';
import { ENTRY_SEPARATOR, FIELD_SEPARATOR, FRAME_MAGIC, frameCheck } from './session-frame.js';

/**
 * Largest session (Σ bytes of its entries' keys and values) a patch sends
 * whole: above it a patch sends only its keys and Redis merges them. A
 * whole frame this size still costs Redis less to compare and store than
 * the merge costs it to read, check and rebuild (`--suite script`); larger
 * ones would mostly add bytes on the wire for a one-key change.
 */
export const REPLACING_PATCH_MAX_BYTES = 4_096;

/** What a replacing patch sends (ARGV[2] and ARGV[3] of lua/replaceSession-2.lua). */
export interface ReplacingPatch {
  /** The stored frame's first bytes for it to be replaced: the copy's magic, version and expiry. */
  readonly lead: string;
  /** The whole new frame, in the default format ({@link FRAME_MAGIC}), check included. */
  readonly frame: string;
  /** The version it writes: the copy's plus one. */
  readonly version: number;
  /** Σ bytes of the new entries' keys and values (the frame's `z`). */
  readonly z: number;
}

/**
 * The frame the script would write when patching `copy`, built here so
 * that Redis only compares and stores it (see lua/replaceSession-2.lua): the
 * merge costs Redis ~3× what the comparison does, and Redis shares the
 * machine with the application. `undefined` when the new entries weigh
 * more than `maxBytes` or {@link REPLACING_PATCH_MAX_BYTES} (the script's
 * merge then answers, as for any patch).
 *
 * Only for a store without encryption: every kept value is written as its
 * JSON text, which is what an unencrypted store stores.
 *
 * @param copy this instance's copy of the session, live at `now`
 * @param data `copy.data` with the patch applied, in the order the script
 *   keeps (kept and replaced keys in place, new ones appended)
 * @param set the patch's encoded values, `[jsonKey, JSON text]`
 * @param now the store's clock: the frame's `updatedAt`
 * @param expiresAt the patch's new expiry, `undefined` to keep the copy's
 */
export function replacingPatch(
  copy: SessionRecord,
  data: SessionData,
  set: readonly (readonly [jsonKey: string, value: string])[],
  now: number,
  expiresAt: number | undefined,
  maxBytes: number,
): ReplacingPatch | undefined {
  const sent = new Map(set);
  const rs = ENTRY_SEPARATOR;
  const us = FIELD_SEPARATOR;
  let entries = '';
  let count = 0;
  for (const key of Object.keys(data)) {
    const jsonKey = JSON.stringify(key);
    entries += rs + jsonKey + us + (sent.get(jsonKey) ?? JSON.stringify(data[key]));
    count += 1;
  }
  // Each entry adds one RS and one US (one byte each) to its key and value.
  const z = Buffer.byteLength(entries) - 2 * count;
  if (z > maxBytes || z > REPLACING_PATCH_MAX_BYTES) return undefined;
  const version = copy.version + 1;
  const header = {
    v: String(version),
    c: String(copy.createdAt),
    m: String(now),
    z: String(z),
    u: copy.userId ?? '',
  };
  const k = frameCheck(copy.id, entries, header);
  const e = String(expiresAt ?? copy.expiresAt);
  const { v, c, m, u } = header;
  return {
    lead: `${FRAME_MAGIC}${us}${copy.version}${us}${copy.expiresAt}${us}`,
    frame: `${FRAME_MAGIC}${us}${v}${us}${e}${us}${c}${us}${m}${us}${z}${us}${k}${us}${u}${entries}`,
    version,
    z,
  };
}
