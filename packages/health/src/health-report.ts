import type { SessionError, SessionErrorCode } from '@session-cluster/core';
import { maskSessionIds } from '@session-cluster/core';

/*
 * The report's JSON shape is served over HTTP (`/readyz`), so it is part of
 * the public API: every key is always present (absent values are `null`,
 * never omitted), object keys are emitted in a fixed order, and no raw
 * session id ever appears in it.
 */

/** Overall verdict: `unhealthy` beats `degraded` beats `healthy`. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** The circuit breaker's state as the fallback store reports it. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** One operation as {@link HealthRecorder.record} takes it. */
export interface OperationSample {
  /** Operation name, e.g. `load`, `save`, `update`. A fixed set: one window is kept per name. */
  readonly operation: string;
  /** Wall time the operation took, in ms (finite, ≥ 0; use `performance.now()` deltas). */
  readonly durationMs: number;
  /** Whether the operation succeeded. */
  readonly ok: boolean;
  /** What was thrown when `ok` is false; normalised with `toSessionError` for its code. */
  readonly error?: unknown;
}

/**
 * The narrow side of the monitor its callers need: the manager records every
 * operation, the fallback reports breaker state and degraded mode. Depend on
 * this (not on the class) to accept a no-op in tests or wiring.
 */
export interface HealthRecorder {
  /** Record one finished operation. O(1) amortised; cheap enough for every call. */
  record(sample: OperationSample): void;
  /** Report the circuit breaker's state; anything but `closed` makes the status `degraded`. */
  setBreakerState(state: BreakerState): void;
  /** Enter or leave degraded mode (serving from the fallback store). */
  setDegraded(degraded: boolean, reason?: string): void;
}

/** The most recent failure of an operation (or overall). */
export interface LastErrorReport {
  /** `SessionErrorCode` of the failure (`INTERNAL` for anything that was not a `SessionError`). */
  readonly code: SessionErrorCode;
  /** Error message; session ids in it are replaced by `<sid:hash>`, long text is cut. */
  readonly message: string;
  /** Epoch ms (monitor clock) when it was recorded. */
  readonly at: number;
}

/** Latency quantiles in ms, nearest-rank over the window; `null` when the window is empty. */
export interface LatencyReport {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Rolling-window statistics of one operation, or of all operations together. */
export interface OperationHealth {
  /** Operations in the window (at most `windowSize`, none older than `windowMs`). */
  readonly count: number;
  /** Successes / count, in [0, 1]; `null` when the window is empty. */
  readonly successRate: number | null;
  /** Failed operations in the window. */
  readonly failures: number;
  /** Failed operations in the window by error code; keys sorted, only codes seen. */
  readonly failuresByCode: Readonly<Partial<Record<SessionErrorCode, number>>>;
  /** Latency quantiles over the window (failures included: a slow failure is slow). */
  readonly latencyMs: LatencyReport;
  /** Operations in the window that took longer than `slowThresholdMs`. */
  readonly slowCount: number;
  /**
   * Most recent failure since the monitor started. Not windowed: it stays
   * after its sample ages out, so `at` tells how old it is.
   */
  readonly lastError: LastErrorReport | null;
}

/** Outcome of {@link HealthMonitor.check}. */
export interface ProbeResult {
  /** True when create → load → delete of a probe session all worked in time. */
  readonly ok: boolean;
  /** How long the probe took (the timeout when it timed out), in ms. */
  readonly latencyMs: number;
  /** Why it failed; `STORAGE_TIMEOUT` when it ran past `probeTimeoutMs`. */
  readonly error?: SessionError;
}

/** The last probe as the report shows it. */
export interface ProbeReport {
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Epoch ms (monitor clock) when the probe finished. */
  readonly at: number;
  /** `null` when the probe succeeded. */
  readonly error: { readonly code: SessionErrorCode; readonly message: string } | null;
}

/**
 * Everything the monitor knows, as one JSON-safe object: what `/readyz`
 * serves. See the package README for an example body.
 */
/**
 * The instance cache as the health report shows it (counters since start).
 * A cache that is `down` changes no status: every load then goes to Redis,
 * which the operation windows already judge.
 */
export interface CacheHealth {
  /** `ready`: serving and filling; `down`: an invalidation channel is not confirmed, Redis answers every load. */
  readonly state: 'ready' | 'down';
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly invalidations: number;
  readonly flushes: number;
  readonly evictions: number;
}

/**
 * The last write-back after an outage, as the fallback's `recovered` event
 * reported it ({@link HealthMonitor.recordRecovery}). `conflicts`: keys (or
 * sessions) changed both in Redis and in this instance's memory while
 * degraded, resolved last-writer-wins: what an operator looks at after an outage.
 */
export interface RecoveryHealth {
  /** Monitor clock, epoch ms, when it was recorded. */
  readonly at: number;
  readonly written: number;
  /** Sessions Redis had lost (restarted empty) written back whole. */
  readonly restored: number;
  readonly conflicts: number;
  readonly deleted: number;
  readonly skipped: number;
  readonly failed: number;
  /** Time spent reconciling, ms. */
  readonly durationMs: number;
}

export interface HealthReport {
  readonly status: HealthStatus;
  /** Why the status is not `healthy`, most severe first; empty when healthy. */
  readonly reasons: readonly string[];
  /** Epoch ms (monitor clock) when this report was made. */
  readonly checkedAt: number;
  readonly breaker: BreakerState;
  /** True while the fallback serves from its secondary store. */
  readonly degraded: boolean;
  /** What the fallback said when it entered degraded mode; `null` when not degraded or not given. */
  readonly degradedReason: string | null;
  /** The last {@link HealthMonitor.check}; `null` before the first one. */
  readonly probe: ProbeReport | null;
  /** The window the statistics cover. */
  readonly window: { readonly size: number; readonly ms: number };
  /** All operations together. */
  readonly overall: OperationHealth;
  /**
   * Per operation name, keys sorted: every operation recorded since the monitor
   * started (one whose samples all aged out shows `count: 0`).
   */
  readonly operations: Readonly<Record<string, OperationHealth>>;
  /** The instance cache, when one reports (see {@link HealthMonitor.reportCache}); else `null`. */
  readonly cache: CacheHealth | null;
  /** The last recovery's write-back (see {@link HealthMonitor.recordRecovery}); `null` before one. */
  readonly lastRecovery: RecoveryHealth | null;
  /**
   * Sessions and revocations changed while degraded and not yet written back
   * to Redis (see {@link HealthMonitor.reportPendingWriteBacks}): above 0
   * after recovery, Redis refuses their write-back for now. The status is at
   * least `degraded` while it is above 0. `null` when no fallback reports.
   */
  readonly pendingWriteBacks: number | null;
}

/** Payload of the monitor's `status` event. */
export interface StatusChange {
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  /** The reasons of the new status (empty when it is `healthy`). */
  readonly reasons: readonly string[];
}

/** Events a {@link HealthMonitor} emits. */
export interface HealthMonitorEvents {
  /** The status changed. Emitted synchronously from the call that noticed it. */
  status: [change: StatusChange];
}

/** Longest text kept from an error message or a degraded-mode reason. */
export const MAX_REPORTED_TEXT_LENGTH = 300;

/**
 * Make free text (an error message from some store or driver, a reason
 * string) safe for the health report: anything shaped like a session id
 * becomes `<sid:hash>` (the same short hash logs and spans use), and the
 * text is cut to {@link MAX_REPORTED_TEXT_LENGTH} characters.
 */
export function redactSessionIds(text: string): string {
  const redacted = maskSessionIds(text);
  return redacted.length > MAX_REPORTED_TEXT_LENGTH
    ? `${redacted.slice(0, MAX_REPORTED_TEXT_LENGTH - 1)}…`
    : redacted;
}
