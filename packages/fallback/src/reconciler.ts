import { isDeepStrictEqual } from 'node:util';
import { hashSessionId, isSessionError, retryDelayMs, toSessionError } from '@session-cluster/core';
import type {
  Clock,
  JsonValue,
  SessionData,
  SessionErrorCode,
  SessionKeyChange,
  SessionRecord,
  SessionStore,
} from '@session-cluster/core';
import { changedKeys, isDue } from './degraded-journal.js';
import type {
  DegradedJournal,
  JournalEntry,
  RefusedForNow,
  Revocation,
} from './degraded-journal.js';
import type {
  ReconcileConflictEvent,
  ReconcileCounts,
  ReconcileDeferredEvent,
  ReconcileFailedEvent,
} from './fallback-events.js';
import { isStorageFailure, shouldFailOver } from './storage-failure.js';

/**
 * Whether the primary's record carries exactly what the secondary's copy
 * would write (owner, expiry, data): then it is that write, already applied.
 */
function isSameWrite(current: SessionRecord, record: SessionRecord): boolean {
  return (
    current.userId === record.userId &&
    current.expiresAt === record.expiresAt &&
    isDeepStrictEqual(current.data, record.data)
  );
}

/** Mutable {@link ReconcileCounts}. */
export type ReconcileTally = { -readonly [K in keyof ReconcileCounts]: ReconcileCounts[K] };

/** A fresh all-zero tally. */
export function emptyTally(): ReconcileTally {
  return { written: 0, restored: 0, conflicts: 0, deleted: 0, skipped: 0, failed: 0 };
}

/**
 * How a run ended: the journal is empty, a primary call failed with a
 * storage failure (another outage: the rest stays journaled), only
 * write-backs the primary refused for now are left (`deferred`: due at
 * `DegradedJournal.nextDue()`), or the store is closing.
 */
export type ReconcileOutcome = 'drained' | 'interrupted' | 'deferred' | 'stopped';

/**
 * Delays between tries of a write-back refused for now: 1 s doubling to
 * 1 min, ±20 % so that instances refused together do not retry in lockstep.
 */
const REFUSED_BACKOFF = { baseDelayMs: 1_000, multiplier: 2, maxDelayMs: 60_000, jitter: 0.2 };

/**
 * True for a refusal that waiting may lift: one Redis gives while up but
 * not about this session (`NOPERM` while an ACL changes, an `ERR` of a
 * module or proxy: `INTERNAL`), or a failure of no known kind. Not for one
 * about the session itself (too large, invalid, corrupted, undecryptable,
 * concurrent): every later try would meet it again.
 */
function mayLiftWithTime(error: unknown): boolean {
  return !isSessionError(error) || error.category === 'internal';
}

/** What a {@link Reconciler} works with. */
export interface ReconcilerDeps {
  readonly primary: SessionStore;
  readonly secondary: SessionStore;
  readonly journal: DegradedJournal;
  readonly clock: Clock;
  /**
   * Runs a primary call (under the breaker and the timeout; with `id`, also
   * under its partition's breaker, so a part of the primary still down
   * interrupts the run without being called).
   */
  readonly execute: <T>(fn: () => Promise<T>, id?: string) => Promise<T>;
  readonly batchSize: number;
  readonly concurrency: number;
  /** A session or revocation was given up on. */
  readonly onFailed: (event: ReconcileFailedEvent) => void;
  /** A write-back refused for now is kept, to be tried again. */
  readonly onDeferred: (event: ReconcileDeferredEvent) => void;
  /** How long write-backs refused for now are tried again before they are let go, ms (0: never). */
  readonly giveUpAfterMs: number;
  /** A session was changed on both sides (keys resolved last-writer-wins, or deleted on the primary's side). */
  readonly onConflict: (event: ReconcileConflictEvent) => void;
  /** A batch finished. */
  readonly onProgress: (tally: Readonly<ReconcileTally>, remaining: number) => void;
  /** Polled between entries: true when the store is closing. */
  readonly stopping: () => boolean;
}

/** A storage failure: ends the run, leaving the entry journaled. */
class Interrupted extends Error {
  public constructor(cause: unknown) {
    super('reconciliation interrupted by a storage failure', { cause });
  }
}

type WriteOutcome =
  | { readonly kind: 'written'; readonly version: number; readonly restored?: boolean }
  | {
      readonly kind: 'merged';
      readonly version: number;
      readonly conflicts: readonly string[];
    }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'deleted-in-primary' }
  /** A copy journaled only to be written back if the primary lost it, and it had not. */
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'skipped' };

const CONFLICT: WriteOutcome = { kind: 'conflict' };
const SKIPPED: WriteOutcome = { kind: 'skipped' };
const UNCHANGED: WriteOutcome = { kind: 'unchanged' };

/**
 * Writes the degraded-mode journal back into the primary.
 *
 * Per session with a `write` entry, from the secondary's record:
 * - the primary has none → `create` with the same id, owner, data and
 *   expiry (skipped when it has expired meanwhile);
 * - the primary has it at a version above the entry's `base` (the version
 *   the secondary's copy derives from, 0 for a session created while
 *   degraded) → someone else changed it: the primary wins, a conflict is
 *   counted, nothing is overwritten — unless what the primary holds is this
 *   instance's own earlier write-back (`JournalEntry.sent`, one version on)
 *   whose answer a timeout lost: then the newer copy is saved over it (a
 *   per-key merge whose answer was lost is built on the same way);
 * - else → compare-and-set `save` on the primary's version.
 * A `delete` entry is replayed with `primary.delete`; a revocation deletes
 * the user's primary sessions created up to its time (except the ids it kept
 * and ids still journaled, which their own entries decide).
 *
 * An entry is removed only after it was applied, and then the session is
 * removed from the secondary too (the primary is the truth again). A
 * storage failure stops the run and leaves the rest journaled for the next one.
 * A refusal waiting may lift keeps the entry (or revocation) journaled, and
 * served by the secondary, tried again with backoff until `giveUpAfterMs`
 * has passed since the first; one about the session itself lets it go at once.
 */
export class Reconciler {
  public constructor(private readonly deps: ReconcilerDeps) {}

  /**
   * Reconcile until the journal is empty or holds only write-backs refused
   * for now, a storage failure interrupts, or the store closes.
   * @param final one pass over everything journaled, refused write-backs
   *   not yet due included (the last chance before the store closes)
   */
  public async run(tally: ReconcileTally, final = false): Promise<ReconcileOutcome> {
    const { journal, batchSize } = this.deps;
    // Entries written while a pass runs are picked up by the next pass; one
    // refused in a pass is not due in the next, so the loop ends. A final
    // pass takes refused ones too, so it is one pass only.
    for (let pass = 0; ; pass++) {
      if (this.deps.stopping()) return 'stopped';
      const now = this.deps.clock.now();
      const due = (refused: RefusedForNow | undefined) => final || isDue(refused, now);
      const revocations = journal.revocations().filter(({ refused }) => due(refused));
      const ids = journal.ids().filter((id) => due(journal.get(id)?.refused));
      if ((final && pass > 0) || (revocations.length === 0 && ids.length === 0)) {
        return journal.pending === 0 ? 'drained' : 'deferred';
      }
      try {
        for (const revocation of revocations) await this.revoke(revocation, tally);
      } catch (error) {
        if (error instanceof Interrupted) return 'interrupted';
        throw error;
      }
      for (let start = 0; start < ids.length; start += batchSize) {
        const outcome = await this.batch(ids.slice(start, start + batchSize), tally);
        this.deps.onProgress(tally, journal.pending);
        if (outcome !== 'drained') return outcome;
      }
    }
  }

  /** One batch, `concurrency` entries at a time. */
  private async batch(ids: readonly string[], tally: ReconcileTally): Promise<ReconcileOutcome> {
    let next = 0;
    let outcome: ReconcileOutcome = 'drained';
    const worker = async (): Promise<void> => {
      while (outcome === 'drained') {
        if (this.deps.stopping()) {
          outcome = 'stopped';
          return;
        }
        const id = ids[next++];
        if (id === undefined) return;
        const entry = this.deps.journal.get(id);
        if (entry === undefined) continue;
        try {
          await this.entry(id, entry, tally);
        } catch (error) {
          if (!(error instanceof Interrupted)) throw error;
          outcome = 'interrupted';
        }
      }
    };
    const workers = Math.min(this.deps.concurrency, ids.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return outcome;
  }

  private async entry(id: string, entry: JournalEntry, tally: ReconcileTally): Promise<void> {
    const { journal } = this.deps;
    const gen = entry.gen;
    const incarnation = entry.incarnation;
    try {
      if (entry.kind === 'delete') {
        if (await this.primary(() => this.deps.primary.delete(id), id)) tally.deleted += 1;
        if (journal.settle(id, entry, gen)) await this.dropLocal(id);
        return;
      }
      if (entry.deleteFirst) {
        if (await this.primary(() => this.deps.primary.delete(id), id)) tally.deleted += 1;
        journal.deletedFirst(id, entry, incarnation);
      }
      const base = entry.base;
      const record = await this.local(id);
      const outcome =
        record === null || record.expiresAt <= this.deps.clock.now()
          ? SKIPPED
          : await this.write(record, base, entry);
      switch (outcome.kind) {
        case 'written':
        case 'merged':
          if (outcome.kind === 'written' && outcome.restored === true) tally.restored += 1;
          else tally.written += 1;
          if (outcome.kind === 'merged' && outcome.conflicts.length > 0) {
            tally.conflicts += outcome.conflicts.length;
            this.deps.onConflict({
              sessionIdHash: hashSessionId(id),
              keys: outcome.conflicts,
              deleted: false,
            });
          }
          if (journal.settle(id, entry, gen)) await this.dropLocal(id);
          // Changed in the secondary while this write was in flight: the
          // primary holds this write now, so the next pass builds on it.
          else journal.rebase(id, entry, incarnation, outcome.version, record?.data);
          return;
        case 'deleted-in-primary':
          // Deleted (or regenerated) on the primary's side meanwhile: it stays deleted.
          tally.conflicts += 1;
          this.deps.onConflict({ sessionIdHash: hashSessionId(id), keys: [], deleted: true });
          if (journal.discard(id, entry, incarnation)) await this.dropLocal(id);
          return;
        case 'conflict':
          // Whole-record write-back: the primary's newer session was kept.
          tally.conflicts += 1;
          this.deps.onConflict({ sessionIdHash: hashSessionId(id), keys: [], deleted: false });
          if (journal.discard(id, entry, incarnation)) await this.dropLocal(id);
          return;
        case 'skipped':
          tally.skipped += 1;
          if (journal.settle(id, entry, gen)) await this.dropLocal(id);
          return;
        case 'unchanged':
          if (journal.settle(id, entry, gen)) await this.dropLocal(id);
          return;
      }
    } catch (error) {
      if (error instanceof Interrupted) throw error;
      if (this.refusedForNow(entry, error, hashSessionId(id))) return;
      // Not an outage and not lifted by waiting (corrupted in memory,
      // rejected by the primary's validation, or refused past the time
      // budget): report it and let it go, or it would block every later recovery.
      tally.failed += 1;
      if (journal.discard(id, entry, incarnation)) await this.dropLocal(id);
      this.deps.onFailed({ sessionIdHash: hashSessionId(id), error: toSessionError(error) });
    }
  }

  private async write(
    record: SessionRecord,
    base: number,
    entry: JournalEntry,
  ): Promise<WriteOutcome> {
    if (base === 0) return this.create(record, entry);
    const baseData = entry.baseData;
    if (this.deps.primary.merge !== undefined && baseData !== undefined) {
      return this.merge(record, base, baseData, entry);
    }
    const current = await this.primary(() => this.deps.primary.load(record.id), record.id);
    if (current === null) return this.create(record, entry);
    // A save of an earlier run that timed out on the client but landed.
    if (current.version === base + 1 && isSameWrite(current, record)) {
      return { kind: 'written', version: current.version };
    }
    // An earlier run's save of an older copy landed without an answer
    // (`entry.sent`): that version is this instance's own, save over it.
    const ownEarlierSave =
      current.version === base + 1 && entry.sent !== undefined && isSameWrite(current, entry.sent);
    if (current.version > base && !ownEarlierSave) return CONFLICT;
    return this.save(record, current.version, entry);
  }

  /** Compare-and-set `record` over the primary's `version`. */
  private async save(
    record: SessionRecord,
    version: number,
    entry: JournalEntry,
  ): Promise<WriteOutcome> {
    try {
      entry.sent = record;
      const written = await this.primary(
        () =>
          this.deps.primary.save(
            record.id,
            { data: record.data, expiresAt: record.expiresAt, userId: record.userId },
            version,
          ),
        record.id,
      );
      return { kind: 'written', version: written };
    } catch (error) {
      // Another writer got in between the load and the save: it is newer.
      if (hasCode(error, 'VERSION_CONFLICT')) return CONFLICT;
      // Deleted or expired in between: nothing to build on any more.
      if (hasCode(error, 'SESSION_NOT_FOUND')) return this.create(record, entry);
      throw error;
    }
  }

  /**
   * Per-key merge against `base` in one primary step (`SessionStore.merge`):
   * keys the primary left alone take the change, keys changed on both sides
   * go to the later writer and are reported. A session the primary lost
   * (Redis restarted empty) is written back whole; one it deleted stays
   * deleted.
   */
  private async merge(
    record: SessionRecord,
    base: number,
    baseData: SessionRecord['data'],
    entry: JournalEntry,
  ): Promise<WriteOutcome> {
    const { keyTimes } = entry;
    const from =
      entry.sent === undefined
        ? { base, baseData, unproven: [] }
        : await this.afterUnansweredMerge(record.id, base, baseData, entry.sent);
    const changes: SessionKeyChange[] = changedKeys(from.baseData, record.data).map((key) => ({
      key,
      value: Object.hasOwn(record.data, key) ? record.data[key] : undefined,
      base: Object.hasOwn(from.baseData, key) ? from.baseData[key] : undefined,
      // A change whose time was not seen (none should be) counts as the
      // copy's last write.
      at: keyTimes.get(key) ?? record.updatedAt,
    }));
    const { primary } = this.deps;
    entry.sent = record;
    const result = await this.primary(
      () =>
        (primary.merge as NonNullable<SessionStore['merge']>).call(primary, record.id, {
          baseVersion: from.base,
          changes,
          expiresAt: record.expiresAt,
        }),
      record.id,
    );
    switch (result.kind) {
      case 'merged': {
        // Keys taken as this instance's own write on their value alone are
        // reported too: another writer may have written the same value.
        const conflicts = [...new Set([...result.conflicts, ...from.unproven])];
        if (changes.length === 0 && conflicts.length === 0) return UNCHANGED;
        return { ...result, conflicts };
      }
      case 'missing': {
        const created = await this.create(record, entry);
        // Nothing changed here and someone else re-created it: nothing to report.
        if (created.kind === 'conflict' && changes.length === 0) return SKIPPED;
        return created.kind === 'written' ? { ...created, restored: true } : created;
      }
      case 'deleted':
        return changes.length === 0 ? SKIPPED : { kind: 'deleted-in-primary' };
    }
  }

  /**
   * An earlier call wrote `sent` and lost the answer (a merge of an earlier
   * run, or the degraded write whose primary call timed out): it may have
   * landed. Each key it changed that the primary holds exactly as sent is
   * built on at that value (so the script, comparing values, applies the
   * key), instead of counting the key as changed on both sides and letting
   * the session's last write time decide, which another instance's later
   * write to another key would win: this instance's own later writes would
   * be undone.
   *
   * When the primary is exactly one version on, every such key landed and
   * the expiry is the one it sent, that version is the write's own: the
   * whole merge is built on it (which encrypted values, a fresh IV per
   * write that the script cannot compare, need), and nothing is reported.
   * Otherwise someone else wrote too, and a value alone does not tell who
   * wrote it: another instance changing the same key from the same copy
   * (two increments of one counter) sends the same value. Such keys are
   * `unproven`: their change is still applied (it carries every write this
   * instance made on that value; at most the other writer's one is lost),
   * but reported as a conflict, never silently. Keys the write did not
   * land keep their base, so that this copy's keys do not pass over
   * another writer's unreported.
   */
  private async afterUnansweredMerge(
    id: string,
    base: number,
    baseData: SessionData,
    sent: SessionRecord,
  ): Promise<{ base: number; baseData: SessionData; unproven: readonly string[] }> {
    const current = await this.primary(() => this.deps.primary.load(id), id);
    if (current === null) return { base, baseData, unproven: [] };
    const keys = changedKeys(baseData, sent.data);
    const landed = keys.filter(
      (key) =>
        Object.hasOwn(current.data, key) === Object.hasOwn(sent.data, key) &&
        isDeepStrictEqual(current.data[key], sent.data[key]),
    );
    if (landed.length === 0) return { base, baseData, unproven: [] };
    // baseData with the landed keys as it sent them (an unset key absent).
    const landedKeys = new Set(landed);
    const rebased: SessionData = {};
    for (const [key, value] of Object.entries(baseData)) {
      if (!landedKeys.has(key)) rebased[key] = value;
    }
    for (const key of landed) {
      if (Object.hasOwn(sent.data, key)) rebased[key] = sent.data[key] as JsonValue;
    }
    // The expiry too: a rolling one is the writer's own clock's, so another
    // instance writing the same values at the same version rarely matches it.
    const own =
      current.version === base + 1 &&
      landed.length === keys.length &&
      current.expiresAt === sent.expiresAt;
    return own
      ? { base: current.version, baseData: rebased, unproven: [] }
      : { base, baseData: rebased, unproven: landed };
  }

  private async create(record: SessionRecord, entry: JournalEntry): Promise<WriteOutcome> {
    // What an earlier run sent, before this call replaces it.
    const sent = entry.sent;
    try {
      entry.sent = record;
      const created = await this.primary(
        () =>
          this.deps.primary.create({
            id: record.id,
            userId: record.userId,
            data: record.data,
            expiresAt: record.expiresAt,
          }),
        record.id,
      );
      return { kind: 'written', version: created.version };
    } catch (error) {
      // The primary has a session under this id that the secondary's copy
      // does not derive from (base 0): it is newer, or unrelated — unless it
      // is this very create from an earlier run, which timed out on the
      // client after Redis had executed it (a second outage mid-reconcile).
      if (hasCode(error, 'SESSION_ALREADY_EXISTS')) {
        const current = await this.primary(() => this.deps.primary.load(record.id), record.id);
        if (current?.version === 1 && isSameWrite(current, record)) {
          return { kind: 'written', version: 1 };
        }
        // That create was of an older copy, changed here since: build on it.
        if (current?.version === 1 && sent !== undefined && isSameWrite(current, sent)) {
          return this.save(record, 1, entry);
        }
        return CONFLICT;
      }
      // It expired between the check and the create (clocks differ by a few ms).
      if (isSessionError(error) && error.details?.['field'] === 'expiresAt') return SKIPPED;
      throw error;
    }
  }

  private async revoke(revocation: Revocation, tally: ReconcileTally): Promise<void> {
    const { journal } = this.deps;
    try {
      let sessions: readonly SessionRecord[];
      try {
        sessions = await this.primary(() => this.deps.primary.listByUser(revocation.userId));
      } catch (error) {
        if (error instanceof Interrupted || mayLiftWithTime(error)) throw error;
        // The list cannot be read, for good (one unreadable session fails it
        // under failFastOnCorruption). The revocation must still happen: a
        // "log out everywhere" that leaves sessions alive is worse than one
        // that also ends a session created in Redis after it (the only one
        // this path cannot tell apart, having no createdAt to compare).
        tally.failed += 1;
        this.deps.onFailed({ sessionIdHash: undefined, error: toSessionError(error) });
        tally.deleted += await this.primary(() =>
          this.deps.primary.deleteByUser(revocation.userId, {
            except: [...revocation.except, ...journal.ids()],
          }),
        );
        journal.settleRevocation(revocation);
        return;
      }
      for (const session of sessions) {
        if (
          session.createdAt > revocation.at ||
          revocation.except.has(session.id) ||
          journal.has(session.id)
        ) {
          continue;
        }
        if (await this.primary(() => this.deps.primary.delete(session.id), session.id)) {
          tally.deleted += 1;
        }
      }
    } catch (error) {
      if (error instanceof Interrupted) throw error;
      if (this.refusedForNow(revocation, error, undefined)) return;
      tally.failed += 1;
      this.deps.onFailed({ sessionIdHash: undefined, error: toSessionError(error) });
    }
    journal.settleRevocation(revocation);
  }

  /**
   * Keep `target` (an entry or a revocation) for a later try when `error`
   * is a refusal waiting may lift and the refusals have not yet lasted
   * `giveUpAfterMs`: mark it with when to try next, and report it.
   * @returns false when it is to be let go
   */
  private refusedForNow(
    target: { refused?: RefusedForNow | undefined },
    error: unknown,
    sessionIdHash: string | undefined,
  ): boolean {
    const { clock, giveUpAfterMs } = this.deps;
    if (!mayLiftWithTime(error)) return false;
    const now = clock.now();
    const since = target.refused?.since ?? now;
    const giveUpAt = since + giveUpAfterMs;
    if (now >= giveUpAt) return false;
    const tries = (target.refused?.tries ?? 0) + 1;
    // The last try is at the budget's end, not a whole delay past it.
    const dueAt = Math.min(giveUpAt, now + retryDelayMs(REFUSED_BACKOFF, tries, Math.random));
    target.refused = { since, tries, dueAt };
    this.deps.onDeferred({ sessionIdHash, error: toSessionError(error), tries, dueAt, giveUpAt });
    return true;
  }

  /** A primary call; a storage failure (or the open breaker) becomes {@link Interrupted}. */
  private async primary<T>(fn: () => Promise<T>, id?: string): Promise<T> {
    try {
      return await this.deps.execute(fn, id);
    } catch (error) {
      if (shouldFailOver(error)) throw new Interrupted(error);
      throw error;
    }
  }

  /** The secondary's record; a secondary that cannot answer interrupts the run like an outage. */
  private async local(id: string): Promise<SessionRecord | null> {
    try {
      return await this.deps.secondary.load(id);
    } catch (error) {
      if (isStorageFailure(error)) throw new Interrupted(error);
      throw error;
    }
  }

  private async dropLocal(id: string): Promise<void> {
    const { secondary } = this.deps;
    try {
      // Forgotten, not deleted where the secondary can (no tombstone): the
      // same session may be carried through a later outage again.
      if (secondary.forget === undefined) await secondary.delete(id);
      else await secondary.forget(id);
    } catch {
      // The id is no longer journaled, so its calls go to the primary and a
      // copy left behind is never read; the secondary's expiry removes it.
    }
  }
}

function hasCode(error: unknown, code: SessionErrorCode): boolean {
  return isSessionError(error) && error.code === code;
}
