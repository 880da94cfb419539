import { performance } from 'node:perf_hooks';
import {
  ATTR_SESSION_DEGRADED,
  ATTR_SESSION_LOCK_ATTEMPTS,
  ATTR_SESSION_LOCK_HELD_MS,
  ATTR_SESSION_LOCK_NODES_TOTAL,
  ATTR_SESSION_LOCK_NODES_VOTED,
  ATTR_SESSION_LOCK_QUORUM,
  ATTR_SESSION_LOCK_TTL_MS,
  ATTR_SESSION_LOCK_WAIT_MS,
  SPAN_LOCK_ACQUIRE,
  SPAN_LOCK_RELEASE,
  isSessionError,
} from '@session-cluster/core';
import type { LockOptions, SessionLock, SessionLocker } from '@session-cluster/core';
import type { Attributes, Span } from '@opentelemetry/api';
import { markSpanFailed } from './manager-telemetry.js';
import type { ManagerTelemetry } from './manager-telemetry.js';
import { PhasedContext } from './phased-context.js';

const VOTE_ATTRIBUTES = [
  ['votesFor', ATTR_SESSION_LOCK_NODES_VOTED],
  ['membershipSize', ATTR_SESSION_LOCK_NODES_TOTAL],
  ['quorumSize', ATTR_SESSION_LOCK_QUORUM],
  ['attempts', ATTR_SESSION_LOCK_ATTEMPTS],
] as const;

/**
 * Vote counts a locker reports, as span attributes: Redlock's
 * `LOCK_NOT_ACQUIRED` carries them in `details` (`votesFor`,
 * `membershipSize`, `quorumSize`, `attempts`); a held lock may expose the
 * same fields as `votes` (read when present; a plain lock has none).
 */
function voteAttributes(source: unknown): Attributes | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const record = source as Record<string, unknown>;
  let attributes: Attributes | undefined;
  for (const [field, attribute] of VOTE_ATTRIBUTES) {
    const value = record[field];
    if (typeof value === 'number' && Number.isFinite(value)) {
      attributes ??= {};
      attributes[attribute] = value;
    }
  }
  return attributes;
}

function heldLockVotes(lock: SessionLock): Attributes | undefined {
  return 'votes' in lock ? voteAttributes((lock as { votes?: unknown }).votes) : undefined;
}

/**
 * The manager's view of its locker: records how long each acquisition
 * waited (`session.lock.wait.duration`), and inside a recording operation
 * span traces `session.lock.acquire` (wait time, lease, votes where the
 * locker reports them, error code on failure) and `session.lock.release`
 * (time held), each with the lock nodes' Redis commands as children.
 *
 * It wraps `using()` without replacing it, so the locker's own semantics
 * (lease extension, loss signal, fallback routing) are untouched: the
 * acquire span ends when the routine starts, the release span covers the
 * time from the routine's end until `using()` settles.
 */
export class TracedLocker implements SessionLocker {
  public constructor(
    private readonly inner: SessionLocker,
    private readonly telemetry: ManagerTelemetry,
    private readonly degraded: () => boolean,
  ) {}

  /** @inheritDoc */
  public async acquire(sessionId: string, options?: LockOptions): Promise<SessionLock> {
    const started = performance.now();
    const span = this.telemetry.childSpansWanted() ? this.startAcquire(options) : undefined;
    try {
      const lock =
        span === undefined
          ? await this.inner.acquire(sessionId, options)
          : await this.telemetry.api.context.with(
              this.telemetry.api.trace.setSpan(this.telemetry.api.context.active(), span),
              () => this.inner.acquire(sessionId, options),
            );
      const waitMs = performance.now() - started;
      this.telemetry.recordLockWait(waitMs, true);
      if (span !== undefined) this.endAcquired(span, waitMs, lock);
      return lock;
    } catch (error) {
      const waitMs = performance.now() - started;
      this.telemetry.recordLockWait(waitMs, false);
      if (span !== undefined) this.endFailed(span, waitMs, error);
      throw error;
    }
  }

  /** @inheritDoc */
  public using<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options?: LockOptions,
  ): Promise<T> {
    return this.telemetry.childSpansWanted()
      ? this.tracedUsing(sessionId, fn, options)
      : this.timedUsing(sessionId, fn, options);
  }

  /** @inheritDoc */
  public close(): Promise<void> {
    return this.inner.close();
  }

  /** Metrics only: the wait until the routine starts. */
  private async timedUsing<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options: LockOptions | undefined,
  ): Promise<T> {
    const started = performance.now();
    // Written by the routine wrapper, read after using() settles.
    const progress = { acquired: false };
    try {
      return await this.inner.using(
        sessionId,
        (signal, lock) => {
          progress.acquired = true;
          this.telemetry.recordLockWait(performance.now() - started, true);
          return fn(signal, lock);
        },
        options,
      );
    } catch (error) {
      if (!progress.acquired) this.telemetry.recordLockWait(performance.now() - started, false);
      throw error;
    }
  }

  private async tracedUsing<T>(
    sessionId: string,
    fn: (signal: AbortSignal, lock: SessionLock) => Promise<T>,
    options: LockOptions | undefined,
  ): Promise<T> {
    const { context, trace } = this.telemetry.api;
    const { tracer } = this.telemetry;
    const started = performance.now();
    const parent = context.active();
    const acquireSpan = this.startAcquire(options);
    // The locker polls, extends and releases in the context of this call:
    // the phase decides which span its Redis commands belong to.
    const phase = new PhasedContext(trace.setSpan(parent, acquireSpan));
    // Written by the routine wrapper, read after using() settles.
    const progress: { acquiredAt?: number; releaseSpan?: Span } = {};
    try {
      return await context.with(phase, () =>
        this.inner.using(
          sessionId,
          async (signal, lock) => {
            const now = performance.now();
            progress.acquiredAt = now;
            this.telemetry.recordLockWait(now - started, true);
            this.endAcquired(acquireSpan, now - started, lock);
            // Lease extensions while the routine runs belong to the operation.
            phase.switchTo(parent);
            try {
              return await context.with(parent, () => fn(signal, lock));
            } finally {
              const releaseSpan = tracer.startSpan(
                SPAN_LOCK_RELEASE,
                { attributes: { [ATTR_SESSION_LOCK_HELD_MS]: performance.now() - now } },
                parent,
              );
              progress.releaseSpan = releaseSpan;
              phase.switchTo(trace.setSpan(parent, releaseSpan));
            }
          },
          options,
        ),
      );
    } catch (error) {
      if (progress.acquiredAt === undefined) {
        const waitMs = performance.now() - started;
        this.telemetry.recordLockWait(waitMs, false);
        this.endFailed(acquireSpan, waitMs, error);
      }
      throw error;
    } finally {
      progress.releaseSpan?.end();
    }
  }

  private startAcquire(options: LockOptions | undefined): Span {
    const attributes: Attributes = { [ATTR_SESSION_DEGRADED]: this.degraded() };
    if (options?.ttlMs !== undefined) attributes[ATTR_SESSION_LOCK_TTL_MS] = options.ttlMs;
    return this.telemetry.tracer.startSpan(SPAN_LOCK_ACQUIRE, { attributes });
  }

  private endAcquired(span: Span, waitMs: number, lock: SessionLock): void {
    span.setAttribute(ATTR_SESSION_LOCK_WAIT_MS, waitMs);
    const votes = heldLockVotes(lock);
    if (votes !== undefined) span.setAttributes(votes);
    span.end();
  }

  private endFailed(span: Span, waitMs: number, error: unknown): void {
    span.setAttribute(ATTR_SESSION_LOCK_WAIT_MS, waitMs);
    const votes = isSessionError(error) ? voteAttributes(error.details) : undefined;
    if (votes !== undefined) span.setAttributes(votes);
    markSpanFailed(this.telemetry.api, span, error);
    span.end();
  }
}
