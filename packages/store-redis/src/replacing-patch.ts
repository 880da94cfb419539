import type { SessionData, SessionRecord } from '@session-cluster/core';
import {
  ENTRY_SEPARATOR,
  FIELD_SEPARATOR,
  FRAME_MAGIC,
  frameCheck,
  frameEntries,
} from './session-frame.js';

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
  /**
   * The new frame's entries part (from its first RS on, `''` for none): what
   * the next patch splices into when given back as {@link StoredEntries}.
   */
  readonly entries: string;
}

/**
 * A copy's entries exactly as its frame stores them (a frame this instance
 * wrote: {@link ReplacingPatch.entries}), and the keys the patch removes.
 */
export interface StoredEntries {
  readonly entries: string;
  /** JSON keys the patch removes. */
  readonly unset: readonly string[];
}

/**
 * Most keys a patch may change for its frame to be spliced from the
 * copy's stored entries; past it the entries are written out from the data
 * in one pass (each splice copies the entries once, as in the script's
 * merge).
 */
const MAX_SPLICED_KEYS = 16;

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
 * @param stored the copy's entries as stored, when this instance holds them:
 *   the patch's keys are spliced into them (each kept value stays the text
 *   it is stored as) instead of every value being encoded again; a one-key
 *   patch of a 1 KB session then costs ~0.3 µs here instead of ~5
 */
export function replacingPatch(
  copy: SessionRecord,
  data: SessionData,
  set: readonly (readonly [jsonKey: string, value: string])[],
  now: number,
  expiresAt: number | undefined,
  maxBytes: number,
  stored?: StoredEntries,
): ReplacingPatch | undefined {
  const us = FIELD_SEPARATOR;
  const entries =
    stored !== undefined && set.length + stored.unset.length <= MAX_SPLICED_KEYS
      ? spliced(stored.entries, set, stored.unset)
      : written(data, set);
  // Each entry adds one RS and one US (one byte each) to its key and value.
  const z = Buffer.byteLength(entries) - 2 * Object.keys(data).length;
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
    entries,
  };
}

/** The entries of `data`, each value encoded again (the patch's own as sent). */
function written(
  data: SessionData,
  set: readonly (readonly [jsonKey: string, value: string])[],
): string {
  const sent = new Map(set);
  return frameEntries(
    Object.keys(data).map((key) => {
      const jsonKey = JSON.stringify(key);
      return [jsonKey, sent.get(jsonKey) ?? JSON.stringify(data[key])] as const;
    }),
  );
}

/**
 * `entries` with the patch applied as lua/patchSession-2.lua splices it: a
 * set key's entry replaced in place or appended, a removed one dropped. The
 * separators cannot occur inside a JSON key or value (JSON escapes control
 * characters), so RS key US marks exactly that key's entry, and the next RS
 * (or the end) closes it.
 */
function spliced(
  entries: string,
  set: readonly (readonly [jsonKey: string, value: string])[],
  unset: readonly string[],
): string {
  const replace = (from: string, jsonKey: string, entry: string): string => {
    const at = from.indexOf(ENTRY_SEPARATOR + jsonKey + FIELD_SEPARATOR);
    if (at < 0) return from + entry;
    const after = from.indexOf(ENTRY_SEPARATOR, at + 1);
    return from.slice(0, at) + entry + (after < 0 ? '' : from.slice(after));
  };
  let out = entries;
  for (const [jsonKey, value] of set) {
    out = replace(out, jsonKey, ENTRY_SEPARATOR + jsonKey + FIELD_SEPARATOR + value);
  }
  for (const jsonKey of unset) {
    // '' for an absent key: nothing to drop (appending '' changes nothing).
    out = replace(out, jsonKey, '');
  }
  return out;
}
