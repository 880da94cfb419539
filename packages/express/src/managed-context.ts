import { createOptionChecks } from '@session-cluster/core';
import type { SessionManager } from '@session-cluster/manager';
import type { ManagedContext } from './managed-session.js';
import { middlewareChecks, resolveManagedOptions } from './middleware-options.js';
import type { ManagedSessionOptions } from './middleware-options.js';
import type { ResponseHolder } from './response-hold.js';
import { readCookie } from './cookie-header.js';
import { SessionCookieSigner } from './signed-cookie.js';
import type { RejectedCookie, VerifiedCookie } from './signed-cookie.js';

/** Counters of one session middleware (process-local, since it was created). */
export interface SessionMiddlewareStats {
  /** Cookies that were tampered, unsigned, malformed, sealed with a retired key or expired: each started a fresh session. */
  readonly rejectedCookies: number;
  /**
   * Cookies whose stored session could not be read (`SESSION_CORRUPTED`,
   * `DECRYPTION_FAILED`, `UNKNOWN_KEY_ID`): each started a fresh session.
   */
  readonly unreadableSessions: number;
  /** Sessions stored by a first write. */
  readonly sessionsCreated: number;
  /** Sessions ended because they reached `maxLifetimeMs` (each started a fresh session). */
  readonly sessionsPastLifetime: number;
  /** Commits that failed and went to the error handler. */
  readonly commitFailures: number;
}

/** The mutable counters behind {@link SessionMiddlewareStats}. */
export interface MiddlewareStats {
  rejectedCookies: number;
  unreadableSessions: number;
  sessionsCreated: number;
  sessionsPastLifetime: number;
  commitFailures: number;
}

/** Fresh counters. */
export function createStats(): MiddlewareStats {
  return {
    rejectedCookies: 0,
    unreadableSessions: 0,
    sessionsCreated: 0,
    sessionsPastLifetime: 0,
    commitFailures: 0,
  };
}

/**
 * Check `(manager, options)` once, at the framework adapter's public door
 * (Express's `sessionMiddleware`, Fastify's plugin), and resolve what every
 * request session of that adapter shares.
 *
 * @param owner how errors name the adapter (`<owner> option <field>: …`)
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 */
export function createManagedContext(
  manager: SessionManager,
  options: ManagedSessionOptions,
  holder: ResponseHolder | undefined,
  owner = 'sessionMiddleware',
): ManagedContext {
  const checks = owner === 'sessionMiddleware' ? middlewareChecks : createOptionChecks(owner);
  if (
    typeof manager !== 'object' ||
    (manager as unknown) === null ||
    typeof (manager as Partial<SessionManager>).patch !== 'function' ||
    typeof (manager as Partial<SessionManager>).withLock !== 'function'
  ) {
    throw checks.invalid('manager', 'a SessionManager');
  }
  const { cookie, lock, touchAfterMs, maxLifetimeMs, degradedHeader, logger } =
    resolveManagedOptions(options, checks, manager.rollingTtlMs);
  const stats = createStats();
  const ctx: ManagedContext = {
    manager,
    signer: new SessionCookieSigner(options.secrets, owner),
    cookie,
    lockRequests: lock === 'request',
    touchAfterMs,
    maxLifetimeMs,
    degradedHeader,
    logger,
    stats,
    holder,
  };
  return ctx;
}

/**
 * The request's session cookie, verified; `undefined` when it sent none. A
 * cookie that fails its check is counted and logged here, the same way for
 * every adapter; the request's session then starts fresh.
 *
 * @param header the request's `Cookie` header
 */
export function requestCookie(
  ctx: ManagedContext,
  header: string | undefined,
): VerifiedCookie | RejectedCookie | undefined {
  const raw = readCookie(header, ctx.cookie.name);
  const cookie = raw === undefined ? undefined : ctx.signer.verify(raw);
  if (cookie !== undefined && !cookie.ok) {
    ctx.stats.rejectedCookies += 1;
    ctx.logger.warn(
      { reason: cookie.reason, sessionIdHash: cookie.claimedIdHash, cookie: ctx.cookie.name },
      'session cookie rejected: starting a fresh session',
    );
  }
  return cookie;
}
