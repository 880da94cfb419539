import {
  SessionNotFoundError,
  StorageUnavailableError,
  generateSessionId,
  toSessionError,
} from '@session-cluster/core';
import type { Clock, SessionError, SessionStore } from '@session-cluster/core';
import type { ProbeResult } from './health-report.js';

/** What {@link runProbe} needs. */
export interface ProbeSettings {
  readonly store: SessionStore;
  /** Time source for the probe session's expiry and for the latency. */
  readonly clock: Clock;
  /** TTL of the probe session. */
  readonly ttlMs: number;
  /** How long the caller waits for the probe. */
  readonly timeoutMs: number;
}

/**
 * One real round trip through the store: create a probe session (fresh id,
 * no user, short TTL) → load it → delete it. Never rejects: a failure is a
 * result with `ok: false` and a typed error.
 *
 * **Bounded.** The caller gets an answer after at most `timeoutMs`
 * (`STORAGE_TIMEOUT`). `SessionStore` calls cannot be cancelled, so the
 * round trip itself runs on in the background and still deletes its session
 * if the create went through late; should even that fail, the short TTL
 * removes it.
 */
export async function runProbe(settings: ProbeSettings): Promise<ProbeResult> {
  const { clock, timeoutMs } = settings;
  const started = clock.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, timeoutMs);
    // A probe must never keep the process alive on its own.
    timer.unref();
  });
  try {
    const outcome = await Promise.race([roundTrip(settings), timedOut]);
    const latencyMs = Math.max(0, clock.now() - started);
    if (outcome === 'timeout') {
      return {
        ok: false,
        latencyMs: Math.max(latencyMs, timeoutMs),
        error: new StorageUnavailableError(`Health probe timed out after ${timeoutMs} ms`, {
          timeout: true,
          operation: 'probe',
        }),
      };
    }
    return outcome === null ? { ok: true, latencyMs } : { ok: false, latencyMs, error: outcome };
  } finally {
    clearTimeout(timer);
  }
}

/** @returns `null` on success, else the first failure as a `SessionError`. */
async function roundTrip(settings: ProbeSettings): Promise<SessionError | null> {
  const { store, clock, ttlMs } = settings;
  const id = generateSessionId();
  try {
    await store.create({ id, data: {}, expiresAt: clock.now() + ttlMs });
  } catch (error) {
    return toSessionError(error, { operation: 'probe.create' });
  }
  let failure: SessionError | null = null;
  try {
    const record = await store.load(id);
    if (record?.id !== id) {
      failure = new SessionNotFoundError('Health probe session not readable after create', {
        operation: 'probe.load',
      });
    }
  } catch (error) {
    failure = toSessionError(error, { operation: 'probe.load' });
  }
  // Delete even after a failed load: the probe must not leave its session behind.
  try {
    const deleted = await store.delete(id);
    if (!deleted && failure === null) {
      failure = new SessionNotFoundError('Health probe session vanished before delete', {
        operation: 'probe.delete',
      });
    }
  } catch (error) {
    failure ??= toSessionError(error, { operation: 'probe.delete' });
  }
  return failure;
}
