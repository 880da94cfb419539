import type { SessionError } from '@session-cluster/core';
import type { BreakerState } from './primary-policy.js';

/** Payload of the `degraded` event: the breaker opened (once per outage). */
export interface DegradedEvent {
  /** Why, log-safe: the failure that opened the breaker (`STORAGE_UNAVAILABLE: …`, `TIMEOUT: …`) or `isolated`. */
  readonly reason: string;
  /** Clock time the breaker opened, epoch ms. */
  readonly at: number;
}

/** What reconciliation has done so far. */
export interface ReconcileCounts {
  /** Sessions created, saved (CAS) or merged per key in the primary. */
  readonly written: number;
  /**
   * Sessions the primary had lost (Redis restarted empty) written back whole
   * from this instance's copy.
   */
  readonly restored: number;
  /**
   * Conflicts: per key changed on both sides of a per-key merge (resolved
   * last-writer-wins), or per session when whole records are written back
   * (the primary's version kept) or the primary deleted the session.
   */
  readonly conflicts: number;
  /** Sessions deleted in the primary (replayed deletes and revocations). */
  readonly deleted: number;
  /** Sessions that expired before they could be written back. */
  readonly skipped: number;
  /** Sessions that could not be written back for a reason other than an outage (see `reconcileFailed`). */
  readonly failed: number;
}

/**
 * Payload of the `recovered` event: the journal is empty, the primary is
 * the truth again. Counts and duration add up every run since the last
 * `recovered` (a run interrupted by another outage is resumed, not restarted).
 */
export interface RecoveredEvent extends ReconcileCounts {
  /** Time spent reconciling, ms (summed over runs). */
  readonly durationMs: number;
  /** Reconciliation runs it took (more than 1 when an outage interrupted one). */
  readonly runs: number;
}

/** Payload of the `reconcileProgress` event, after each batch. */
export interface ReconcileProgressEvent extends ReconcileCounts {
  /** Journal entries and revocations still to do. */
  readonly remaining: number;
}

/** Payload of the `reconcileFailed` event: one session given up on. */
export interface ReconcileFailedEvent {
  /** `hashSessionId` of the session, or `undefined` for a revocation (user-wide delete). */
  readonly sessionIdHash: string | undefined;
  /**
   * Why (never a storage outage: those interrupt the run and are retried on
   * the next recovery; a refusal waiting may lift only after `giveUpAfterMs`).
   */
  readonly error: SessionError;
}

/**
 * Payload of the `reconcileDeferred` event: the primary refused a session's
 * write-back (or a revocation's replay) for a reason waiting may lift
 * (`NOPERM` while an ACL changes, an `ERR` Redis gives while up). It stays
 * journaled, served by the secondary, and is tried again at `dueAt`; if still
 * refused at `giveUpAt`, it is let go with `reconcileFailed`.
 */
export interface ReconcileDeferredEvent {
  /** `hashSessionId` of the session, or `undefined` for a revocation. */
  readonly sessionIdHash: string | undefined;
  /** The refusal. */
  readonly error: SessionError;
  /** Refusals so far. */
  readonly tries: number;
  /** Clock time of the next try, epoch ms. */
  readonly dueAt: number;
  /** Clock time after which a refusal lets it go, epoch ms. */
  readonly giveUpAt: number;
}

/**
 * Payload of the `writeBacksLost` event: `close()` ended with degraded-mode
 * writes not written back to the primary. They lived only in this process
 * (the journal and the secondary are in memory) and are gone with it.
 */
export interface WriteBacksLostEvent {
  /** Sessions whose last degraded write (or delete) never reached the primary. */
  readonly entries: number;
  /** User-wide revocations (`deleteByUser`) never replayed on the primary. */
  readonly revocations: number;
  /**
   * Why: `degraded` (a breaker was still open: the primary was down),
   * `timeout` (`reconcile.closeDrainMs` ran out first), `refused` (the last
   * pass met refusals, see `reconcileDeferred`), `no-drain` (`closeDrainMs` 0).
   */
  readonly reason: WriteBacksLostReason;
}

/** Why {@link WriteBacksLostEvent}: see there. */
export type WriteBacksLostReason = 'degraded' | 'timeout' | 'refused' | 'no-drain';

/** Payload of the `reconcileConflict` event: one session changed on both sides. */
export interface ReconcileConflictEvent {
  /** `hashSessionId` of the session. */
  readonly sessionIdHash: string;
  /**
   * Top-level keys changed on both sides, each resolved last-writer-wins by
   * write time (or set to the same value on both: kept, though two
   * increments of a counter from one copy lost one); and keys whose value in the primary is the one this
   * instance's unanswered write sent, when another writer may have sent the
   * same value (the primary moved on by more than that write): this
   * instance's later change was applied over it. Empty for a whole-record write-back (a session created while
   * degraded under an id the primary holds, or a primary without per-key
   * merge): the primary's session was kept as it is.
   */
  readonly keys: readonly string[];
  /** The primary had deleted (or regenerated) the session meanwhile: it stays deleted, the changes are dropped. */
  readonly deleted: boolean;
}

/**
 * Events of {@link FallbackStore}. Listeners run synchronously and must not
 * throw (an exception is turned into a process warning).
 */
export interface FallbackStoreEvents {
  /** The breaker opened: calls are served by the secondary. Once per outage. */
  degraded: [DegradedEvent];
  /** Every breaker transition (feed it to the health monitor). */
  breakerStateChange: [BreakerState];
  /** Reconciliation drained the journal. */
  recovered: [RecoveredEvent];
  /** A reconciliation batch finished. */
  reconcileProgress: [ReconcileProgressEvent];
  /** A session could not be written back (corrupted in memory, rejected by the primary). */
  reconcileFailed: [ReconcileFailedEvent];
  /** A session's write-back was refused for now: kept, tried again later. */
  reconcileDeferred: [ReconcileDeferredEvent];
  /** A session was changed on both sides while degraded (see {@link ReconcileConflictEvent}). */
  reconcileConflict: [ReconcileConflictEvent];
  /** `close()` left degraded-mode writes unwritten: they are lost (see {@link WriteBacksLostEvent}). */
  writeBacksLost: [WriteBacksLostEvent];
}
