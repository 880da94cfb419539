import { EventEmitter } from 'node:events';
import {
  SessionValidationError,
  invalidArgument,
  sessionChannels,
  toSessionError,
} from '@session-cluster/core';
import type { Clock, SessionChannels, SessionErrorCode } from '@session-cluster/core';
import { resolveHealthOptions } from './health-options.js';
import type { HealthMonitorOptions } from './health-options.js';
import { runProbe } from './health-probe.js';
import type {
  BreakerState,
  CacheHealth,
  RecoveryHealth,
  HealthMonitorEvents,
  HealthRecorder,
  HealthReport,
  HealthStatus,
  LastErrorReport,
  OperationHealth,
  OperationSample,
  ProbeReport,
  ProbeResult,
} from './health-report.js';
import { redactSessionIds } from './health-report.js';
import { SampleWindow } from './sample-window.js';

const BREAKER_STATES: ReadonlySet<string> = new Set<BreakerState>([
  'closed',
  'open',
  'half-open',
  'isolated',
]);

/**
 * Rolling-window health of the session layer: success rate, failures by
 * code, latency quantiles, slow operations and last error per operation and
 * overall; the breaker state and degraded mode the fallback reports; a real
 * probe of the store; and a status with reasons.
 *
 * **Status rules** (all that apply are listed in `reasons`, most severe first):
 * - `unhealthy` when a window (overall, or one operation's) holds at least
 *   `minSamples` samples and its success rate is below
 *   `unhealthyBelowSuccessRate`, or when the last probe failed;
 * - else `degraded` while in degraded mode, while the breaker is not
 *   `closed`, or while degraded-mode writes wait for their write-back
 *   (`reportPendingWriteBacks`: until then they live in this process only);
 * - else `healthy`.
 *
 * The status is re-evaluated after every state change, probe and report,
 * and after a `record` that flips a window across the success-rate rule or
 * finds write-backs pending where there were none (or the reverse);
 * a `status` event is emitted on every transition. Samples ageing out of an
 * otherwise idle window take effect at the next re-evaluation.
 *
 * @example
 * ```ts
 * const monitor = new HealthMonitor({ probe: { store } });
 * monitor.on('status', ({ from, to, reasons }) => log.warn({ from, to, reasons }, 'health'));
 * monitor.record({ operation: 'load', durationMs: 1.7, ok: true });
 * await monitor.check();
 * res.json(monitor.report());
 * ```
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> implements HealthRecorder {
  private readonly options: ReturnType<typeof resolveHealthOptions>;
  private readonly clock: Clock;
  private readonly overall: SampleWindow;
  private readonly windows = new Map<string, SampleWindow>();
  private breakerState: BreakerState = 'closed';
  private degradedMode = false;
  private degradedReason: string | null = null;
  private lastRecovery: RecoveryHealth | null = null;
  private lastProbe: ProbeReport | null = null;
  private probeInFlight: Promise<ProbeResult> | undefined;
  private lastStatus: HealthStatus = 'healthy';
  private cacheSource: (() => CacheHealth | undefined) | undefined;
  private pendingSource: (() => number) | undefined;
  /** Whether the last evaluation saw write-backs pending (`record` re-evaluates when that flips). */
  private writeBacksPending = false;
  private readonly channels: SessionChannels;

  /** @throws SessionValidationError `INVALID_CONFIG` naming the bad option */
  public constructor(options?: HealthMonitorOptions) {
    super();
    this.options = resolveHealthOptions(options);
    this.clock = this.options.clock;
    this.overall = new SampleWindow(this.options.windowSize);
    this.channels = sessionChannels(this.options.telemetry);
  }

  /** True when a probe store is configured, i.e. {@link check} can run. */
  public get hasProbe(): boolean {
    return this.options.probe !== undefined;
  }

  /**
   * Record one finished operation (the manager calls this for every one).
   * O(1) amortised: a ring-buffer write per window; quantiles are computed
   * only by {@link report}.
   *
   * @throws SessionValidationError `INVALID_ARGUMENT` for an empty operation
   *   name or a duration that is not a finite number ≥ 0
   */
  public record(sample: OperationSample): void {
    const { operation, durationMs, ok } = sample;
    if (typeof operation !== 'string' || operation.length === 0) {
      throw invalidArgument('operation', 'record', 'a non-empty string');
    }
    if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) {
      throw invalidArgument('durationMs', 'record', 'a finite number >= 0');
    }
    const now = this.clock.now();
    let window = this.windows.get(operation);
    if (window === undefined) {
      window = new SampleWindow(this.options.windowSize);
      this.windows.set(operation, window);
    }
    const { minSamples, unhealthyBelowSuccessRate: threshold } = this.options;
    // Taken before eviction, so that failures ageing out count as a flip too.
    const wasFailing =
      window.isFailing(minSamples, threshold) || this.overall.isFailing(minSamples, threshold);
    const cutoff = now - this.options.windowMs;
    window.evictBefore(cutoff);
    this.overall.evictBefore(cutoff);

    let code: SessionErrorCode | null = null;
    if (!ok) {
      const lastError = describeFailure(sample.error, operation, now);
      code = lastError.code;
      window.noteFailure(lastError);
      this.overall.noteFailure(lastError);
    }
    window.push(now, durationMs, code);
    this.overall.push(now, durationMs, code);

    const isFailing =
      window.isFailing(minSamples, threshold) || this.overall.isFailing(minSamples, threshold);
    // Only a flip of the touched windows, or of whether write-backs are
    // pending (the call just recorded may have been journaled), can change the
    // status here; checking just those keeps the hot path free of a walk over
    // every operation.
    const pendingFlip =
      this.pendingSource !== undefined && this.pendingSource() > 0 !== this.writeBacksPending;
    if (isFailing !== wasFailing || pendingFlip) this.evaluate();
  }

  /** Report the circuit breaker's state; anything but `closed` makes the status `degraded`. */
  public setBreakerState(state: BreakerState): void {
    if (!BREAKER_STATES.has(state)) {
      throw invalidArgument('state', 'setBreakerState', 'closed, open, half-open or isolated');
    }
    this.breakerState = state;
    this.evaluate();
  }

  /**
   * Enter or leave degraded mode. `reason` (log-safe text; session ids in it
   * are redacted anyway) is shown while degraded.
   */
  public setDegraded(degraded: boolean, reason?: string): void {
    if (typeof degraded !== 'boolean') {
      throw invalidArgument('degraded', 'setDegraded', 'a boolean');
    }
    this.degradedMode = degraded;
    this.degradedReason =
      degraded && typeof reason === 'string' && reason.length > 0 ? redactSessionIds(reason) : null;
    this.evaluate();
  }

  /**
   * Show what the last recovery wrote back (the fallback's `recovered`
   * event: written, restored, conflicts, …) in the report. Its counts change no
   * status; the status is re-evaluated, since write-backs stop pending then.
   * @throws SessionValidationError `INVALID_ARGUMENT` unless every count is a non-negative number
   */
  public recordRecovery(summary: Omit<RecoveryHealth, 'at'>): void {
    const fields = [
      'written',
      'restored',
      'conflicts',
      'deleted',
      'skipped',
      'failed',
      'durationMs',
    ] as const;
    for (const field of fields) {
      const value: unknown = (summary as Partial<Record<string, unknown>> | null)?.[field];
      if (typeof value !== 'number' || !(value >= 0)) {
        throw invalidArgument(field, 'recordRecovery', 'a non-negative number');
      }
    }
    const { written, restored, conflicts, deleted, skipped, failed, durationMs } = summary;
    this.lastRecovery = {
      at: this.clock.now(),
      written,
      restored,
      conflicts,
      deleted,
      skipped,
      failed,
      durationMs,
    };
    // A recovery is when the write-backs stop pending: say so now, not at the next report.
    this.evaluate();
  }

  /**
   * Probe the configured store for real: create → load → delete of a probe
   * session with a fresh id, no user and a short TTL. Not recorded as
   * traffic. Bounded by `probeTimeoutMs`. Concurrent calls share one probe.
   * The result is kept and shown in {@link report}; a failed probe makes the
   * status `unhealthy` until a later probe succeeds.
   *
   * @returns the probe's outcome; never rejects because the store failed
   * @throws SessionValidationError `INVALID_CONFIG` (`probe`) when no probe store is configured
   */
  public check(): Promise<ProbeResult> {
    const probe = this.options.probe;
    if (probe === undefined) {
      return Promise.reject(
        new SessionValidationError('check() needs the probe option (a store to probe)', {
          code: 'INVALID_CONFIG',
          field: 'probe',
          operation: 'check',
        }),
      );
    }
    const run = (): Promise<ProbeResult> =>
      runProbe({
        store: probe.store,
        clock: this.clock,
        ttlMs: probe.ttlMs,
        timeoutMs: this.options.probeTimeoutMs,
      }).then((result) => {
        this.lastProbe = {
          ok: result.ok,
          latencyMs: result.latencyMs,
          at: this.clock.now(),
          error:
            result.error === undefined
              ? null
              : { code: result.error.code, message: redactSessionIds(result.error.message) },
        };
        this.evaluate();
        return result;
      });
    const channel = this.channels.healthProbe;
    this.probeInFlight ??= (
      channel.hasSubscribers ? channel.tracePromise(run, { status: () => this.lastStatus }) : run()
    )
      // Cleared however it ends, so one odd failure cannot wedge every later check.
      .finally(() => {
        this.probeInFlight = undefined;
      });
    return this.probeInFlight;
  }

  /** Ms (monitor clock) since the last probe finished; `null` before the first. */
  public get lastProbeAgeMs(): number | null {
    return this.lastProbe === null ? null : Math.max(0, this.clock.now() - this.lastProbe.at);
  }

  /**
   * Show an instance cache in the report: `source` is read at each report
   * (e.g. `() => redisStore.cacheStats()`); `undefined` stops it.
   */
  public reportCache(source: (() => CacheHealth | undefined) | undefined): void {
    this.cacheSource = source;
  }

  /**
   * Show how many degraded-mode changes wait for their write-back: `source`
   * is read at each evaluation (e.g. `() => fallbackStore.pendingReconciliation`);
   * `undefined` stops it. While it is above 0 the status is at least
   * `degraded`: those changes are in this process's memory only.
   */
  public reportPendingWriteBacks(source: (() => number) | undefined): void {
    this.pendingSource = source;
  }

  /**
   * Everything the monitor knows, as a fresh JSON-safe object (what
   * `/readyz` serves). Computes quantiles over the window: O(n log n) in
   * `windowSize` per operation, so call it per request, not per operation.
   */
  public report(): HealthReport {
    const now = this.clock.now();
    this.evictExpired(now);
    const { status, reasons } = this.evaluate();
    const { slowThresholdMs } = this.options;
    const operations: Record<string, OperationHealth> = {};
    for (const name of [...this.windows.keys()].sort()) {
      const window = this.windows.get(name);
      if (window !== undefined) operations[name] = window.summarise(slowThresholdMs);
    }
    return {
      status,
      reasons,
      checkedAt: now,
      breaker: this.breakerState,
      degraded: this.degradedMode,
      degradedReason: this.degradedReason,
      probe: this.lastProbe === null ? null : { ...this.lastProbe },
      window: { size: this.options.windowSize, ms: this.options.windowMs },
      overall: this.overall.summarise(slowThresholdMs),
      operations,
      cache: this.cacheReport(),
      lastRecovery: this.lastRecovery === null ? null : { ...this.lastRecovery },
      pendingWriteBacks: this.pendingSource?.() ?? null,
    };
  }

  private cacheReport(): CacheHealth | null {
    const stats = this.cacheSource?.();
    if (stats === undefined) return null;
    const { state, entries, bytes, hits, misses, invalidations, flushes, evictions } = stats;
    return { state, entries, bytes, hits, misses, invalidations, flushes, evictions };
  }

  /** The current status without building a full report. */
  public status(): HealthStatus {
    this.evictExpired(this.clock.now());
    return this.evaluate().status;
  }

  private evictExpired(now: number): void {
    const cutoff = now - this.options.windowMs;
    this.overall.evictBefore(cutoff);
    for (const window of this.windows.values()) window.evictBefore(cutoff);
  }

  /** Work out status and reasons from current state; emit `status` on a change. */
  private evaluate(): { status: HealthStatus; reasons: string[] } {
    const { minSamples, unhealthyBelowSuccessRate: threshold } = this.options;
    const unhealthy: string[] = [];
    if (this.overall.isFailing(minSamples, threshold)) {
      unhealthy.push(`overall ${describeRate(this.overall, threshold)}`);
    }
    for (const name of [...this.windows.keys()].sort()) {
      const window = this.windows.get(name);
      if (window?.isFailing(minSamples, threshold) === true) {
        unhealthy.push(`operation ${name}: ${describeRate(window, threshold)}`);
      }
    }
    if (this.lastProbe?.ok === false) {
      unhealthy.push(`probe failed: ${this.lastProbe.error?.code ?? 'INTERNAL'}`);
    }
    const degraded: string[] = [];
    if (this.degradedMode) {
      degraded.push(
        this.degradedReason === null ? 'degraded mode' : `degraded mode: ${this.degradedReason}`,
      );
    }
    if (this.breakerState !== 'closed') degraded.push(`circuit breaker ${this.breakerState}`);
    const pending = this.pendingSource?.() ?? 0;
    this.writeBacksPending = pending > 0;
    if (pending > 0) degraded.push(`${pending} degraded-mode write(s) not yet written back`);

    const status: HealthStatus =
      unhealthy.length > 0 ? 'unhealthy' : degraded.length > 0 ? 'degraded' : 'healthy';
    const reasons = [...unhealthy, ...degraded];
    if (status !== this.lastStatus) {
      const from = this.lastStatus;
      this.lastStatus = status;
      this.emitStatus({ from, to: status, reasons: [...reasons] });
    }
    return { status, reasons };
  }

  private emitStatus(change: HealthMonitorEvents['status'][0]): void {
    try {
      this.emit('status', change);
    } catch (error) {
      // record() runs inside session operations: a throwing listener must not
      // fail a user's request. Surface it as an uncaught exception instead,
      // as Node does for a throwing listener outside any call stack.
      process.nextTick(() => {
        throw error;
      });
    }
  }
}

function describeFailure(error: unknown, operation: string, at: number): LastErrorReport {
  if (error === undefined) {
    return { code: 'INTERNAL', message: `${operation} failed (no error given)`, at };
  }
  const normalised = toSessionError(error, { operation });
  return { code: normalised.code, message: redactSessionIds(normalised.message), at };
}

function describeRate(window: SampleWindow, threshold: number): string {
  const { successCount, count } = window;
  const rate = (successCount / count).toFixed(3);
  return `success rate ${rate} below ${threshold} (${successCount} of ${count} ok)`;
}
