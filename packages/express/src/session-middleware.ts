import { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { SessionValidationError } from '@session-cluster/core';
import type { SessionError } from '@session-cluster/core';
import type { SessionManager } from '@session-cluster/manager';
import { CookieSealer } from '@session-cluster/store-cookie';
import { readCookie } from './cookie-header.js';
import { createManagedContext, createStats, requestCookie } from './managed-context.js';
import { ManagedSession } from './managed-session.js';
import { resolveSealedOptions } from './middleware-options.js';
import type { CookieStoreSessionOptions, ManagedSessionOptions } from './middleware-options.js';
import type { SessionMiddlewareStats } from './managed-context.js';
import type { RequestSession } from './request-session.js';
import { holdResponse } from './response-hold.js';
import { SealedRequestSession } from './sealed-session.js';
import type { SealedContext } from './sealed-session.js';
import type { ResponseHolder } from './response-hold.js';

/** Express's `next`. */
export type NextFunction = (error?: unknown) => void;

/** The middleware: an Express request handler with counters. */
export interface SessionMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: NextFunction): void;
  /** Process-local counters (rejected cookies, sessions created, commit failures). */
  readonly stats: SessionMiddlewareStats;
}

/** Where the middleware puts the session: `req.session`. */
interface RequestWithSession {
  session?: RequestSession;
}

/**
 * Express middleware giving every request `req.session` (see
 * {@link RequestSession}; `sessionOf(req)` reads it with types).
 *
 * `sessionMiddleware(manager, options)`: sessions live in the manager's
 * store (Redis, shared by every instance, with the memory fallback); the
 * cookie carries only a signed id. `sessionMiddleware({ store: 'cookie', … })`:
 * stateless sessions sealed in the cookie (AES-256-GCM).
 *
 * - The cookie is `HttpOnly`, `SameSite=Lax` and `Secure` by default
 *   (`Secure` off only when `NODE_ENV=development`).
 * - A tampered, unsigned, malformed or expired cookie starts a fresh
 *   session — never an error, never someone else's session — and is
 *   counted (`stats.rejectedCookies`) and logged with the id's hash.
 * - Nothing is read until the handler asks; nothing is stored until it
 *   writes (no cookie, no Redis key for a visitor that never logs in).
 * - Changes are committed when the response starts; a failed commit reaches
 *   Express's error handler as a `SessionError` instead of the response.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 * @example
 * ```ts
 * const cluster = createSessionCluster({ redis: { url: process.env.REDIS_URL! } });
 * app.use(sessionMiddleware(cluster.manager, { secrets: [process.env.SESSION_SECRET!] }));
 * app.post('/visit', async (req, res) => {
 *   const data = await sessionOf(req).update((d) => ({ ...d, visits: Number(d.visits ?? 0) + 1 }));
 *   res.json(data);
 * });
 * ```
 */
export function sessionMiddleware(
  manager: SessionManager,
  options: ManagedSessionOptions,
): SessionMiddleware;
export function sessionMiddleware(options: CookieStoreSessionOptions): SessionMiddleware;
export function sessionMiddleware(
  first: SessionManager | CookieStoreSessionOptions,
  second?: ManagedSessionOptions,
): SessionMiddleware {
  if (second === undefined) {
    const options = first as CookieStoreSessionOptions;
    const store: unknown = (options as { store?: unknown } | null | undefined)?.store;
    if (store !== 'cookie') {
      throw new SessionValidationError(
        "sessionMiddleware: expected (manager, options), or ({ store: 'cookie', keys, … })",
        { code: 'INVALID_CONFIG', field: 'store' },
      );
    }
    return sealedMiddleware(options);
  }
  return managedMiddleware(first as SessionManager, second);
}

function managedMiddleware(
  manager: SessionManager,
  options: ManagedSessionOptions,
): SessionMiddleware {
  const ctx = createManagedContext(manager, options, holdServerResponse);
  const { stats } = ctx;

  const middleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction): void => {
    const carrier = req as IncomingMessage & RequestWithSession;
    // One session per request: a second middleware on the same path keeps the first's.
    if (carrier.session !== undefined) {
      next();
      return;
    }
    const cookie = requestCookie(ctx, req.headers.cookie);
    carrier.session = new ManagedSession(ctx, res, failureSink(stats, next), cookie);
    if (ctx.degradedHeader !== undefined && manager.degraded)
      res.setHeader(ctx.degradedHeader, '1');
    next();
  };
  return Object.assign(middleware, { stats });
}

function sealedMiddleware(options: CookieStoreSessionOptions): SessionMiddleware {
  const { cookie, ttlMs, touchAfterMs, maxLifetimeMs, logger } = resolveSealedOptions(options);
  const stats = createStats();
  const ctx: SealedContext = {
    holder: holdServerResponse,
    sealer: new CookieSealer({
      keys: options.keys,
      cookieName: cookie.name,
      maxCookieBytes: options.maxCookieBytes,
    }),
    cookie,
    ttlMs,
    touchAfterMs,
    maxLifetimeMs,
    logger,
    stats,
  };
  const middleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction): void => {
    const carrier = req as IncomingMessage & RequestWithSession;
    if (carrier.session !== undefined) {
      next();
      return;
    }
    const raw = readCookie(req.headers.cookie, ctx.cookie.name);
    carrier.session = new SealedRequestSession(ctx, res, failureSink(stats, next), raw);
    next();
  };
  return Object.assign(middleware, { stats });
}

/**
 * Express's commit trigger: hold the Node response at its first byte. This
 * middleware builds sessions over the `ServerResponse` Express hands it and
 * over nothing else; the check only narrows the type.
 */
const holdServerResponse: ResponseHolder = (res, hooks) => {
  if (!(res instanceof ServerResponse)) throw new TypeError('expected a ServerResponse');
  holdResponse(res, hooks);
};

function failureSink(
  stats: { commitFailures: number },
  next: NextFunction,
): (error: SessionError) => void {
  return (error) => {
    stats.commitFailures += 1;
    next(error);
  };
}
