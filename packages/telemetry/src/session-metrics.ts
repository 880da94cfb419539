import type { EscalationReason, SessionOperationName } from '@session-cluster/core';
import type { Attributes, Counter, Histogram, Meter, ObservableResult } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_SESSION_LOCK_ESCALATION_REASON,
  ATTR_SESSION_OPERATION,
  ATTR_SESSION_OUTCOME,
  ATTR_SESSION_SWEEP_BUCKET,
  METRIC_SESSION_ERRORS,
  METRIC_SESSION_HEALTH_PROBES,
  METRIC_SESSION_LOCK_ESCALATIONS,
  METRIC_SESSION_LOCK_WAIT,
  METRIC_SESSION_OPERATIONS,
  METRIC_SESSION_OPERATION_DURATION,
  METRIC_SESSION_RECONCILED,
  METRIC_SESSION_RETRIES,
  METRIC_SESSION_SWEEPS,
  METRIC_SESSION_SWEPT,
  OUTCOME_ERROR,
  OUTCOME_NOT_FOUND,
  OUTCOME_OK,
} from './semconv.js';
import type { SessionOutcome } from './semconv.js';
import { LATENCY_BUCKETS_S, OPERATION_DURATION_DESCRIPTION } from './operation-durations.js';
import type { OperationDurations } from './operation-durations.js';

const OUTCOMES: readonly SessionOutcome[] = [OUTCOME_OK, OUTCOME_NOT_FOUND, OUTCOME_ERROR];

/**
 * The session layer's instruments, and the attribute sets that do not
 * depend on the call, built once: recording a finished operation allocates
 * nothing here.
 */
export class SessionMetrics {
  /**
   * Operations so far by their (frozen, shared) attribute set: counted here
   * and observed at collection, since a synchronous counter would hash the
   * attributes on every call, and every call is counted.
   */
  private readonly operationCounts = new Map<Attributes, number>();
  /**
   * `get`s the instance cache answered, found and not found: the commonest
   * call of all (a few hundred ns), so two plain counters rather than the
   * map update; folded into the `get` rows of {@link operationCounts} at
   * each collection.
   */
  private cachedGetsFound = 0;
  private cachedGetsNotFound = 0;
  private readonly errors: Counter;
  /** `session.operation.duration`: the SDK's instrument, or {@link OperationDurations} when given. */
  private readonly duration: { record(seconds: number, attributes: Attributes): void };
  private readonly retries: Counter;
  private readonly lockWait: Histogram;
  private readonly escalations: Counter;
  private readonly swept: Counter;
  private readonly sweeps: Counter;
  private readonly probes: Counter;
  private readonly reconciled: Counter;
  private readonly byOutcome = new Map<string, Readonly<Record<string, Attributes>>>();
  private readonly outcomeOnly: Readonly<Record<string, Attributes>>;

  /**
   * @param durations aggregates `session.operation.duration` for readers that take it as a
   *   producer (`startTelemetry`'s); absent, the meter's histogram instrument does
   */
  public constructor(meter: Meter, durations?: OperationDurations) {
    const counter = (name: string, description: string, unit: string): Counter =>
      meter.createCounter(name, { description, unit });
    const latency = (name: string, description: string): Histogram =>
      meter.createHistogram(name, {
        description,
        unit: 's',
        advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
      });
    meter
      .createObservableCounter(METRIC_SESSION_OPERATIONS, {
        description: 'Session operations, by operation and outcome',
        unit: '{operation}',
      })
      .addCallback((result: ObservableResult) => {
        // Fold the cached gets counted since the last collection into their rows.
        const get = this.outcomeAttributes('get');
        this.count(get[OUTCOME_OK] as Attributes, this.cachedGetsFound);
        this.count(get[OUTCOME_NOT_FOUND] as Attributes, this.cachedGetsNotFound);
        this.cachedGetsFound = 0;
        this.cachedGetsNotFound = 0;
        for (const [attributes, count] of this.operationCounts) result.observe(count, attributes);
      });
    this.errors = counter(
      METRIC_SESSION_ERRORS,
      'Failed session operations, by operation and SessionError code (error.type)',
      '{error}',
    );
    this.duration =
      durations ?? latency(METRIC_SESSION_OPERATION_DURATION, OPERATION_DURATION_DESCRIPTION);
    this.retries = counter(
      METRIC_SESSION_RETRIES,
      'Retries of session operations, by operation and SessionError code',
      '{retry}',
    );
    this.lockWait = latency(
      METRIC_SESSION_LOCK_WAIT,
      'Time spent waiting for a session lock, by outcome',
    );
    this.escalations = counter(
      METRIC_SESSION_LOCK_ESCALATIONS,
      'Updates that took the session lock because the session was contended, by reason',
      '{update}',
    );
    this.swept = counter(
      METRIC_SESSION_SWEPT,
      'Expired sessions removed (sweeper jobs and manager.cleanupExpired)',
      '{session}',
    );
    this.sweeps = counter(METRIC_SESSION_SWEEPS, 'Sweep jobs run', '{job}');
    this.probes = counter(
      METRIC_SESSION_HEALTH_PROBES,
      'Health probes of the session store, by outcome',
      '{probe}',
    );
    this.reconciled = counter(
      METRIC_SESSION_RECONCILED,
      'Sessions handled by reconciliation after an outage, by outcome (deferred: each refusal for now; lost: left unwritten at close)',
      '{session}',
    );
    const outcomeOnly: Record<string, Attributes> = {};
    for (const outcome of [
      ...OUTCOMES,
      'written',
      'restored',
      'deleted',
      'conflict',
      'skipped',
      'failed',
      'deferred',
      'lost',
    ]) {
      outcomeOnly[outcome] = Object.freeze({ [ATTR_SESSION_OUTCOME]: outcome });
    }
    this.outcomeOnly = outcomeOnly;
  }

  /**
   * Count a finished operation and its latency (and its error code, when it
   * failed). `durationMs` undefined: counted, not timed (a cached read).
   */
  public operation(
    operation: SessionOperationName,
    outcome: SessionOutcome,
    durationMs: number | undefined,
    errorCode: string | undefined,
  ): void {
    const attributes = this.outcomeAttributes(operation)[outcome] as Attributes;
    this.count(attributes, 1);
    if (durationMs !== undefined) this.duration.record(durationMs / 1000, attributes);
    if (errorCode !== undefined) {
      this.errors.add(1, { [ATTR_SESSION_OPERATION]: operation, [ATTR_ERROR_TYPE]: errorCode });
    }
  }

  /** Add `n` operations to the row of `attributes`. */
  private count(attributes: Attributes, n: number): void {
    if (n > 0)
      this.operationCounts.set(attributes, (this.operationCounts.get(attributes) ?? 0) + n);
  }

  /** Count a `get` the instance cache answered (not timed: see {@link operation}). */
  public cachedGet(found: boolean): void {
    if (found) this.cachedGetsFound += 1;
    else this.cachedGetsNotFound += 1;
  }

  /** Count a retry. */
  public retry(operation: string, errorCode: string): void {
    this.retries.add(1, { [ATTR_SESSION_OPERATION]: operation, [ATTR_ERROR_TYPE]: errorCode });
  }

  /** Record how long a lock acquisition waited. */
  public lockWaited(waitMs: number, ok: boolean): void {
    this.lockWait.record(waitMs / 1000, this.outcomeOnly[ok ? OUTCOME_OK : OUTCOME_ERROR]);
  }

  /** Count an `update` that took the lock because the session was contended. */
  public escalated(reason: EscalationReason): void {
    this.escalations.add(1, { [ATTR_SESSION_LOCK_ESCALATION_REASON]: reason });
  }

  /** Count expired sessions removed (by a sweep of `bucket`, or by `cleanupExpired`). */
  public sweptSessions(count: number, bucket?: number): void {
    if (count <= 0 && bucket === undefined) return;
    this.swept.add(count, bucket === undefined ? {} : { [ATTR_SESSION_SWEEP_BUCKET]: bucket });
  }

  /** Count a sweep job. */
  public sweep(ok: boolean): void {
    this.sweeps.add(1, this.outcomeOnly[ok ? OUTCOME_OK : OUTCOME_ERROR]);
  }

  /** Count a health probe. */
  public probe(ok: boolean): void {
    this.probes.add(1, this.outcomeOnly[ok ? OUTCOME_OK : OUTCOME_ERROR]);
  }

  /** Count sessions reconciled with `outcome` (`written`, `conflict`, …). */
  public reconciledSessions(outcome: string, count: number): void {
    if (count > 0) this.reconciled.add(count, this.outcomeOnly[outcome]);
  }

  private outcomeAttributes(operation: SessionOperationName): Readonly<Record<string, Attributes>> {
    let attributes = this.byOutcome.get(operation);
    if (attributes === undefined) {
      const built: Record<string, Attributes> = {};
      for (const outcome of OUTCOMES) {
        built[outcome] = Object.freeze({
          [ATTR_SESSION_OPERATION]: operation,
          [ATTR_SESSION_OUTCOME]: outcome,
        });
      }
      attributes = built;
      this.byOutcome.set(operation, attributes);
    }
    return attributes;
  }
}
