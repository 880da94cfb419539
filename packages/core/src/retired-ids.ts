import { ConcurrentAccessError, isSessionError } from './errors.js';
import type { SessionError } from './errors.js';
import { hashSessionId } from './session-id.js';

/**
 * How long, at least, a retired session id stays retired (a tombstone
 * refuses `create` under it), in ms past the moment it was retired. The
 * tombstone lives until `max(retired session's expiresAt, now + this)`, plus
 * the store's expiry grace in Redis.
 *
 * Why this long. A retired id (destroy, regenerate, logout everywhere) can
 * come back only through a writer that still holds it and creates under
 * it: a request that loaded the session before it was retired and commits
 * after (bounded by the lock lease, 10 s by default, plus command
 * timeouts and retries: well under a minute), an express-session `set`
 * arriving late, or the fallback's reconciliation of a copy written while
 * Redis was unreachable. The first two are covered by minutes; the
 * reconciliation by the retired session's own expiry, past which no copy
 * derived from it is live (the reconciler skips expired copies) unless it
 * was written again during the outage. Ten minutes beyond that covers an
 * outage's journaled writes made shortly before recovery. A cookie still
 * presenting the id after the tombstone expires finds nothing: the
 * middleware starts a fresh session under a new id.
 */
export const RETIRED_ID_MIN_TTL_MS = 10 * 60_000;

/** Until when (epoch ms) an id retired at `now` whose session expired at `expiresAt` stays retired. */
export function retiredUntil(expiresAt: number, now: number): number {
  return Math.max(expiresAt, now + RETIRED_ID_MIN_TTL_MS);
}

/**
 * The error of a `create` under a retired id: `SESSION_ALREADY_EXISTS`
 * (the id is not free, so every caller that already handles a taken id —
 * the fallback's reconciler counts a conflict and drops its copy — refuses
 * it as it should), with `details.retired: true` for callers that tell
 * the two apart ({@link isRetiredIdError}).
 */
export function retiredIdError(id: string, operation: string): ConcurrentAccessError {
  return new ConcurrentAccessError('already_exists', 'The session id was retired', {
    operation,
    sessionIdHash: hashSessionId(id),
    details: { retired: true },
  });
}

/** True for the error of a create under a retired id ({@link retiredIdError}). */
export function isRetiredIdError(error: unknown): error is SessionError {
  return (
    isSessionError(error) &&
    error.code === 'SESSION_ALREADY_EXISTS' &&
    error.details?.['retired'] === true
  );
}
