import { copySessionData } from '@session-cluster/core';
import type { JsonValue, SessionRecord } from '@session-cluster/core';
import { PatchSteps } from './patch-steps.js';
import type { PatchStep } from './patch-steps.js';

/** Sizing of the instance cache ({@link RedisStoreOptions.cache}). */
export interface SessionCacheOptions {
  /** Most sessions held; the least recently used leave first. Default 10 000. */
  readonly maxEntries?: number | undefined;
  /**
   * Most bytes of the live copies, counted as the stored frames' lengths (a
   * proxy of the memory the decoded sessions take) plus the entries text
   * kept beside a copy for patches sent whole. Default 32 MiB. The copies
   * set aside for an outage fallback (an invalidated or dropped entry, every
   * entry when the cache goes down; each kept up to a minute) and the steps
   * of parallel patches are each bounded by it on their own, so the cache
   * can hold up to three times this.
   */
  readonly maxBytes?: number | undefined;
}

/** Defaults of {@link SessionCacheOptions}. */
export const SESSION_CACHE_DEFAULTS = Object.freeze({
  maxEntries: 10_000,
  maxBytes: 32 * 1024 * 1024,
});

/**
 * How long a copy set aside when the cache went down ({@link SessionCache.peekRetained})
 * stays offered to an outage fallback, ms: the sessions served in the minute
 * before an outage.
 */
export const RETAINED_TTL_MS = 60_000;

/**
 * The clock skew between instances a read-your-writes token's time is
 * allowed, ms: a copy answers a token it is older than only when it was read
 * more than this after the token was issued (see {@link SessionCache.peek}).
 * Instances whose clocks differ by more may hide a visitor's write from
 * them; NTP keeps servers within milliseconds.
 */
export const TOKEN_CLOCK_SKEW_MS = 1_000;

/**
 * Where the cache stands: `ready` serves and fills; `down` (an invalidation
 * channel or a tracked connection is not up, or tracking is not confirmed
 * yet) neither serves nor fills — everything goes to Redis.
 */
export type SessionCacheState = 'ready' | 'down';

/** Counters and size of the instance cache, for metrics and the health report. */
export interface SessionCacheStats {
  readonly state: SessionCacheState;
  readonly entries: number;
  /** What the entries count against `maxBytes` (see {@link SessionCacheOptions.maxBytes}). */
  readonly bytes: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Loads answered from the cache. */
  readonly hits: number;
  /** Loads that went to Redis (including every load while `down`). */
  readonly misses: number;
  /** Keys invalidated: by Redis (another writer), or by this instance's own writes. */
  readonly invalidations: number;
  /** Whole-cache flushes: FLUSHALL/FLUSHDB, a connection lost, tracking re-enabled. */
  readonly flushes: number;
  /** Entries dropped to stay within maxEntries/maxBytes. */
  readonly evictions: number;
  /** Fills refused because an invalidation arrived while their read was in flight. */
  readonly racesLost: number;
  /**
   * Copies set aside (an invalidated or dropped entry, every entry when the
   * cache goes down; each up to a minute), offered to an outage fallback.
   */
  readonly retained: number;
  /** What the copies set aside count against their own `maxBytes` bound (as `bytes` does). */
  readonly retainedBytes: number;
  /** Encoded bytes of the values of own patches kept as steps (bounded by `maxBytes` too). */
  readonly stepBytes: number;
}

/** A read in flight that may fill the cache: see {@link SessionCache.beginFill}. */
export interface FillTicket {
  readonly id: string;
  readonly epoch: number;
  readonly seq: number;
  /** An own write of the id was in flight when the read was sent. */
  readonly overlapsWrite: boolean;
  /** Wall-clock time when the ticket was taken: the read was sent no earlier. */
  readonly takenAt: number;
}

interface Entry {
  readonly record: SessionRecord;
  readonly bytes: number;
  /**
   * Wall-clock time before the read that stored it was sent (see
   * {@link SessionCache.peek}): the clock a read-your-writes token's time
   * comes from (the HTTP core signs with `Date.now()`), not the store's
   * injectable one, whose offset would shift which tokens a copy answers.
   */
  readonly readAt: number;
  /** {@link SessionCache}'s insertion count when it was last (re)inserted: see `promote`. */
  insertedAt: number;
  /** The stored frame's entries text, when the store keeps it: see {@link SessionCache.entriesOf}. */
  readonly entries: string | undefined;
}

interface RetainedEntry {
  readonly record: SessionRecord;
  /** Its size as the live entries count it (frame length plus id): bounds the copies by maxBytes. */
  readonly bytes: number;
  /** Clock time (the caller's) at which it was set aside. */
  readonly at: number;
  /**
   * This instance's latest knowledge of the session: live when the cache
   * went down, or created here (not an invalidated or pre-write copy).
   * Offered by {@link SessionCache.takeRetained}.
   */
  readonly current: boolean;
  /**
   * What this instance's own create or write left (or a read while the
   * cache was down), and no patch has found Redis past it since: worth
   * sending a patch whole on ({@link SessionCache.peekBase}). Redis does not
   * track these copies, so another instance's write is only learnt of when
   * a patch sent on the copy is refused ({@link SessionCache.refuseBase}).
   */
  readonly base: boolean;
  /** As `Entry.entries`. */
  readonly entries: string | undefined;
}

interface PendingKey {
  readers: number;
  /** This instance's writes of the id in flight. */
  writes: number;
  /** `seq` of the last invalidation of this id while reads were in flight. */
  invalidatedAt: number;
}

/**
 * The bounded LRU of decoded, frozen sessions behind `RedisStore.load`, and
 * the bookkeeping that keeps it coherent. It knows nothing about Redis: the
 * store feeds it reads and writes, the tracking channels feed it
 * invalidations and the connection state.
 *
 * Invariants:
 * - an entry is only ever stored from a read that Redis tracks for this
 *   instance (a GET on a connection with `CLIENT TRACKING` on, confirmed
 *   before the read was sent): any later change of the key by anyone else
 *   produces an invalidation, which deletes the entry;
 * - the in-flight race: an invalidation that arrives while the read that
 *   fills an entry is in flight wins. Each fill takes a ticket (`seq`) before
 *   its read is sent; an invalidation of the id meanwhile stamps the id's
 *   pending record with a later `seq`, and the fill is dropped;
 * - `epoch` changes on every flush and every state change, so a fill whose
 *   read was sent before a reconnect (whose tracking may have been lost) is
 *   dropped too;
 * - this instance's own writes send it no invalidation (`NOLOOP`, see
 *   `InvalidationTracker`), so each write is bracketed by
 *   {@link beginWrite}/{@link endWrite}: it drops the entry, loses the fills
 *   in flight, and refuses every fill whose read was sent while the write
 *   was in flight (on Cluster a redirected command may run after a read
 *   sent later). The one exception is the read the store sends right
 *   behind its own write (a frame head read: the store fills the entry
 *   with what it wrote, once the head shows the version it wrote), unless
 *   another write of the id is sent after it ({@link sentWrite}): that
 *   one may run in Redis after the read;
 * - records are deep-frozen once, when stored: every caller shares the one
 *   decoded copy, so nothing is decoded twice and nobody can change it.
 */
export class SessionCache {
  public readonly maxEntries: number;
  public readonly maxBytes: number;

  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, PendingKey>();
  /**
   * Entries set aside instead of dropped: every entry when the cache went
   * down, an entry invalidated (by another instance's write, or before an
   * own write), and what this instance read or wrote while its copy could
   * not be cached ({@link noteSeen}): the last copy this instance saw.
   * Never served by {@link get} (they may be stale); an outage fallback
   * reads them ({@link peekRetained}) to carry visitors through an outage —
   * a stale copy costs a per-key merge conflict (and the writes it misses),
   * an empty session costs the visitor their data. They leave after
   * {@link RETAINED_TTL_MS}, when taken, or when superseded by a newer copy;
   * bounded by `maxEntries` and `maxBytes` like the live entries.
   */
  private retained = new Map<string, RetainedEntry>();
  private retainedBytes = 0;
  /** Own patches whose result was not seen, replayed onto the copy set aside (see {@link noteStep}). */
  private readonly steps: PatchSteps;
  /**
   * Ids this instance deleted or found gone (see {@link noteGone}), oldest
   * first, at most `maxEntries`: no copy of them is set aside again.
   */
  private readonly gone = new Set<string>();
  private ready = false;
  private epoch = 0;
  private seq = 0;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private invalidations = 0;
  private flushes = 0;
  private evictions = 0;
  /** Entries inserted or re-inserted so far (see {@link promote}). */
  private insertions = 0;
  private racesLost = 0;

  /** @param options already checked (see `resolveRedisStoreOptions`) */
  public constructor(options: { readonly maxEntries: number; readonly maxBytes: number }) {
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.steps = new PatchSteps(options.maxEntries, options.maxBytes, RETAINED_TTL_MS);
  }

  /** True while the cache serves and fills. */
  public get isReady(): boolean {
    return this.ready;
  }

  /**
   * The cached session: the record (shared, frozen), `null` when the cached
   * copy is logically expired at `now`, `undefined` on a miss (not cached,
   * or the cache is down). A hit moves the entry to the young end.
   */
  public get(id: string, now: number): SessionRecord | null | undefined {
    if (!this.ready) {
      this.misses += 1;
      return undefined;
    }
    const entry = this.entries.get(id);
    if (entry === undefined) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    this.promote(id, entry);
    return entry.record.expiresAt > now ? entry.record : null;
  }

  /**
   * What `load` answers from the cache: {@link peek}'s copy (the same
   * `minVersion` rule, one look-up), counted as a hit and made recent as
   * {@link get} does (`null` when that copy has expired by `now`), or
   * `undefined` without counting: the load that follows counts the miss.
   */
  public current(
    id: string,
    now: number,
    minVersion = 0,
    since?: number,
  ): SessionRecord | null | undefined {
    const entry = this.servable(id, minVersion, since);
    if (entry === undefined) return undefined;
    this.hits += 1;
    this.promote(id, entry);
    return entry.record.expiresAt > now ? entry.record : null;
  }

  /** Count a load that {@link peek} could not answer (not cached, too old, or the cache down). */
  public noteMiss(): void {
    this.misses += 1;
  }

  /**
   * The cached copy without counting or reordering (for a caller that checks
   * versions first). With `minVersion`, only a copy that version or later,
   * or one read from Redis more than {@link TOKEN_CLOCK_SKEW_MS} after
   * `since` (when the caller learned `minVersion`): Redis held that copy,
   * not a newer one, after the caller's version was written, and would
   * answer a read with it until the invalidation that drops the entry
   * (see core's `LoadOptions.minVersionSince`).
   */
  public peek(id: string, minVersion = 0, since?: number): SessionRecord | undefined {
    return this.servable(id, minVersion, since)?.record;
  }

  /** The live entry of `id` when {@link peek}'s version rule lets it answer (the one place that rule lives). */
  private servable(id: string, minVersion: number, since: number | undefined): Entry | undefined {
    const entry = this.ready ? this.entries.get(id) : undefined;
    if (entry === undefined || entry.record.version >= minVersion) return entry;
    return since !== undefined && entry.readAt > since + TOKEN_CLOCK_SKEW_MS ? entry : undefined;
  }

  /**
   * The frame size the entry of `id` was stored with ({@link endFill}'s
   * `bytes`), `undefined` when none. With `orSetAside`, when there is no
   * live entry, the size of the copy set aside ({@link peekRetained}'s).
   */
  public bytesOf(id: string, orSetAside = false): number | undefined {
    const entry =
      (this.ready ? this.entries.get(id) : undefined) ??
      (orSetAside ? this.retained.get(id) : undefined);
    return entry === undefined ? undefined : entry.bytes - id.length;
  }

  /**
   * Call synchronously before sending a read that may fill the entry of `id`.
   * @param now wall-clock time, before the read is sent (see `Entry.readAt`)
   * @returns a ticket for {@link endFill}, or `undefined` when the cache is down (do not fill)
   */
  public beginFill(id: string, followsOwnWrite = false, now = Date.now()): FillTicket | undefined {
    if (!this.ready) return undefined;
    const pending = this.pendingOf(id);
    pending.readers += 1;
    this.seq += 1;
    return {
      id,
      epoch: this.epoch,
      seq: this.seq,
      overlapsWrite: !followsOwnWrite && pending.writes > 0,
      takenAt: now,
    };
  }

  /** Call synchronously before sending a write of `id` through the tracked client. */
  public beginWrite(id: string): void {
    this.invalidate(id);
    this.pendingOf(id).writes += 1;
  }

  /**
   * The write of {@link beginWrite} was handed to the client: every fill of
   * `id` whose read went out before it is lost. A write begun earlier can be
   * sent later (writes of different scripts leave in separate batches, in
   * the order they were made), so the read behind an earlier-sent write of
   * this instance's (`followsOwnWrite`) may reach Redis before it: without
   * this, that read would refill the entry with a version this instance's
   * own later write has already replaced, and nothing would ever tell it.
   */
  public sentWrite(id: string): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.seq += 1;
    pending.invalidatedAt = this.seq;
  }

  /** The write of {@link beginWrite} settled (either way). */
  public endWrite(id: string): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    pending.writes -= 1;
    this.release(id, pending);
  }

  /**
   * The read of `ticket` answered. Stores `record` (and freezes it) unless
   * an invalidation of the id or a flush happened since the ticket was taken,
   * or `record` is null (a missing session is not cached).
   *
   * @param accept the caller's own check of the record (e.g. at least the version it wrote)
   * @param entries the entries part of the frame `record` was read from or
   *   written with, kept beside it for {@link entriesOf}
   * @returns the record, frozen when it was stored
   */
  public endFill(
    ticket: FillTicket,
    record: SessionRecord | null,
    bytes: number,
    accept = true,
    entries?: string,
  ): SessionRecord | null {
    const pending = this.pending.get(ticket.id);
    let invalidatedAt = 0;
    if (pending !== undefined) {
      invalidatedAt = pending.invalidatedAt;
      pending.readers -= 1;
      this.release(ticket.id, pending);
    }
    if (record === null || !accept) return record;
    if (
      !this.ready ||
      ticket.epoch !== this.epoch ||
      invalidatedAt > ticket.seq ||
      ticket.overlapsWrite
    ) {
      this.racesLost += 1;
      // Not current enough to serve, but this instance's latest sight of the
      // session (after its own write, for a refill): set a copy aside for an
      // outage fallback, or that write would be missing from its copy.
      this.setAside(
        ticket.id,
        deepFreeze({ ...record, data: copySessionData(record.data) }),
        bytes + ticket.id.length,
        Date.now(),
        false,
        false,
        entries,
      );
      return record;
    }
    const entry: Entry = {
      record: deepFreeze(record),
      bytes: bytes + ticket.id.length,
      readAt: ticket.takenAt,
      insertedAt: (this.insertions += 1),
      entries,
    };
    this.remove(ticket.id);
    this.entries.set(ticket.id, entry);
    this.bytes += held(entry);
    this.evict();
    return entry.record;
  }

  /** The read of `ticket` failed or its answer is not usable: release the ticket. */
  public cancelFill(ticket: FillTicket): void {
    this.endFill(ticket, null, 0);
  }

  /**
   * Drop the entry of `id` and lose every fill of it in flight.
   * @param byRedis an invalidation message (counted), not this instance's own write
   */
  public invalidate(id: string, byRedis = false, now = Date.now()): void {
    if (byRedis) this.invalidations += 1;
    // The last copy this instance saw, for an outage fallback: also before
    // an own write, which may fail because Redis just went away. Either way
    // it is no longer this instance's latest knowledge (not `current`).
    const entry = this.entries.get(id);
    if (entry !== undefined) {
      this.setAside(id, entry.record, entry.bytes, now, false, false, entry.entries);
    } else {
      const kept = this.retained.get(id);
      // Another writer's change also ends the copy's use as a patch base.
      const base = kept?.base === true && !byRedis;
      if (kept !== undefined && (kept.current || kept.base !== base))
        this.retained.set(id, { ...kept, current: false, base });
    }
    this.remove(id);
    const pending = this.pending.get(id);
    if (pending !== undefined) {
      this.seq += 1;
      pending.invalidatedAt = this.seq;
    }
  }

  /** Drop everything and lose every fill in flight (FLUSHALL/FLUSHDB, a connection lost). */
  public flush(): void {
    this.flushes += 1;
    this.epoch += 1;
    this.entries.clear();
    this.bytes = 0;
  }

  /**
   * Serve and fill (`true`) or neither (`false`). Either change flushes:
   * entries filled before going down, or before tracking was confirmed, are
   * not known to be current.
   */
  public setReady(ready: boolean, now = Date.now()): void {
    if (ready === this.ready) return;
    if (!ready) this.retain(now);
    this.flush();
    this.ready = ready;
  }

  /**
   * The live entry while the cache is ready; else the copy of `id` set
   * aside last (see {@link retained}), if younger than
   * {@link RETAINED_TTL_MS}. Possibly stale: for an outage fallback, never
   * for a normal read.
   */
  public peekRetained(id: string, now = Date.now()): SessionRecord | undefined {
    const live = this.ready ? this.entries.get(id)?.record : undefined;
    if (live !== undefined) return live;
    const kept = this.retained.get(id);
    if (kept === undefined) return undefined;
    if (kept.at + RETAINED_TTL_MS <= now) {
      this.dropRetained(id, kept);
      return undefined;
    }
    return kept.record;
  }

  /**
   * The copy a patch of `id` may be sent whole on: the live entry, else the
   * copy set aside by this instance's own create or last write while it is
   * still a base (see `RetainedEntry.base`, {@link RETAINED_TTL_MS}). Never
   * served, only compared: Redis stores a frame built on it only while it
   * holds exactly that copy. `undefined` while the cache is down.
   */
  public peekBase(id: string, now = Date.now()): SessionRecord | undefined {
    if (!this.ready) return undefined;
    const live = this.entries.get(id)?.record;
    if (live !== undefined) return live;
    const kept = this.retained.get(id);
    return kept?.base === true && kept.at + RETAINED_TTL_MS > now ? kept.record : undefined;
  }

  /**
   * The entries text kept beside `record` (given to {@link endFill},
   * {@link noteCreated} or {@link noteSeen}) while the live entry or the
   * copy set aside for `id` is that very record: what a patch on it may
   * splice into. `undefined` for any other record.
   */
  public entriesOf(id: string, record: SessionRecord): string | undefined {
    const entry = this.entries.get(id);
    if (entry?.record === record) return entry.entries;
    const kept = this.retained.get(id);
    return kept?.record === record ? kept.entries : undefined;
  }

  /** Redis held a newer copy of `id` than the base a patch was sent on: stop sending on it. */
  public refuseBase(id: string): void {
    const kept = this.retained.get(id);
    if (kept?.base === true) this.retained.set(id, { ...kept, base: false });
  }

  /**
   * Hand over (and forget) every copy set aside as this instance's latest
   * (live when the cache went down, or created here) that is younger than
   * {@link RETAINED_TTL_MS}: an outage fallback takes them to write back
   * what Redis may have lost.
   */
  public takeRetained(now = Date.now()): SessionRecord[] {
    const taken: SessionRecord[] = [];
    for (const [id, kept] of this.retained) {
      if (!kept.current) continue;
      if (kept.at + RETAINED_TTL_MS > now) taken.push(kept.record);
      this.dropRetained(id, kept);
    }
    return taken;
  }

  /**
   * The ids that have a copy set aside younger than {@link RETAINED_TTL_MS}:
   * what an outage fallback could serve, to check against Redis when
   * announcements of deletes may have been missed (see `RedisStore`).
   */
  public retainedIds(now = Date.now()): string[] {
    const ids: string[] = [];
    for (const [id, kept] of this.retained) if (kept.at + RETAINED_TTL_MS > now) ids.push(id);
    return ids;
  }

  /** Set the live entries aside (newest copy of each id wins), dropping copies past their time. */
  private retain(now: number): void {
    for (const [id, kept] of this.retained) {
      if (kept.at + RETAINED_TTL_MS <= now) this.dropRetained(id, kept);
    }
    for (const [id, entry] of this.entries) {
      this.setAside(id, entry.record, entry.bytes, now, true, false, entry.entries);
    }
  }

  /**
   * A session this instance just created (its whole record, which nothing
   * read back, so it is not cached): set aside as this instance's copy, for
   * an outage fallback ({@link peekRetained}, {@link takeRetained}).
   */
  public noteCreated(
    record: SessionRecord,
    bytes: number,
    now = Date.now(),
    entries?: string,
  ): void {
    this.gone.delete(record.id);
    this.steps.forget(record.id);
    this.setAside(
      record.id,
      deepFreeze(record),
      bytes + record.id.length,
      now,
      true,
      true,
      entries,
    );
  }

  /**
   * This instance's latest sight of a session whose copy could not be
   * cached: what a load read while the cache is down, or what an own write
   * left when it could not refill the entry (the cache is down, or another
   * write followed it before the head read). Never served, but newer than
   * the copy set aside before (when the cache went down, or when the write
   * began), which would otherwise be what an outage fallback seeds the
   * session with ({@link peekRetained}) and lose every write since. Keeps
   * whether the copy it supersedes was `current`; a patch base
   * ({@link peekBase}): Redis held exactly this copy. `record` is frozen
   * and kept as it is: the caller must not change it afterwards.
   * @param bytes the frame's length as {@link endFill} counts it
   * @param entries as {@link endFill}'s
   */
  public noteSeen(record: SessionRecord, bytes: number, now = Date.now(), entries?: string): void {
    this.setAside(
      record.id,
      deepFreeze(record),
      bytes + record.id.length,
      now,
      this.retained.get(record.id)?.current === true,
      true,
      entries,
    );
  }

  /**
   * This instance deleted `id` (or its delete found it gone): drop the copy
   * set aside, and set none aside again. The copy its own delete set aside
   * (in case the delete failed) would otherwise carry the deleted session
   * through an outage starting within the minute: a logout undone on the
   * instance that performed it. A deleted id stays deleted in Redis, and a
   * write reply still on its way (an own write that ran before the delete)
   * must not set its copy aside after this.
   */
  public noteGone(id: string): void {
    this.remove(id);
    const kept = this.retained.get(id);
    if (kept !== undefined) this.dropRetained(id, kept);
    this.steps.forget(id);
    this.gone.delete(id);
    this.gone.add(id);
    if (this.gone.size > this.maxEntries) {
      const oldest = this.gone.values().next();
      if (oldest.done !== true) this.gone.delete(oldest.value);
    }
  }

  /**
   * An own patch of `id` whose result this instance did not see (another of
   * its writes of the id ran between the copy it was applied to and it):
   * the copy set aside is carried forward through it once every version
   * between them is known ({@link PatchSteps}). Else, after a burst of
   * parallel writes, an outage fallback seeds the session with the copy
   * from before the burst, and until the write-back its reads miss writes
   * this instance already acknowledged.
   */
  public noteStep(id: string, step: () => PatchStep | undefined, now = Date.now()): void {
    // Only onto a copy held (without one there is nothing to carry
    // forward); built only then: it decodes the patch's values.
    if (!this.retained.has(id) && !this.entries.has(id)) return;
    const built = step();
    if (built === undefined) return;
    this.steps.add(id, built, now);
    this.replaySteps(id, now);
  }

  /**
   * The copy set aside for `id` carried forward through the own patches
   * that follow it: exactly what Redis held after the last (see
   * {@link PatchSteps}), so a patch base again.
   */
  private replaySteps(id: string, now: number): void {
    const kept = this.retained.get(id);
    if (kept === undefined || kept.at + RETAINED_TTL_MS <= now) return;
    const replayed = this.steps.replay(id, kept.record, now);
    if (replayed === undefined) return;
    const record = deepFreeze(replayed.record);
    this.putAside(id, record, replayed.bytes + id.length, now, kept.current, true);
  }

  private setAside(
    id: string,
    record: SessionRecord,
    bytes: number,
    now: number,
    current: boolean,
    base = false,
    entries?: string,
  ): void {
    this.putAside(id, record, bytes, now, current, base, entries);
    this.replaySteps(id, now);
  }

  private putAside(
    id: string,
    record: SessionRecord,
    bytes: number,
    now: number,
    current: boolean,
    base: boolean,
    entries?: string,
  ): void {
    if (this.gone.has(id)) return;
    const kept = this.retained.get(id);
    if (kept !== undefined) {
      if (kept.record.version > record.version) return;
      this.dropRetained(id, kept);
    }
    const copy: RetainedEntry = { record, bytes, at: now, current, base, entries };
    this.retained.set(id, copy);
    this.retainedBytes += held(copy);
    // Bounded like the live entries: the oldest set aside leave first.
    while (this.retained.size > this.maxEntries || this.retainedBytes > this.maxBytes) {
      const oldest = this.retained.entries().next();
      if (oldest.done === true) break;
      this.dropRetained(...oldest.value);
    }
  }

  private dropRetained(id: string, kept: RetainedEntry): void {
    this.retained.delete(id);
    this.retainedBytes -= held(kept);
  }

  /** Counters and size. */
  public stats(): SessionCacheStats {
    return {
      state: this.ready ? 'ready' : 'down',
      entries: this.entries.size,
      bytes: this.bytes,
      maxEntries: this.maxEntries,
      maxBytes: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
      invalidations: this.invalidations,
      flushes: this.flushes,
      evictions: this.evictions,
      racesLost: this.racesLost,
      retained: this.retained.size,
      retainedBytes: this.retainedBytes,
      stepBytes: this.steps.size.bytes,
    };
  }

  private pendingOf(id: string): PendingKey {
    let pending = this.pending.get(id);
    if (pending === undefined) {
      pending = { readers: 0, writes: 0, invalidatedAt: 0 };
      this.pending.set(id, pending);
    }
    return pending;
  }

  private release(id: string, pending: PendingKey): void {
    if (pending.readers <= 0 && pending.writes <= 0) this.pending.delete(id);
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.bytes -= held(entry);
  }

  /**
   * Make a hit entry recent (Map keeps insertion order; eviction takes the
   * first key) unless fewer entries than half the cache were inserted since
   * it was: then at most that many follow it, so it is in the newer half
   * and no eviction reaches it before a later hit would promote it. A
   * session read on every request then costs one look-up, not a delete and
   * a re-insert each time.
   */
  private promote(id: string, entry: Entry): void {
    if ((this.insertions - entry.insertedAt) * 2 < this.entries.size) return;
    this.entries.delete(id);
    entry.insertedAt = this.insertions += 1;
    this.entries.set(id, entry);
  }

  private evict(): void {
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) return;
      this.remove(oldest.value);
      this.evictions += 1;
    }
  }
}

/**
 * What an entry or a copy counts against `maxBytes`: its frame's size, and
 * the entries text kept beside it (a slice of the frame read keeps that
 * frame's string alive, so about as much again).
 */
function held(entry: Entry | RetainedEntry): number {
  return entry.bytes + (entry.entries?.length ?? 0);
}

function deepFreeze<T extends SessionRecord>(record: T): T {
  freezeValue(record.data);
  return Object.freeze(record);
}

function freezeValue(value: JsonValue | { [key: string]: JsonValue }): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const child of Object.values(value)) freezeValue(child);
  Object.freeze(value);
}
