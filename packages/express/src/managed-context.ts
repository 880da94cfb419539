import { createOptionChecks } from '@session-cluster/core';
import type { SessionManager } from '@session-cluster/manager';
import type { ManagedContext } from './managed-session.js';
import {
  SESSION_MIDDLEWARE_DEFAULTS,
  middlewareChecks,
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
  const invalidOption = checks.invalid;
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
    signer: new SessionCookieSigner(options.secrets, owner),
    cookie: resolveCookieOptions(
      options.cookie,
      SESSION_MIDDLEWARE_DEFAULTS.managedCookieName,
      process.env,
      checks,
    ),
    lockRequests: lock === 'request',
    touchAfterMs: resolveTouchAfter(options.touchAfterMs, checks),
    maxLifetimeMs: resolveMaxLifetime(options.maxLifetimeMs, checks),
    degradedHeader: resolveDegradedHeader(options.degradedHeader, checks),
    logger: resolveLogger(options.logger, checks),
    stats,
    holder,
  };
  return ctx;
}
