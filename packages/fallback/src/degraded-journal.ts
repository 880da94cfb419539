import { isDeepStrictEqual } from 'node:util';
import type { SessionData, SessionRecord } from '@session-cluster/core';

/**
 * What a session's degraded-mode changes leave to do in the primary.
 *
 * Entries are mutable and compared by identity plus counters, so that
 * reconciliation (which awaits the primary between reading an entry and
 * settling it) can tell whether the session changed meanwhile.
 */
export interface JournalEntry {
  /** `write`: copy the secondary's record to the primary; `delete`: delete it there. */
  kind: 'write' | 'delete';
  /**
   * The primary version the secondary's copy derives from: 0 for a session
   * created while degraded; after a reconciliation wrote it, the version that
   * write produced. A primary version above it means someone else changed
   * the session in the primary meanwhile (a conflict: the primary wins).
   */
  base: number;
  /**
   * A `write` of a session deleted earlier in degraded mode (an id re-used):
   * the primary's old session must be deleted before this one is created.
   */
  deleteFirst: boolean;
  /** Bumped by every change. Reconciliation settles an entry only if unchanged since it read it. */
  gen: number;
  /** Bumped when the entry turns from write to delete or back: a different intent. */
  incarnation: number;
  /**
   * The session's data at `base`, when known (a session the instance cache
   * held: seeded from that copy): reconciliation then merges per key, each
   * changed key against its value here. `undefined`: created while
   * degraded (`base` 0), or base data unknown (whole-record write-back).
   */
  baseData: SessionData | undefined;
  /** The data after the last journaled write: what the next write is diffed against. */
  lastData: SessionData | undefined;
  /** Per top-level key, the clock time of its last degraded-mode change (last writer wins on conflicts). */
  readonly keyTimes: Map<string, number>;
  /**
   * The record a reconciliation last sent to the primary as a whole-record
   * create or save, or as a per-key merge (whose outcome is unknown until
   * answered); or, before any, the first degraded write's result when the
   * primary was asked that write and gave no answer. A call that ends
   * without the answer (a timeout, a second outage) may still have written
   * it: the next run finding exactly this in the primary (one version on for
   * a create or save; per key it changed, for a merge) knows the write was
   * its own and builds on it instead of reporting the primary's copy as a
   * newer conflicting one.
   */
  sent: SessionRecord | undefined;
  /** Set while the primary refuses this write-back for now (see {@link RefusedForNow}). */
  refused: RefusedForNow | undefined;
}

/**
 * A write-back the primary refused for a reason waiting may lift (an ACL
 * change's `NOPERM`, an `ERR` Redis gives while up): the reconciler skips it
 * until `dueAt`, then tries again, and lets it go (reported) only once the
 * refusals have lasted its time budget. Without this, one such refusal lost
 * the degraded write for good.
 */
export interface RefusedForNow {
  /** Clock time of the first refusal. */
  readonly since: number;
  /** Refusals so far. */
  readonly tries: number;
  /** Clock time before which the write-back is not tried again. */
  readonly dueAt: number;
}

/** True unless `refused` says to wait past `now`. */
export function isDue(refused: RefusedForNow | undefined, now: number): boolean {
  return refused === undefined || refused.dueAt <= now;
}

/** A fresh entry. */
function newEntry(kind: 'write' | 'delete', gen: number): JournalEntry {
  return {
    kind,
    base: 0,
    deleteFirst: false,
    gen,
    incarnation: 0,
    baseData: undefined,
    lastData: undefined,
    keyTimes: new Map(),
    sent: undefined,
    refused: undefined,
  };
}

/** Top-level keys whose values differ between `before` and `after`. */
export function changedKeys(before: SessionData, after: SessionData): string[] {
  const keys: string[] = [];
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key) || !isDeepStrictEqual(before[key], after[key])) keys.push(key);
  }
  for (const key of Object.keys(after)) if (!Object.hasOwn(before, key)) keys.push(key);
  return keys;
}

/** What {@link DegradedJournal.beginWrite} hands back, for {@link DegradedJournal.endWrite}. */
export interface WriteTicket {
  readonly id: string;
  readonly entry: JournalEntry;
  readonly gen: number;
  /** The entry did not exist before this write. */
  readonly fresh: boolean;
}

/** A `deleteByUser` made while degraded, replayed against the primary on recovery. */
export interface Revocation {
  readonly userId: string;
  /** Clock time of the call: the user's primary sessions created up to then are deleted. */
  readonly at: number;
  /** Session ids the caller asked to keep. */
  readonly except: ReadonlySet<string>;
  /** Set while the primary refuses the replay for now. */
  refused?: RefusedForNow | undefined;
}

/**
 * The degraded-mode journal: per session id, whether it was created/changed
 * or deleted while the secondary served it, plus user-wide revocations.
 *
 * **Ordering invariant.** A degraded write marks its entry *before* it
 * touches the secondary and again *after* it succeeded. Reconciliation reads
 * an entry's `gen`, then the secondary, then writes the primary, and removes
 * the entry only if `gen` is unchanged: any write that could have been missed
 * by its read has moved `gen` on, so the entry stays and is processed again.
 */
export class DegradedJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private readonly revocationList: Revocation[] = [];
  private counter = 0;

  /** Sessions with an entry. */
  public get size(): number {
    return this.entries.size;
  }

  /** Entries plus revocations: what reconciliation still has to do. */
  public get pending(): number {
    return this.entries.size + this.revocationList.length;
  }

  /** True while `id` has an entry: its calls are served by the secondary. */
  public has(id: string): boolean {
    return this.entries.has(id);
  }

  public get(id: string): JournalEntry | undefined {
    return this.entries.get(id);
  }

  /** Mark `id` as written (before the secondary write). */
  public beginWrite(id: string): WriteTicket {
    let entry = this.entries.get(id);
    const fresh = entry === undefined;
    if (entry === undefined) {
      entry = newEntry('write', 0);
      this.entries.set(id, entry);
    } else if (entry.kind === 'delete') {
      // The id is re-used after a degraded delete: whatever the primary holds
      // under it is the deleted session, never a base to build on.
      entry.kind = 'write';
      entry.base = 0;
      entry.deleteFirst = true;
      entry.incarnation += 1;
      entry.baseData = undefined;
      entry.lastData = undefined;
      entry.keyTimes.clear();
      entry.sent = undefined;
      entry.refused = undefined;
    }
    entry.gen = ++this.counter;
    return { id, entry, gen: entry.gen, fresh };
  }

  /**
   * Close a write opened by {@link beginWrite}. `applied`: the secondary
   * changed. A write that changed nothing removes an entry it created
   * itself, if nothing else touched it since.
   */
  public endWrite(ticket: WriteTicket, applied: boolean): void {
    const entry = this.entries.get(ticket.id);
    if (entry !== ticket.entry) return;
    if (applied) entry.gen = ++this.counter;
    else if (ticket.fresh && entry.gen === ticket.gen) this.entries.delete(ticket.id);
  }

  /**
   * Start journaling a session the primary holds, from the instance cache's
   * copy (`record`, at its version): later writes are merged per key
   * against it. No-op when `id` already has an entry.
   * @returns false when an entry was there already
   */
  public seed(id: string, record: SessionRecord): boolean {
    if (this.entries.has(id)) return false;
    const entry = newEntry('write', ++this.counter);
    entry.base = record.version;
    entry.baseData = record.data;
    entry.lastData = record.data;
    this.entries.set(id, entry);
    return true;
  }

  /**
   * A journaled write of `id` left the secondary's copy with `data`: stamp
   * each top-level key it changed with `at`.
   */
  public noteData(id: string, entry: JournalEntry, data: SessionData, at: number): void {
    if (this.entries.get(id) !== entry || entry.kind !== 'write') return;
    const before = entry.lastData ?? entry.baseData;
    for (const key of before === undefined ? Object.keys(data) : changedKeys(before, data)) {
      entry.keyTimes.set(key, at);
    }
    entry.lastData = data;
  }

  /**
   * A write of `id` failed over after the primary was asked it and gave no
   * answer: it may have landed there, leaving `record` (see
   * {@link JournalEntry.sent}). Only the first such write counts: once
   * journaled, a session's writes are never asked of the primary.
   */
  public noteUnanswered(id: string, record: SessionRecord): void {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.kind !== 'write' || entry.sent !== undefined) return;
    entry.sent = record;
  }

  /** Mark `id` as deleted (before the secondary delete). */
  public markDelete(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) {
      this.entries.set(id, newEntry('delete', ++this.counter));
      return;
    }
    if (entry.kind === 'write') {
      entry.kind = 'delete';
      entry.deleteFirst = false;
      entry.incarnation += 1;
      entry.refused = undefined;
    }
    entry.gen = ++this.counter;
  }

  /** Record a degraded-mode `deleteByUser`. */
  public addRevocation(revocation: Revocation): void {
    this.revocationList.push(revocation);
  }

  /** Ids with an entry, in journal order (a snapshot). */
  public ids(): string[] {
    return [...this.entries.keys()];
  }

  /** Revocations not yet replayed (a snapshot). */
  public revocations(): Revocation[] {
    return [...this.revocationList];
  }

  /** The earliest `dueAt` of a write-back refused for now, if any. */
  public nextDue(): number | undefined {
    let next: number | undefined;
    for (const { refused } of [...this.entries.values(), ...this.revocationList]) {
      if (refused !== undefined && (next === undefined || refused.dueAt < next)) {
        next = refused.dueAt;
      }
    }
    return next;
  }

  /**
   * Remove `entry` if it is still `id`'s entry and unchanged since `gen`.
   * @returns true when removed: the caller then drops the secondary's copy.
   */
  public settle(id: string, entry: JournalEntry, gen: number): boolean {
    if (this.entries.get(id) !== entry || entry.gen !== gen) return false;
    this.entries.delete(id);
    return true;
  }

  /**
   * Remove `entry` whatever was written since, as long as its intent
   * (`incarnation`) is unchanged: used when the primary wins a conflict.
   * @returns true when removed.
   */
  public discard(id: string, entry: JournalEntry, incarnation: number): boolean {
    if (this.entries.get(id) !== entry || entry.incarnation !== incarnation) return false;
    this.entries.delete(id);
    return true;
  }

  /**
   * The primary now holds this write at `version`, but the session changed
   * in the secondary meanwhile: build on `version` next time.
   */
  public rebase(
    id: string,
    entry: JournalEntry,
    incarnation: number,
    version: number,
    data?: SessionData,
  ): void {
    if (this.entries.get(id) !== entry || entry.incarnation !== incarnation) return;
    entry.base = version;
    entry.deleteFirst = false;
    entry.sent = undefined;
    entry.refused = undefined;
    // Merged per key: the next pass diffs against what this one wrote.
    if (data !== undefined && entry.baseData !== undefined) entry.baseData = data;
  }

  /** The primary's old session was deleted: do not delete it again. */
  public deletedFirst(id: string, entry: JournalEntry, incarnation: number): void {
    if (this.entries.get(id) !== entry || entry.incarnation !== incarnation) return;
    entry.deleteFirst = false;
  }

  /** Remove a replayed revocation. */
  public settleRevocation(revocation: Revocation): void {
    const index = this.revocationList.indexOf(revocation);
    if (index >= 0) this.revocationList.splice(index, 1);
  }
}
