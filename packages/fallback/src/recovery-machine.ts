import type { Clock } from '@session-cluster/core';
import type { ReconcileOutcome } from './reconciler.js';

/** The shared breaker's key in {@link RecoveryMachine} (partition keys are prefixed, so never equal it). */
export const SHARED_BREAKER = 'shared';

/** The key of a partition's breaker in {@link RecoveryMachine}. */
export function partitionBreakerKey(partition: string): string {
  return `partition:${partition}`;
}

/**
 * Where a {@link FallbackStore} stands between the primary failing and the
 * journal being written back, as one discriminated union (in the style of
 * cockatiel's `CircuitBreakerPolicy` inner state):
 *
 * - `closed`: every breaker closed, no run in progress. `backlog`: the
 *   journal holds writes no run will pick up by itself (a single failure
 *   served by the secondary while the breaker stayed closed): a run starts
 *   after the next primary success, or the idle probe. Write-backs the
 *   primary refused for now are no backlog: a timer starts a run when the
 *   first is due.
 * - `open`: at least one breaker (shared, or a partition's) is open; calls
 *   for it go to the secondary. `since`/`reason`: when and why the outage began.
 * - `half-open`: no breaker open, at least one probing the primary.
 * - `reconciling`: every breaker closed; a run writes the journal back.
 *   `rerun`: something arrived that the run in progress may have missed
 *   (a breaker closed again while it was winding down): run once more.
 *   `afterOutage`: a breaker had opened (not a single failed call), so the
 *   run also writes back what the instance cache held when Redis went away.
 *
 * Per breaker (`breakers`, the shared one and each partition's on Cluster),
 * only the ones not closed are kept, with their own phase.
 */
export type RecoveryState =
  | { readonly kind: 'closed'; readonly backlog: boolean }
  | { readonly kind: 'open'; readonly since: number; readonly reason: string }
  | { readonly kind: 'half-open'; readonly since: number; readonly reason: string }
  | { readonly kind: 'reconciling'; readonly rerun: boolean; readonly afterOutage: boolean };

/** A breaker's phase as the machine tracks it (closed breakers are not tracked). */
export type BreakerPhase = 'open' | 'half-open';

/** How a reconciliation run ended (see `Reconciler.run`). */
export type RunOutcome = ReconcileOutcome;

/** What a {@link RecoveryMachine} drives. */
export interface RecoveryMachineDeps {
  readonly clock: Clock;
  /** An open breaker with no traffic probes on its own after this long, ms. */
  readonly idleProbeAfterMs: number;
  /** The first breaker of an outage opened. */
  readonly outageBegan: (reason: string, at: number) => void;
  /**
   * Run reconciliation once; resolves with how it ended. Never rejects.
   * `afterOutage`: see {@link RecoveryState} `reconciling`.
   */
  readonly reconcile: (afterOutage: boolean) => Promise<RunOutcome>;
  /** The journal is drained and every breaker closed: the outage is over. */
  readonly recovered: () => void;
  /** Journal entries and revocations left. */
  readonly pending: () => number;
  /** When the first write-back the primary refused for now is due again (clock time), if any. */
  readonly nextDue: () => number | undefined;
  /**
   * Make one primary call through the breaker `key` (an idle probe): its
   * success resets the breaker (which reports here), its failure opens it
   * again. Never rejects.
   */
  readonly probe: (key: string) => Promise<void>;
  /** True once the store is closing: nothing starts any more. */
  readonly stopping: () => boolean;
}

/**
 * The one place that decides when reconciliation starts: the store feeds it
 * breaker transitions, new journal work and primary successes; it keeps the
 * {@link RecoveryState} and starts, repeats or defers runs.
 *
 * **Idle recovery.** cockatiel half-opens a breaker only when a call arrives.
 * An instance with no traffic (or whose reads the instance cache answers)
 * would keep an open breaker, and its journal in memory, forever. So every
 * open breaker, and a `closed` state with a backlog, arms a timer
 * (`idleProbeAfterMs`, unref'd): when it fires and nothing has moved the
 * breaker on, the machine makes one probe call itself. The timer is re-armed
 * on each opening and cleared on every other transition, so traffic that
 * probes by itself is never raced by it; with fake timers it fires only when
 * a test advances the clock past it.
 */
export class RecoveryMachine {
  private current: RecoveryState = { kind: 'closed', backlog: false };
  private readonly breakers = new Map<string, BreakerPhase>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Starts a run when a write-back refused for now is due (see `ended`, `deferred`). */
  private dueTimer: ReturnType<typeof setTimeout> | undefined;
  private run: Promise<void> | undefined;

  public constructor(private readonly deps: RecoveryMachineDeps) {}

  /** The current state. */
  public get state(): RecoveryState {
    return this.current;
  }

  /** The phase of every breaker that is not closed, by key. */
  public get openBreakers(): ReadonlyMap<string, BreakerPhase> {
    return this.breakers;
  }

  /** True while some breaker is not closed. */
  public get degraded(): boolean {
    return this.breakers.size !== 0;
  }

  /** The run in progress, for `close()` to wait on. */
  public get running(): Promise<void> | undefined {
    return this.run;
  }

  /** A JSON view (health details, logs). */
  public toJSON(): RecoveryState & { readonly breakers: Record<string, BreakerPhase> } {
    return { ...this.current, breakers: Object.fromEntries(this.breakers) };
  }

  /**
   * Breaker `key` opened (its failure threshold, a failed probe, or isolation).
   * @param probe arm the idle probe (not for a breaker isolated by hand, which refuses every call)
   */
  public broke(key: string, reason: string, probe = true): void {
    this.breakers.set(key, 'open');
    if (probe) this.arm(key);
    else this.disarm(key);
    const state = this.current;
    if (state.kind === 'open') return;
    const at = this.deps.clock.now();
    if (state.kind === 'half-open') {
      this.current = { kind: 'open', since: state.since, reason: state.reason };
      return;
    }
    // From closed or reconciling: a new outage (a run in progress is
    // interrupted by its own failures and ends by itself).
    this.current = { kind: 'open', since: at, reason };
    this.deps.outageBegan(reason, at);
  }

  /** Breaker `key` let one call through to probe the primary. */
  public halfOpened(key: string): void {
    this.disarm(key);
    this.breakers.set(key, 'half-open');
    const state = this.current;
    if (state.kind === 'open' && ![...this.breakers.values()].includes('open')) {
      this.current = { kind: 'half-open', since: state.since, reason: state.reason };
    }
  }

  /** Breaker `key` closed. Once none is left open, the journal is written back. */
  public reset(key: string): void {
    this.disarm(key);
    this.breakers.delete(key);
    if (this.breakers.size !== 0) {
      const state = this.current;
      if (state.kind === 'open' && ![...this.breakers.values()].includes('open')) {
        this.current = { kind: 'half-open', since: state.since, reason: state.reason };
      }
      return;
    }
    this.startRun(true);
  }

  /** The journal gained work: make sure some run will pick it up. */
  public backlog(): void {
    const state = this.current;
    // Open or half-open: the reset starts the run; reconciling: the run loops
    // until the journal is empty.
    if (state.kind !== 'closed' || state.backlog) return;
    this.current = { kind: 'closed', backlog: true };
    this.arm(SHARED_BREAKER);
  }

  /** A primary call succeeded (breakers closed or not). */
  public primarySucceeded(): void {
    const state = this.current;
    if (state.kind !== 'closed' || !state.backlog) return;
    if (this.deps.pending() === 0) {
      this.disarm(SHARED_BREAKER);
      this.current = { kind: 'closed', backlog: false };
      return;
    }
    this.startRun(false);
  }

  /** Stop every timer (the store is closing). */
  public dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    clearTimeout(this.dueTimer);
  }

  private startRun(afterOutage: boolean): void {
    if (this.deps.stopping()) return;
    this.disarm(SHARED_BREAKER);
    if (this.run !== undefined) {
      // A run is winding down (begun before the last outage): once more after it.
      this.current = { kind: 'reconciling', rerun: true, afterOutage };
      return;
    }
    this.current = { kind: 'reconciling', rerun: false, afterOutage };
    this.run = this.deps.reconcile(afterOutage).then((outcome) => {
      this.run = undefined;
      this.ended(outcome);
    });
  }

  private ended(outcome: RunOutcome): void {
    const state = this.current;
    // An outage began meanwhile: its breakers' resets start the next run.
    if (state.kind !== 'reconciling') return;
    if (state.rerun) {
      this.startRun(state.afterOutage);
      return;
    }
    switch (outcome) {
      case 'drained':
        this.current = { kind: 'closed', backlog: false };
        this.deps.recovered();
        return;
      case 'interrupted':
        // A failure that did not open a breaker: after the next success.
        this.current = { kind: 'closed', backlog: false };
        this.backlog();
        return;
      case 'deferred':
        // Only write-backs the primary refused for now are left: not a
        // backlog (a run per primary success would find nothing due), but a
        // run when the first is due. New journal work still sets a backlog.
        this.current = { kind: 'closed', backlog: false };
        this.armDue();
        return;
      case 'stopped':
        this.current = { kind: 'closed', backlog: false };
        return;
    }
  }

  /** Start a run when the first write-back refused for now is due. */
  private armDue(): void {
    clearTimeout(this.dueTimer);
    const dueAt = this.deps.nextDue();
    if (dueAt === undefined || this.deps.stopping()) return;
    this.dueTimer = setTimeout(
      () => {
        this.dueTimer = undefined;
        const state = this.current;
        // Open or half-open: the last reset starts a run; reconciling: once more after it.
        if (state.kind === 'closed') this.startRun(false);
        else if (state.kind === 'reconciling') this.current = { ...state, rerun: true };
      },
      Math.max(0, dueAt - this.deps.clock.now()),
    );
    this.dueTimer.unref();
  }

  private arm(key: string): void {
    this.disarm(key);
    if (this.deps.stopping()) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.idle(key);
    }, this.deps.idleProbeAfterMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  private disarm(key: string): void {
    const timer = this.timers.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(key);
  }

  /** The idle timer of `key` fired with nothing having moved it on: probe. */
  private idle(key: string): void {
    if (this.deps.stopping()) return;
    const phase = this.breakers.get(key);
    const backlogged =
      key === SHARED_BREAKER && this.current.kind === 'closed' && this.current.backlog;
    if (phase !== 'open' && !backlogged) return;
    void this.deps.probe(key).then(() => {
      // Still stuck after the probe (e.g. a half-open probe that timed out
      // without a verdict): try again later.
      const after = this.breakers.get(key);
      const still =
        after === 'open' ||
        (key === SHARED_BREAKER && this.current.kind === 'closed' && this.current.backlog);
      if (still && !this.timers.has(key)) this.arm(key);
    });
  }
}
