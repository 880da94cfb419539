import { checkSessionEntry, checkSessionKey } from '@session-cluster/core';
import type { JsonValue, SessionData, SessionPatch } from '@session-cluster/core';

const NONE: ReadonlyMap<string, JsonValue | undefined> = new Map();

/**
 * One request's uncommitted changes, per top-level key: a value to set, or
 * `undefined` to remove the key. Keys and values are validated as they are
 * set (the core codec's rules), so a bad value fails in the handler that
 * set it, not later when the response is already on its way.
 */
export class PendingChanges {
  /** Made by the first change: most requests change nothing, and a Map is not free. */
  private changes: Map<string, JsonValue | undefined> | undefined;

  /** True when nothing is pending. */
  public get empty(): boolean {
    return this.changes === undefined || this.changes.size === 0;
  }

  /** Is `key` changed by this request? */
  public has(key: string): boolean {
    return this.changes !== undefined && this.changes.has(key);
  }

  /** The pending value of `key` (`undefined`: removed, or not changed — ask {@link has}). */
  public value(key: string): JsonValue | undefined {
    return this.changes?.get(key);
  }

  /** @throws SessionValidationError / SessionSerializationError as the codec would */
  public set(key: string, value: JsonValue): void {
    // Validation only (key, JSON-safety, depth): the store checks sizes itself.
    checkSessionEntry(key, value);
    (this.changes ??= new Map()).set(key, value);
  }

  /** @throws SessionValidationError for a key the codec refuses */
  public unset(key: string): void {
    checkSessionKey(key);
    (this.changes ??= new Map()).set(key, undefined);
  }

  /** A copy of `data` with the changes applied. */
  public applyTo(data: Readonly<SessionData>): SessionData {
    const out = new Map(Object.entries(data));
    for (const [key, value] of this.changes ?? NONE) {
      if (value === undefined) out.delete(key);
      else out.set(key, value);
    }
    return Object.fromEntries(out);
  }

  /** The changes as a store patch. */
  public toPatch(): SessionPatch {
    const set: SessionData = {};
    const unset: string[] = [];
    for (const [key, value] of this.changes ?? NONE) {
      if (value === undefined) unset.push(key);
      else set[key] = value;
    }
    return {
      ...(Object.keys(set).length > 0 ? { set } : {}),
      ...(unset.length > 0 ? { unset } : {}),
    };
  }

  /** True when applying the changes to `data` would give something other than `data`'s keys (any set). */
  public changesAnything(data: Readonly<SessionData>): boolean {
    for (const [key, value] of this.changes ?? NONE) {
      if (value !== undefined || Object.hasOwn(data, key)) return true;
    }
    return false;
  }

  /** Record `next` against `current` as changes: keys whose JSON differs are set, missing keys removed. */
  public recordDiff(current: Readonly<SessionData>, next: Readonly<SessionData>): void {
    for (const key of Object.keys(next)) {
      const value = next[key];
      if (value === undefined) continue;
      if (!Object.hasOwn(current, key) || JSON.stringify(current[key]) !== JSON.stringify(value)) {
        this.set(key, value);
      }
    }
    for (const key of Object.keys(current)) {
      if (!Object.hasOwn(next, key)) this.unset(key);
    }
  }

  public clear(): void {
    this.changes?.clear();
  }
}
