import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import {
  copySessionData,
  SessionValidationError,
  assertValidUserId,
  exceptIds,
  isSessionError,
  isValidSessionId,
  replayFirst,
  sessionChannels,
  toSessionError,
} from '@session-cluster/core';
import type {
  Clock,
  CreateSessionInput,
  DeleteByUserOptions,
  LoadOptions,
  PatchOptions,
  FallbackRoute,
  FallbackStateReader,
  SaveSessionInput,
  SessionChannels,
  SessionData,
  SessionEvent,
  SessionPatch,
  SessionRecord,
  SessionStore,
  SweepResult,
} from '@session-cluster/core';
import { CircuitState, ConstantBackoff, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import type { CircuitBreakerPolicy, FailureReason, IDisposable } from 'cockatiel';
import { DegradedJournal } from './degraded-journal.js';
import type {
  FallbackStoreEvents,
  RecoveredEvent,
  WriteBacksLostReason,
} from './fallback-events.js';
import { resolveFallbackOptions } from './fallback-options.js';
import type { FallbackStoreOptions } from './fallback-options.js';
import { breakerStateName, createPrimaryPolicy, createStorageBreaker } from './primary-policy.js';
import type { BreakerState, PrimaryPolicy } from './primary-policy.js';
import type { ResolvedBreakerOptions } from './fallback-options.js';
import { Reconciler, emptyTally } from './reconciler.js';
import type { ReconcileTally } from './reconciler.js';
import { RecoveryMachine, SHARED_BREAKER, partitionBreakerKey } from './recovery-machine.js';
import type { RecoveryState, RunOutcome } from './recovery-machine.js';
import {
  failureCode,
  isStorageFailure,
  isTaskCancelled,
  shouldFailOver,
} from './storage-failure.js';

function idOf(input: unknown): unknown {
  return typeof input === 'object' && input !== null ? (input as { id?: unknown }).id : undefined;
}

function alwaysApplied(): boolean {
  return true;
}

function byCreation(a: SessionRecord, b: SessionRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The `cache` event of a load the primary's instance cache answered. */
const CACHE_HIT: SessionEvent = Object.freeze({ type: 'cache', hit: true });
/** For writes: only a thrown `SESSION_NOT_FOUND` from the secondary is a miss. */
const NEVER_A_MISS = (): boolean => false;

/** `data` with `changes` applied, as a store applies a patch. */
function patchedData(data: SessionData, changes: SessionPatch): SessionData {
  const unset = new Set(changes.unset);
  const kept = Object.entries({ ...data, ...changes.set }).filter(([key]) => !unset.has(key));
  return Object.fromEntries(kept);
}

/** How often `close()` asks an open breaker to let a probe through, ms. */
const CLOSE_PROBE_STEP_MS = 50;

/**
 * The secondary's side of a call the primary did not serve. `seed`: the
 * session may be seeded from the instance cache's copy. `unanswered`: the
 * primary was asked and gave no answer, so a write may have landed there.
 */
type Fallback<T> = (seed: boolean, unanswered: boolean) => Promise<T>;

/**
 * Wait before asking the primary again about a session the secondary does
 * not hold (while the breaker is closed): long enough for a dropped
 * connection to come back, short next to a request.
 */
export const MISS_RECHECK_DELAY_MS = 50;

function describeBreak(reason: FailureReason<unknown> | { isolated: true }): string {
  if ('isolated' in reason) return 'isolated';
  if (!('error' in reason)) return 'unexpected result';
  const error = reason.error;
  if (isSessionError(error)) return `${error.code}: ${error.message}`;
  if (isTaskCancelled(error)) return `TIMEOUT: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : 'unknown failure';
}

/**
 * A {@link SessionStore} that survives an outage of its primary (Redis):
 * every primary call runs under a cockatiel circuit breaker and timeout;
 * when the primary fails with a storage failure, or the breaker is open,
 * the call is served by the secondary (memory) instead and the caller sees
 * no error. Degraded-mode changes are journaled and written back when the
 * primary returns.
 *
 * **What degraded mode means for callers.** While degraded, sessions are
 * *instance-local*: this instance sees only the sessions it created or
 * changed while degraded. A session that lives only in the primary reads as
 * `null` (`get` misses, the app starts a new session), and `save`/`patch`
 * of it throw `SessionNotFoundError`, as for a session that does not exist;
 * `touch` returns false. No call fails because the primary is down.
 * `listByUser`, `deleteByUser` and `sweepExpired` see only the secondary (a
 * partial view). Deletes and `deleteByUser` are journaled and replayed
 * against the primary on recovery, so a logout during an outage still
 * reaches Redis.
 *
 * **Recovery** is one state machine ({@link RecoveryMachine}, state
 * {@link FallbackStore.recoveryState}: closed / open / half-open /
 * reconciling, with the phase of every breaker not closed): it alone starts
 * reconciliation. An open breaker with no traffic probes by itself after
 * twice `halfOpenAfterMs` (idle recovery), so a quiet instance, or one whose
 * reads its instance cache answers, still writes its journal back.
 * When a half-open probe succeeds (cockatiel `onReset`), the
 * journal is reconciled into the primary in batches with bounded
 * concurrency (see {@link Reconciler}): created/changed sessions are created
 * or CAS-saved; if the primary changed a session meanwhile, the primary
 * wins and a conflict is counted; deletes are replayed. While an id waits
 * for reconciliation its calls keep going to the secondary, so a read right
 * after recovery never misses a session that exists only in memory. Entries
 * are removed only once applied: an outage during reconciliation stops it
 * and the next recovery resumes. Then `recovered` fires.
 *
 * Writes served by the secondary because of a single failure (the breaker
 * still closed) are journaled too and reconciled after the next successful
 * primary call.
 *
 * **Partitions** (option `partitionOf`, Redis Cluster): each session call
 * also runs under its partition's breaker, and while the shared breaker is
 * open, a call whose partition breaker is closed is still made to the
 * primary (under the timeout and that breaker). So while one master fails
 * over, the sessions of the others keep being read and written in Redis;
 * only the failed partitions' calls go to the secondary, journaled as above.
 *
 * Versions while degraded are the secondary's; a session's version in the
 * primary after reconciliation is the primary's next version, so a holder
 * of a degraded-mode version gets `VERSION_CONFLICT` and reloads.
 *
 * @example
 * ```ts
 * const store = new FallbackStore({
 *   primary: new RedisStore({ connection: { url: 'redis://127.0.0.1:6379' } }),
 *   secondary: new MemoryStore({ maxSessions: 50_000 }),
 * });
 * store.on('degraded', ({ reason }) => health.setDegraded(true, reason));
 * store.on('breakerStateChange', (state) => health.setBreakerState(state));
 * store.on('recovered', (r) => { health.setDegraded(false); log.info(r, 'reconciled'); });
 * ```
 */
export class FallbackStore extends EventEmitter<FallbackStoreEvents> implements SessionStore {
  private readonly primary: SessionStore;
  private readonly secondary: SessionStore;
  private readonly clock: Clock;
  private readonly policy: PrimaryPolicy;
  /** One more try of a primary call whose secondary answer was a miss (see attempt). */
  private readonly missRecheck = retry(handleWhen(isStorageFailure), {
    maxAttempts: 1,
    backoff: new ConstantBackoff(MISS_RECHECK_DELAY_MS),
  });
  private readonly breaker: CircuitBreakerPolicy;
  private readonly breakerOptions: ResolvedBreakerOptions;
  private readonly partitionOf: ((id: string) => string | undefined) | undefined;
  /** One breaker per partition seen (Cluster: at most one per expiry bucket). */
  private readonly partitions = new Map<string, CircuitBreakerPolicy>();
  /** A session id last seen per partition: what an idle probe of that partition reads. */
  private readonly probeIds = new Map<string, string>();
  private readonly journal = new DegradedJournal();
  private readonly reconciler: Reconciler;
  /** Breaker phases, outage and reconciliation: the one state machine (see {@link RecoveryMachine}). */
  private readonly machine: RecoveryMachine;
  private readonly subscriptions: IDisposable[];
  private readonly channels: SessionChannels;
  /** What subscribers read for their gauges (announced in `fallback_opened`). */
  private readonly stateReader: FallbackStateReader;
  private tally: ReconcileTally = emptyTally();
  private reconcileMs = 0;
  private runs = 0;
  private closing: Promise<void> | undefined;
  /** Reconciliation stops between entries: the store is closing and its drain is over (see `drain`). */
  private stopped = false;
  private readonly closeDrainMs: number;

  /** @throws SessionValidationError `INVALID_CONFIG` naming the bad option */
  public constructor(options: FallbackStoreOptions) {
    super();
    const resolved = resolveFallbackOptions(options);
    this.primary = resolved.primary;
    this.secondary = resolved.secondary;
    this.clock = resolved.clock;
    this.policy = createPrimaryPolicy(resolved.breaker, resolved.timeoutMs);
    this.breaker = this.policy.breaker;
    this.breakerOptions = resolved.breaker;
    this.partitionOf = resolved.partitionOf;
    this.closeDrainMs = resolved.closeDrainMs;
    this.channels = sessionChannels(resolved.telemetry);
    this.stateReader = {
      degraded: () => this.degraded,
      breakerState: () => this.breakerState,
    };
    this.reconciler = new Reconciler({
      primary: this.primary,
      secondary: this.secondary,
      journal: this.journal,
      clock: this.clock,
      execute: (fn, id) => this.runPrimary(fn, this.partitionBreaker(id)),
      batchSize: resolved.batchSize,
      concurrency: resolved.concurrency,
      giveUpAfterMs: resolved.giveUpAfterMs,
      onFailed: (event) => {
        this.notify('reconcileFailed', event);
      },
      onDeferred: (event) => {
        this.publish({ type: 'reconcile_deferred', ...event });
        this.notify('reconcileDeferred', event);
      },
      onConflict: (event) => {
        this.publish({ type: 'reconcile_conflict', ...event });
        this.notify('reconcileConflict', event);
      },
      onProgress: (tally, remaining) => {
        this.publish({ type: 'reconcile_batch', tally: { ...tally }, remaining });
        this.notify('reconcileProgress', { ...tally, remaining });
      },
      stopping: () => this.stopped,
    });
    this.machine = new RecoveryMachine({
      clock: this.clock,
      idleProbeAfterMs: 2 * resolved.breaker.halfOpenAfterMs,
      outageBegan: (reason, at) => {
        this.notify('degraded', { reason, at });
      },
      reconcile: (afterOutage) => this.reconcile(afterOutage),
      recovered: () => {
        this.recovered();
      },
      pending: () => this.journal.pending,
      nextDue: () => this.journal.nextDue(),
      probe: (key) => this.probe(key),
      stopping: () => this.closing !== undefined,
    });
    this.subscriptions = [
      this.breaker.onBreak((reason) => {
        this.machine.broke(SHARED_BREAKER, describeBreak(reason), !('isolated' in reason));
      }),
      this.breaker.onHalfOpen(() => {
        this.machine.halfOpened(SHARED_BREAKER);
      }),
      this.breaker.onReset(() => {
        this.machine.reset(SHARED_BREAKER);
      }),
      this.breaker.onStateChange((state) => {
        this.publish({ type: 'breaker', state: breakerStateName(state) });
        this.notify('breakerStateChange', breakerStateName(state));
      }),
    ];
    this.publish({ type: 'fallback_opened', store: this.stateReader });
  }

  /**
   * True while the breaker, or a partition's, is not closed (some calls are
   * being served by the secondary).
   */
  public get degraded(): boolean {
    return this.breaker.state !== CircuitState.Closed || this.machine.degraded;
  }

  /**
   * Where recovery stands (closed / open / half-open / reconciling; see
   * {@link RecoveryState}), with the phase of every breaker not closed.
   */
  public get recoveryState(): RecoveryState {
    return this.machine.state;
  }

  /** The breaker's current state. */
  public get breakerState(): BreakerState {
    return breakerStateName(this.breaker.state);
  }

  /** Journal entries and revocations not yet written back to the primary. */
  public get pendingReconciliation(): number {
    return this.journal.pending;
  }

  /** True while a reconciliation run is in progress. */
  public get reconciling(): boolean {
    return this.machine.running !== undefined;
  }

  /**
   * Hold the breaker open by hand (e.g. for Redis maintenance): every call is
   * served by the secondary until the handle is disposed, which closes the
   * breaker and starts reconciliation.
   */
  public isolate(): { dispose(): void } {
    return this.breaker.isolate();
  }

  /** @inheritDoc */
  public load(id: string, options?: LoadOptions): Promise<SessionRecord | null> {
    if (this.isPending(id)) return this.servedLocally(this.loadPending(id));
    // The primary's current in-process copy (its instance cache, kept
    // coherent by Redis): no call to guard, time or retry, so the policies
    // are skipped. Only while nothing is degraded: with a breaker open the
    // session's writes go to the secondary, so its reads must come from
    // there too (seeded from this copy by loadLocally), or an update would
    // read one store and write the other. Pending ids never get here.
    const cached = this.loadCached(id, options);
    if (cached !== undefined) {
      // The hit is the operation's (`session.cache.hit`): the primary's
      // loadCached does not publish it, its load would have.
      this.publish(CACHE_HIT);
      this.routed('primary');
      return Promise.resolve(cached);
    }
    return this.attempt(
      () => this.primary.load(id, options),
      (seed) => this.loadLocally(id, seed),
      (record) => record === null,
      id,
    );
  }

  /**
   * @inheritDoc The primary's, while nothing is degraded (no breaker open,
   * nothing pending reconciliation); else `undefined`: then the secondary
   * may hold the session's truth, and only {@link load} knows.
   */
  public loadCached(id: string, options?: LoadOptions): SessionRecord | null | undefined {
    if (this.journal.size !== 0 || this.degraded) return undefined;
    return this.primary.loadCached?.(id, options);
  }

  /** @inheritDoc */
  public create(input: CreateSessionInput): Promise<SessionRecord> {
    const id = idOf(input);
    if (this.isPending(id)) return this.servedLocally(this.createLocally(input, id, false));
    return this.attempt(
      () => this.primary.create(input),
      (_seed, unanswered) => this.createLocally(input, id, unanswered),
      undefined,
      id,
    );
  }

  /** @inheritDoc */
  public save(id: string, input: SaveSessionInput, expectedVersion: number): Promise<number> {
    if (this.isPending(id)) {
      return this.servedLocally(this.saveLocally(id, input, expectedVersion, false, false));
    }
    return this.attempt(
      () => this.primary.save(id, input, expectedVersion),
      (seed, unanswered) => this.saveLocally(id, input, expectedVersion, seed, unanswered),
      NEVER_A_MISS,
      id,
    );
  }

  /** @inheritDoc */
  public patch(id: string, changes: SessionPatch, options?: PatchOptions): Promise<number> {
    if (this.isPending(id)) {
      return this.servedLocally(this.patchLocally(id, changes, options, false, false));
    }
    return this.attempt(
      () => this.primary.patch(id, changes, options),
      (seed, unanswered) => this.patchLocally(id, changes, options, seed, unanswered),
      NEVER_A_MISS,
      id,
    );
  }

  /** @inheritDoc */
  public touch(id: string, expiresAt: number): Promise<boolean> {
    if (this.isPending(id)) return this.servedLocally(this.touchLocally(id, expiresAt, false));
    return this.attempt(
      () => this.primary.touch(id, expiresAt),
      (seed) => this.touchLocally(id, expiresAt, seed),
      (touched) => !touched,
      id,
    );
  }

  /**
   * @inheritDoc
   * While degraded: deletes the secondary's copy and journals the delete
   * for the primary; returns whether the secondary had it.
   */
  public delete(id: string): Promise<boolean> {
    if (this.isPending(id)) return this.servedLocally(this.deleteLocally(id));
    return this.attempt(
      () => this.primary.delete(id),
      () => this.deleteLocally(id),
      undefined,
      id,
    );
  }

  /**
   * @inheritDoc
   * While degraded: the secondary's sessions only (a partial view). After
   * recovery, sessions still waiting for reconciliation are shown as the
   * secondary holds them.
   */
  public async listByUser(userId: string): Promise<SessionRecord[]> {
    let listed: SessionRecord[];
    try {
      listed = await this.policy.execute(() => this.primary.listByUser(userId));
    } catch (error) {
      if (!shouldFailOver(error)) throw error;
      this.failedOver(error);
      return this.secondary.listByUser(userId);
    }
    this.routed('primary');
    this.machine.primarySucceeded();
    if (this.journal.size === 0) return listed;
    const local = await this.secondary.listByUser(userId);
    const merged = listed.filter((record) => !this.journal.has(record.id));
    for (const record of local) if (this.journal.has(record.id)) merged.push(record);
    return merged.sort(byCreation);
  }

  /**
   * @inheritDoc
   * While degraded: deletes the user's sessions in the secondary (the count
   * covers only those) and journals a revocation: on recovery every primary
   * session of the user created up to now is deleted, except `except`.
   */
  public async deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number> {
    let deleted: number;
    try {
      deleted = await this.policy.execute(() => this.primary.deleteByUser(userId, options));
    } catch (error) {
      if (!shouldFailOver(error)) throw error;
      this.failedOver(error);
      return this.deleteByUserLocally(userId, options);
    }
    this.routed('primary');
    this.machine.primarySucceeded();
    if (this.journal.size === 0) return deleted;
    // Sessions waiting for reconciliation are the secondary's: delete them there too.
    return deleted + (await this.deletePendingOfUser(userId, exceptIds(options), true));
  }

  /**
   * @inheritDoc
   * The primary's ids, plus those of sessions waiting for reconciliation
   * (the secondary holds them). While degraded: the secondary's only (a
   * partial view).
   * @throws SessionValidationError `INVALID_CONFIG` when the primary cannot enumerate
   */
  public async listSessionIds(): Promise<string[]> {
    const { primary, secondary } = this;
    if (primary.listSessionIds === undefined) {
      throw new SessionValidationError('The primary store cannot list session ids', {
        code: 'INVALID_CONFIG',
        field: 'primary',
        operation: 'listSessionIds',
      });
    }
    const listPrimary = primary.listSessionIds.bind(primary);
    const local = async (): Promise<string[]> => (await secondary.listSessionIds?.()) ?? [];
    let listed: string[];
    try {
      listed = await this.policy.execute(listPrimary);
    } catch (error) {
      if (!shouldFailOver(error)) throw error;
      this.failedOver(error);
      return local();
    }
    this.routed('primary');
    this.machine.primarySucceeded();
    if (this.journal.size === 0) return listed;
    const ids = new Set(listed.filter((id) => !this.journal.has(id)));
    for (const id of await local()) if (this.journal.has(id)) ids.add(id);
    return [...ids];
  }

  /** @inheritDoc While degraded: sweeps the secondary only. */
  public sweepExpired(now: number, limit: number): Promise<SweepResult> {
    return this.attempt(
      () => this.primary.sweepExpired(now, limit),
      () => this.secondary.sweepExpired(now, limit),
    );
  }

  /** @inheritDoc While degraded: the secondary's latency (the caller is being served). */
  public ping(): Promise<number> {
    return this.attempt(
      () => this.primary.ping(),
      () => this.secondary.ping(),
    );
  }

  /**
   * Stop recovering by itself, give the journal a last chance to reach the
   * primary, then close both stores. Idempotent.
   *
   * For at most `reconcile.closeDrainMs` (plus one primary call's
   * `timeoutMs`): a run in progress goes on; a breaker still open is
   * probed as soon as it lets a call through (up to `halfOpenAfterMs`: Redis
   * may be back with no call having found out); then, unless a breaker is
   * still open, one final pass tries every entry left, write-backs refused
   * for now included. Whatever is still journaled after that lived only in this
   * process and is lost with it: reported by `writeBacksLost` (and
   * `write_backs_lost` on core's `SESSION_CHANNELS`).
   */
  public close(): Promise<void> {
    this.closing ??= (async () => {
      this.machine.dispose();
      await this.drain();
      for (const subscription of this.subscriptions) subscription.dispose();
      this.publish({ type: 'fallback_closed', store: this.stateReader });
      await Promise.all([this.primary.close(), this.secondary.close()]);
    })();
    return this.closing;
  }

  /** `close()`'s last write-back (see there), then the report of what it left. */
  private async drain(): Promise<void> {
    // Set by the deadline's callback: `as boolean`, or the checks below would see `false` only.
    let timedOut = false as boolean;
    let outcome: RunOutcome | undefined;
    this.stopped = this.closeDrainMs === 0;
    const deadline = setTimeout(() => {
      timedOut = true;
      this.stopped = true;
    }, this.closeDrainMs);
    try {
      await this.machine.running;
      if (!this.stopped && this.journal.pending !== 0 && this.machine.degraded) {
        await this.probeBeforeClose();
      }
      if (!this.stopped && this.journal.pending !== 0 && !this.machine.degraded) {
        outcome = await this.reconcile(false, true);
        if (outcome === 'drained') this.recovered();
      }
    } finally {
      clearTimeout(deadline);
      this.stopped = true;
    }
    const entries = this.journal.size;
    const revocations = this.journal.pending - entries;
    if (entries + revocations === 0) return;
    const reason: WriteBacksLostReason =
      this.closeDrainMs === 0
        ? 'no-drain'
        : timedOut
          ? 'timeout'
          : this.machine.degraded || outcome === 'interrupted'
            ? 'degraded'
            : 'refused';
    this.publish({ type: 'write_backs_lost', entries, revocations, reason });
    this.notify('writeBacksLost', { entries, revocations, reason });
  }

  /**
   * A breaker still open at close: Redis may be back without any call
   * having found out (the idle probe is off once closing), and the journal
   * would be dropped for nothing. Each breaker is probed as soon as it lets
   * a call through, for up to `halfOpenAfterMs` (within the drain's budget),
   * so the final pass can still run. A probe that fails opens its breaker
   * again for longer than is waited here: the journal is then reported lost
   * (`degraded`). A breaker held open by hand (`isolate()`) is not probed.
   */
  private async probeBeforeClose(): Promise<void> {
    if (this.breaker.state === CircuitState.Isolated) return;
    const until = performance.now() + this.breakerOptions.halfOpenAfterMs + CLOSE_PROBE_STEP_MS;
    const machine = this.machine;
    for (;;) {
      // A probe that gets through and succeeds closes its breaker (see probe()).
      for (const key of [...machine.openBreakers.keys()]) await this.probe(key);
      if (this.stopped || !machine.degraded || performance.now() >= until) return;
      await delay(CLOSE_PROBE_STEP_MS);
    }
  }

  private isPending(id: unknown): boolean {
    return this.journal.size !== 0 && this.journal.has(id as string);
  }

  /**
   * Run `work` on the primary under the policy; on a storage failure or an
   * open breaker, run `fallback` (the secondary) instead. Other errors reach
   * the caller.
   *
   * With `isMiss` (calls on one existing session): while the breaker is
   * closed only this call failed, and the session most likely lives in the
   * primary. When the secondary has no copy either (`isMiss`, or it throws
   * `SESSION_NOT_FOUND`), the primary is asked once more after
   * {@link MISS_RECHECK_DELAY_MS} before "no such session" is the answer:
   * that answer ends a live session (the middleware clears the visitor's
   * cookie), so one slow or dropped call must not give it. With the breaker
   * open, a miss is the documented degraded answer at once.
   */
  private async attempt<T>(
    work: () => Promise<T>,
    fallback: Fallback<T>,
    isMiss?: (result: T) => boolean,
    id?: unknown,
  ): Promise<T> {
    const partition = this.partitionBreaker(id);
    let result: T;
    try {
      result = await this.runPrimary(work, partition);
    } catch (first) {
      if (!shouldFailOver(first)) throw first;
      let error = first;
      if (partition !== undefined && this.sharedBreakerTripped(first)) {
        // The shared breaker opened on failures of some partitions; this
        // one's breaker decides for its own sessions.
        try {
          result = await partition.execute(() => this.policy.deadline.execute(work));
          this.routed('primary');
          return result;
        } catch (second) {
          if (!shouldFailOver(second)) throw second;
          error = second;
        }
      }
      this.failedOver(error);
      // Refused by an open breaker, or this failure (a probe's) just opened it.
      if (isMiss === undefined || isBrokenCircuitError(error) || this.breakerOpen(partition)) {
        return fallback(true, !isBrokenCircuitError(error));
      }
      return this.servedUnlessMissed(
        error as Error,
        () => this.runPrimary(work, partition),
        fallback,
        isMiss,
      );
    }
    this.routed('primary');
    this.machine.primarySucceeded();
    return result;
  }

  /**
   * A primary call under the shared breaker, then (with partitions) its
   * partition's breaker, then the timeout: both breakers see the timeout.
   */
  private runPrimary<T>(
    work: () => Promise<T>,
    partition: CircuitBreakerPolicy | undefined,
  ): Promise<T> {
    if (partition === undefined) return this.policy.execute(work);
    return this.breaker.execute(() => partition.execute(() => this.policy.deadline.execute(work)));
  }

  /** True when `error` is the shared breaker refusing a call because it is open (not isolated). */
  private sharedBreakerTripped(error: unknown): boolean {
    const state = this.breaker.state;
    return (
      isBrokenCircuitError(error) &&
      (state === CircuitState.Open || state === CircuitState.HalfOpen)
    );
  }

  /** The breaker of `id`'s partition (created on first use); `undefined` without partitions. */
  private partitionBreaker(id: unknown): CircuitBreakerPolicy | undefined {
    if (this.partitionOf === undefined || typeof id !== 'string') return undefined;
    const key = this.partitionOf(id);
    if (key === undefined) return undefined;
    this.probeIds.set(key, id);
    let breaker = this.partitions.get(key);
    if (breaker === undefined) {
      breaker = createStorageBreaker(this.breakerOptions);
      const created = breaker;
      const machineKey = partitionBreakerKey(key);
      this.subscriptions.push(
        created.onBreak((reason) => {
          this.machine.broke(
            machineKey,
            `partition ${key}: ${describeBreak(reason)}`,
            !('isolated' in reason),
          );
        }),
        created.onHalfOpen(() => {
          this.machine.halfOpened(machineKey);
        }),
        created.onReset(() => {
          this.machine.reset(machineKey);
        }),
      );
      this.partitions.set(key, created);
    }
    return breaker;
  }

  /**
   * An idle probe (see {@link RecoveryMachine}): one primary call through
   * the breaker `key`. The shared breaker pings; a partition's reads a
   * session id seen in it (a ping may reach another Cluster node). A
   * success reports itself (reset, or a primary success); a failure opens
   * the breaker again. Never rejects.
   */
  private async probe(key: string): Promise<void> {
    try {
      if (key === SHARED_BREAKER) {
        await this.policy.execute(() => this.primary.ping());
        this.machine.primarySucceeded();
        return;
      }
      for (const [partition, breaker] of this.partitions) {
        if (partitionBreakerKey(partition) !== key) continue;
        const id = this.probeIds.get(partition);
        if (id === undefined) return;
        await breaker.execute(() => this.policy.deadline.execute(() => this.primary.load(id)));
        this.machine.primarySucceeded();
        return;
      }
    } catch {
      // The breaker counted it (or refused the call): the machine re-arms.
    }
  }

  private breakerOpen(partition?: CircuitBreakerPolicy): boolean {
    return (
      this.breaker.state !== CircuitState.Closed ||
      (partition !== undefined && partition.state !== CircuitState.Closed)
    );
  }

  private async servedUnlessMissed<T>(
    failure: Error,
    primary: () => Promise<T>,
    fallback: Fallback<T>,
    isMiss: (result: T) => boolean,
  ): Promise<T> {
    let served: { readonly value: T } | { readonly error: unknown };
    try {
      // Not from the instance cache's copy yet: one failure with the breaker
      // closed is not an outage, and the primary is asked again below.
      served = { value: await fallback(false, true) };
    } catch (error) {
      if (!isSessionError(error) || error.code !== 'SESSION_NOT_FOUND') throw error;
      served = { error };
    }
    if ('value' in served && !isMiss(served.value)) return served.value;
    try {
      // The failure that already happened is the policy's first attempt.
      const value = await this.missRecheck.execute(replayFirst(failure, primary));
      this.routed('primary');
      this.machine.primarySucceeded();
      return value;
    } catch (error) {
      if (!shouldFailOver(error)) throw error;
      // Failed twice: most likely an outage whose breaker has not opened
      // yet. Ask the secondary again, now seeding it from the instance
      // cache's copy (possibly stale, which beats an empty session). The
      // first answer was a miss, so nothing was applied: the retry is safe,
      // and without a cached copy it answers the same miss.
      return fallback(true, true);
    }
  }

  /**
   * A call the secondary serves instead of the primary: refused by the open
   * breaker (route `secondary`), or failed in the primary (`primary_failed_over`).
   */
  private failedOver(error: unknown): void {
    if (!this.channels.event.hasSubscribers) return;
    if (isBrokenCircuitError(error)) this.routed('secondary');
    else this.routed('primary_failed_over', failureCode(error));
  }

  /** Publish how a call was routed (`failure`: the primary's error code when it failed mid-call). */
  private routed(route: FallbackRoute, failure?: string): void {
    const channel = this.channels.event;
    if (channel.hasSubscribers) channel.publish({ type: 'route', route, failure });
  }

  /** Publish a {@link SessionEvent} while anyone listens. */
  private publish(event: SessionEvent): void {
    const channel = this.channels.event;
    if (channel.hasSubscribers) channel.publish(event);
  }

  /** A call for a session still waiting for reconciliation: memory has its truth. */
  private servedLocally<T>(served: Promise<T>): Promise<T> {
    this.routed('secondary');
    return served;
  }

  private async loadPending(id: string): Promise<SessionRecord | null> {
    const record = await this.secondary.load(id);
    // Reconciled while the read was in flight: the primary has it now.
    if (record === null && !this.journal.has(id)) return this.load(id);
    return record;
  }

  /** @param unanswered the primary was asked first: its create may have landed */
  private async createLocally(
    input: CreateSessionInput,
    id: unknown,
    unanswered: boolean,
  ): Promise<SessionRecord> {
    if (!isValidSessionId(id)) return this.secondary.create(input);
    const created = await this.journaled(id, () => this.secondary.create(input), alwaysApplied);
    if (unanswered) this.journal.noteUnanswered(id, created);
    return created;
  }

  /**
   * The secondary's copy; without one, the primary's instance cache's copy
   * (seeded into the secondary, see {@link seedFromCache}).
   */
  private async loadLocally(id: string, seed: boolean): Promise<SessionRecord | null> {
    const record = await this.secondary.load(id);
    if (record !== null || !seed || (await this.seedFromCache(id)) === undefined) return record;
    return this.secondary.load(id);
  }

  /**
   * Carry a session the primary holds through the outage: when the
   * secondary has no copy of `id` and nothing is journaled for it, but the
   * primary's instance cache holds one (`peekCached`, possibly set aside
   * when the connection went down), put that copy in the secondary and
   * journal it at its version, so the visitor keeps their data and later
   * writes are merged per key on recovery. Sessions the instance never held
   * read as missing, as before.
   * @returns the copy seeded now, if any
   */
  private async seedFromCache(id: string): Promise<SessionRecord | undefined> {
    if (this.journal.has(id) || !isValidSessionId(id)) return undefined;
    const cached = this.primary.peekCached?.(id);
    return cached !== undefined && (await this.seed(id, cached)) ? cached : undefined;
  }

  /** Put `cached` (the primary's copy of `id`) in the secondary and journal it at its version. */
  private async seed(id: string, cached: SessionRecord): Promise<boolean> {
    if (cached.expiresAt <= this.clock.now()) return false;
    // Journaled first (synchronously): a concurrent call for the id now goes
    // to the secondary, and the create below takes effect when made.
    if (!this.journal.seed(id, cached)) return false;
    try {
      await this.secondary.create({
        id,
        userId: cached.userId,
        data: copySessionData(cached.data),
        expiresAt: cached.expiresAt,
      });
    } catch (error) {
      // Already there (a seed racing another write): that copy stands.
      if (!isSessionError(error) || error.code !== 'SESSION_ALREADY_EXISTS') throw error;
    }
    this.noteBacklog();
    return true;
  }

  private async saveLocally(
    id: string,
    input: SaveSessionInput,
    expectedVersion: number,
    seed: boolean,
    unanswered: boolean,
  ) {
    if (!isValidSessionId(id)) return this.secondary.save(id, input, expectedVersion);
    const seeded = seed ? await this.seedFromCache(id) : undefined;
    if (seeded !== undefined && unanswered) {
      const { data, expiresAt, userId = seeded.userId } = input;
      this.noteUnanswered(seeded, { data, expiresAt, userId });
    }
    const version = await this.journaled(
      id,
      () => this.secondary.save(id, input, expectedVersion),
      alwaysApplied,
    );
    // A save that expires the session retires its id (what regenerate does
    // to the old id at login): in the primary that is a delete, or the old
    // id would live on there after recovery.
    if (input.expiresAt <= this.clock.now()) {
      this.journal.markDelete(id);
      this.noteBacklog();
    }
    return version;
  }

  private async patchLocally(
    id: string,
    changes: SessionPatch,
    options: PatchOptions | undefined,
    seed: boolean,
    unanswered: boolean,
  ) {
    if (!isValidSessionId(id)) return this.secondary.patch(id, changes, options);
    const seeded = seed ? await this.seedFromCache(id) : undefined;
    if (seeded !== undefined && unanswered) {
      const { expiresAt = seeded.expiresAt } = options ?? {};
      this.noteUnanswered(seeded, { data: patchedData(seeded.data, changes), expiresAt });
    }
    return this.journaled(id, () => this.secondary.patch(id, changes, options), alwaysApplied);
  }

  /**
   * The write just failed over was asked of the primary, which gave no
   * answer: it may have landed there, on the copy `seeded` from (the one
   * the caller read). What the primary then holds is that copy with the
   * write's `result`, remembered for the write-back (see
   * `DegradedJournal.noteUnanswered`). Noted before the secondary's write,
   * which may refuse the primary's `expectedVersion` (its copy counts
   * versions from 1): the caller's retry then comes through the pending path.
   */
  private noteUnanswered(
    seeded: SessionRecord,
    result: Pick<SessionRecord, 'data' | 'expiresAt'> & { readonly userId?: string | undefined },
  ): void {
    this.journal.noteUnanswered(seeded.id, {
      ...seeded,
      ...result,
      version: seeded.version + 1,
    });
  }

  private async touchLocally(id: string, expiresAt: number, seed: boolean): Promise<boolean> {
    if (!isValidSessionId(id)) return this.secondary.touch(id, expiresAt);
    if (seed) await this.seedFromCache(id);
    return this.journaled(
      id,
      () => this.secondary.touch(id, expiresAt),
      (touched) => touched,
    );
  }

  private deleteLocally(id: string): Promise<boolean> {
    if (!isValidSessionId(id)) return this.secondary.delete(id);
    // Journaled whatever the secondary says: the primary may hold the session.
    this.journal.markDelete(id);
    this.noteBacklog();
    return this.secondary.delete(id);
  }

  private async deleteByUserLocally(
    userId: string,
    options: DeleteByUserOptions | undefined,
  ): Promise<number> {
    assertValidUserId(userId, 'deleteByUser');
    const except = exceptIds(options);
    this.journal.addRevocation({ userId, at: this.clock.now(), except });
    this.noteBacklog();
    return this.deletePendingOfUser(userId, except, false);
  }

  /**
   * Delete the user's sessions the secondary holds (journaling each delete).
   * @param memoryOnly count only sessions the primary never had (the primary
   *   already counted the others)
   */
  private async deletePendingOfUser(
    userId: string,
    except: ReadonlySet<string>,
    memoryOnly: boolean,
  ): Promise<number> {
    let deleted = 0;
    for (const record of await this.secondary.listByUser(userId)) {
      if (except.has(record.id)) continue;
      const neverInPrimary = this.journal.get(record.id)?.base === 0;
      this.journal.markDelete(record.id);
      if ((await this.secondary.delete(record.id)) && (!memoryOnly || neverInPrimary)) {
        deleted += 1;
      }
    }
    if (deleted > 0) this.noteBacklog();
    return deleted;
  }

  /**
   * A degraded write: journal the id before the secondary write and again
   * after it (see {@link DegradedJournal}); a write that changed nothing
   * leaves no entry of its own behind.
   */
  private async journaled<T>(
    id: string,
    write: () => Promise<T>,
    applied: (result: T) => boolean,
  ): Promise<T> {
    const ticket = this.journal.beginWrite(id);
    let result: T;
    try {
      result = await write();
    } catch (error) {
      this.journal.endWrite(ticket, false);
      throw error;
    }
    const changed = applied(result);
    this.journal.endWrite(ticket, changed);
    if (changed) {
      // Which keys this write changed, and when: a conflict on recovery
      // goes to the later writer of the key.
      const after = await this.secondary.load(id);
      if (after !== null) this.journal.noteData(id, ticket.entry, after.data, this.clock.now());
      this.noteBacklog();
    }
    return result;
  }

  /** The journal gained work: make sure some run will pick it up. */
  private noteBacklog(): void {
    this.machine.backlog();
  }

  /**
   * One reconciliation run (started by the machine only). Never rejects.
   * @param afterOutage a breaker had opened: also write back what the
   *   instance cache held when Redis went away (not after a single failure)
   * @param final `close()`'s last pass (see `Reconciler.run`)
   */
  private async reconcile(afterOutage: boolean, final = false): Promise<RunOutcome> {
    const started = performance.now();
    if (afterOutage) await this.seedRetained();
    let outcome;
    try {
      const tally = this.tally;
      const channel = this.channels.reconcile;
      outcome = channel.hasSubscribers
        ? await channel.tracePromise(() => this.reconciler.run(tally, final), {
            entries: this.journal.pending,
            before: { ...tally },
            tally,
          })
        : await this.reconciler.run(tally, final);
    } catch (error) {
      // A bug, not an outage: report it and keep the journal for the next run.
      this.notify('reconcileFailed', { sessionIdHash: undefined, error: toSessionError(error) });
      outcome = 'interrupted' as const;
    }
    this.reconcileMs += performance.now() - started;
    this.runs += 1;
    return outcome;
  }

  /**
   * The sessions the instance cache held when its connection went down
   * (`takeRetained`): journal each not journaled yet, so the run writes back
   * whole any the primary lost (Redis restarted empty) and leaves the others
   * as they are (an empty merge changes nothing).
   */
  private async seedRetained(): Promise<void> {
    const retained = this.primary.takeRetained?.() ?? [];
    for (const record of retained) {
      try {
        if (isValidSessionId(record.id)) await this.seed(record.id, record);
      } catch {
        // The secondary refused it (full): that session is not carried over.
      }
    }
  }

  /** The machine says the outage is over and the journal drained: report it. */
  private recovered(): void {
    const event: RecoveredEvent = {
      ...this.tally,
      durationMs: this.reconcileMs,
      runs: this.runs,
    };
    this.tally = emptyTally();
    this.reconcileMs = 0;
    this.runs = 0;
    this.notify('recovered', event);
  }

  /**
   * Emit without letting a throwing listener break the caller (some events
   * fire inside cockatiel's state transitions).
   */
  private notify<K extends keyof FallbackStoreEvents>(
    event: K,
    ...args: FallbackStoreEvents[K]
  ): void {
    try {
      (this.emit as (event: K, ...args: FallbackStoreEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      process.emitWarning(
        error instanceof Error ? error : String(error),
        'FallbackStoreListenerWarning',
      );
    }
  }
}
