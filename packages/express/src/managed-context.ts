import type { SessionManager } from '@session-cluster/manager';
import type { ManagedContext } from './managed-session.js';
import {
  SESSION_MIDDLEWARE_DEFAULTS,
  invalidOption,
  resolveCookieOptions,
  resolveDegradedHeader,
  resolveLogger,
  resolveMaxLifetime,
  resolveTouchAfter,
} from './middleware-options.js';
import type { ManagedSessionOptions } from './middleware-options.js';
import { createStats } from './middleware-stats.js';
import type { ResponseHolder } from './session-response.js';
import { SessionCookieSigner } from './signed-cookie.js';

/**
 * Check `(manager, options)` once, at the framework adapter's public door
 * (Express's `sessionMiddleware`, Fastify's plugin), and resolve what every
 * request session of that adapter shares.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 */
export function createManagedContext(
  manager: SessionManager,
  options: ManagedSessionOptions,
  holder: ResponseHolder | undefined,
): ManagedContext {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw invalidOption('options', 'an options object');
  }
  if (
    typeof manager !== 'object' ||
    (manager as unknown) === null ||
    typeof (manager as Partial<SessionManager>).patch !== 'function' ||
    typeof (manager as Partial<SessionManager>).withLock !== 'function'
  ) {
    throw invalidOption('manager', 'a SessionManager');
  }
  const store: unknown = options.store;
  if (store !== undefined && store !== 'manager') {
    throw invalidOption('store', "'manager' (or pass ({ store: 'cookie', … }) alone)");
  }
  const lock: unknown = options.lock ?? 'none';
  if (lock !== 'none' && lock !== 'request') throw invalidOption('lock', "'none' or 'request'");
  const stats = createStats();
  const ctx: ManagedContext = {
    manager,
    signer: new SessionCookieSigner(options.secrets),
    cookie: resolveCookieOptions(options.cookie, SESSION_MIDDLEWARE_DEFAULTS.managedCookieName),
    lockRequests: lock === 'request',
    touchAfterMs: resolveTouchAfter(options.touchAfterMs),
    maxLifetimeMs: resolveMaxLifetime(options.maxLifetimeMs),
    degradedHeader: resolveDegradedHeader(options.degradedHeader),
    logger: resolveLogger(options.logger),
    stats,
    holder,
  };
  return ctx;
}
