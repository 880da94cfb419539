import type { JsonValue, SessionData } from '@session-cluster/core';
import { EXPRESS_SESSION_ID_KEY } from './express-session-ids.js';

/**
 * What one request holds of a session: the state it loaded (or last wrote),
 * one JSON text per top-level key. A later whole-session `set` is turned into
 * a patch of exactly the keys that differ from it, so two requests that
 * changed different keys never overwrite each other.
 */
export interface LoadedSnapshot {
  /** The express-session id it belongs to (a regenerated request saves under a new one). */
  readonly sid: string;
  /** Top-level key → its value as JSON text, without {@link EXPRESS_SESSION_ID_KEY}. */
  readonly fields: ReadonlyMap<string, string>;
  /** The stored session carries its id record (sessions written before it existed do not). */
  readonly recorded: boolean;
  /** The owner the stored session had. */
  readonly userId: string | undefined;
}

/**
 * A session's top-level keys as JSON text, `undefined` values and the
 * `skip` key (express-session's id record, by default) left out.
 */
export function fieldsOf(
  data: Readonly<Record<string, unknown>>,
  skip: string | undefined = EXPRESS_SESSION_ID_KEY,
): Map<string, string> {
  const fields = new Map<string, string>();
  for (const [key, value] of Object.entries(data)) {
    if (key === skip || value === undefined) continue;
    fields.set(key, JSON.stringify(value));
  }
  return fields;
}

/** The data of {@link fieldsOf}'s output, each value a fresh copy. */
export function dataOf(fields: ReadonlyMap<string, string>): SessionData {
  const data: SessionData = {};
  for (const [key, json] of fields) data[key] = JSON.parse(json) as JsonValue;
  return data;
}

/**
 * The field-level patch that turns `base` into `next`: keys whose JSON text
 * differs are set, keys `next` no longer has are unset. Keys neither changed
 * are left out, so a concurrent writer's change to them survives.
 */
export function diffFields(
  base: ReadonlyMap<string, string>,
  next: ReadonlyMap<string, string>,
): { set: SessionData; unset: string[] } {
  const set: SessionData = {};
  for (const [key, json] of next) {
    if (base.get(key) !== json) set[key] = JSON.parse(json) as JsonValue;
  }
  const unset = [...base.keys()].filter((key) => !next.has(key));
  return { set, unset };
}
