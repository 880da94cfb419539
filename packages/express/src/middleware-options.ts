import { createOptionChecks } from '@session-cluster/core';
import type { OptionChecks, ResolvedOptions } from '@session-cluster/core';
import { serialize } from 'cookie';
import type { EncryptionKey } from '@session-cluster/core';

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  /** Cookie name. Default `sc.sid` (Redis-backed) or `sc.sess` (`store: 'cookie'`). */
  readonly name?: string | undefined;
  /**
   * `Secure` attribute. Default: on, unless `NODE_ENV` is `development`.
   * Browsers accept `Secure` cookies over plain HTTP only from `localhost`.
   */
  readonly secure?: boolean | undefined;
  /** `HttpOnly` attribute. Default `true` (scripts cannot read the cookie). */
  readonly httpOnly?: boolean | undefined;
  /** `SameSite` attribute. Default `lax`. `none` requires `secure`. */
  readonly sameSite?: 'lax' | 'strict' | 'none' | undefined;
  /**
   * `Max-Age`, ms. Default: none (the cookie lives until the browser
   * closes; the server-side expiry still applies). Re-sent whenever the
   * session's expiry rolls, so it rolls too.
   */
  readonly maxAgeMs?: number | undefined;
  /** `Path` attribute. Default `/`. */
  readonly path?: string | undefined;
  /** `Domain` attribute. Default: none (host-only cookie). */
  readonly domain?: string | undefined;
}

/** Where rejected cookies and late failures are reported (pino's `warn(obj, msg)` fits). */
export interface SessionLogger {
  warn(details: Readonly<Record<string, unknown>>, message: string): void;
}

/** Options shared by both kinds of session. */
export interface CommonSessionOptions {
  readonly cookie?: SessionCookieOptions | undefined;
  /**
   * Rolling-expiry throttle, ms: a session's expiry is moved (and its
   * cookie re-sent) at most once per `touchAfterMs`, so reading a session
   * does not cost a write per request. Writes roll it anyway. Default 60 000.
   */
  readonly touchAfterMs?: number | undefined;
  /** Rejected cookies and failures after the response started. Default: one JSON line on stderr. */
  readonly logger?: SessionLogger | undefined;
  /**
   * Absolute lifetime of a session from its creation (a login's
   * `regenerate` starts a new one), ms, however active it is: a session —
   * and a stolen cookie — cannot be kept alive by use past it. Then the
   * session is ended (deleted, its id retired) and the request starts a
   * fresh one. Default 7 days; `false` for none.
   */
  readonly maxLifetimeMs?: number | false | undefined;
}

/** Options of `sessionMiddleware(manager, options)`: sessions in the manager's store (Redis). */
export interface ManagedSessionOptions extends CommonSessionOptions {
  readonly store?: 'manager' | undefined;
  /**
   * Secrets that sign the session cookie (HMAC-SHA256), at least 32
   * characters each. The first signs; every one verifies, so a secret is
   * rotated by putting a new one first and dropping the old one later.
   */
  readonly secrets: string | readonly string[];
  /**
   * `none` (default): changes are committed at the end of the response as
   * one atomic field-level patch, and `update(fn)` is the manager's
   * lossless read-modify-write (compare-and-set; the session lock only when
   * the session is contended, unless the manager's `update.lock` is
   * `'always'`). `request`: the session's lock is taken at its first
   * read and held until the response is committed, so requests of one
   * session run their session work one at a time across instances (PHP /
   * ASP.NET style), for handlers that read a key, compute, and set it.
   */
  readonly lock?: 'none' | 'request' | undefined;
  /**
   * Response header set (to `1`) while the manager serves from its
   * in-memory fallback, or `false` for none. Default `X-Session-Degraded`.
   */
  readonly degradedHeader?: string | false | undefined;
}

/** Options of `sessionMiddleware({ store: 'cookie', … })`: stateless sessions sealed in the cookie. */
export interface CookieStoreSessionOptions extends CommonSessionOptions {
  readonly store: 'cookie';
  /** AES-256-GCM key ring: the first seals, any opens. */
  readonly keys: readonly EncryptionKey[];
  /** Session lifetime (rolling), ms. Default 30 min. */
  readonly ttlMs?: number | undefined;
  /** Largest sealed `name=value`, bytes. Default 4096. */
  readonly maxCookieBytes?: number | undefined;
}

/** Defaults of the middleware options. */
export const SESSION_MIDDLEWARE_DEFAULTS = Object.freeze({
  managedCookieName: 'sc.sid',
  sealedCookieName: 'sc.sess',
  touchAfterMs: 60_000,
  degradedHeader: 'X-Session-Degraded',
  cookieTtlMs: 30 * 60_000,
  maxLifetimeMs: 7 * 24 * 3_600_000,
});

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/**
 * The checks of {@link sessionMiddleware}'s options, whose errors say
 * `sessionMiddleware option …`. The resolvers below take the adapter's own
 * (Fastify's plugin names itself), defaulting to these.
 */
export const middlewareChecks = createOptionChecks('sessionMiddleware');

/** A `SessionValidationError` (`INVALID_CONFIG`) for `field`. */
export const invalidOption = middlewareChecks.invalid;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const COOKIE_PATH = /^\/[^;\s\u0000-\u001f\u007f]*$/;

function cookieRules(defaultName: string, env: NodeJS.ProcessEnv, checks: OptionChecks) {
  return {
    name: checks.matching(
      COOKIE_NAME,
      defaultName,
      '1 to 64 cookie-name characters (RFC 6265 token)',
    ),
    secure: checks.flag(env['NODE_ENV'] !== 'development'),
    httpOnly: checks.flag(true),
    sameSite: checks.oneOf(['lax', 'strict', 'none'], 'lax'),
    // Max-Age is whole seconds: under 1 000 ms it would be 0, which tells
    // the browser to delete the cookie at once.
    maxAgeMs: checks.int(undefined, 1_000),
    path: checks.matching(
      COOKIE_PATH,
      '/',
      "a path starting with '/' without ';', spaces or control characters",
    ),
    domain: checks.matching(/^\.?[A-Za-z0-9.-]{1,253}$/, undefined, 'a host name'),
  };
}

/** Cookie attributes with defaults applied. */
export type ResolvedCookieOptions = ResolvedOptions<ReturnType<typeof cookieRules>>;

/** Check cookie attributes and apply defaults. */
export function resolveCookieOptions(
  value: SessionCookieOptions | undefined,
  defaultName: string,
  env: NodeJS.ProcessEnv = process.env,
  checks: OptionChecks = middlewareChecks,
): ResolvedCookieOptions {
  const cookie = checks.resolve(
    cookieRules(defaultName, env, checks),
    value === undefined ? {} : value,
    'cookie.',
  );
  const { name, path, domain } = cookie;
  if (cookie.sameSite === 'none' && !cookie.secure) {
    throw checks.invalid(
      'cookie.sameSite',
      "'lax' or 'strict' unless cookie.secure (browsers drop SameSite=None without Secure)",
    );
  }
  // The cookie library's own rules (what every commit will run): caught
  // here, at construction, instead of failing every response (a non-ASCII
  // path passes the checks above).
  assertSerializable(name, { path }, 'cookie.path', 'a path of printable ASCII', checks);
  if (domain !== undefined) {
    assertSerializable(name, { domain }, 'cookie.domain', 'a host name', checks);
  }
  return cookie;
}

function assertSerializable(
  name: string,
  attributes: { readonly path?: string; readonly domain?: string },
  field: string,
  expected: string,
  checks: OptionChecks,
): void {
  try {
    serialize(name, 'probe', attributes);
  } catch {
    throw checks.invalid(field, expected);
  }
}

/** Check `touchAfterMs` (integer ≥ 0) and apply the default. */
export function resolveTouchAfter(value: unknown, checks = middlewareChecks): number {
  return checks.integer(value, 'touchAfterMs', 0) ?? SESSION_MIDDLEWARE_DEFAULTS.touchAfterMs;
}

/** Check `maxLifetimeMs` and apply the default; `undefined`: no absolute lifetime. */
export function resolveMaxLifetime(value: unknown, checks = middlewareChecks): number | undefined {
  if (value === undefined) return SESSION_MIDDLEWARE_DEFAULTS.maxLifetimeMs;
  if (value === false) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1_000) {
    throw checks.invalid('maxLifetimeMs', 'an integer >= 1000 (ms), or false');
  }
  return value;
}

/** Check `degradedHeader` and apply the default. */
export function resolveDegradedHeader(
  value: unknown,
  checks = middlewareChecks,
): string | undefined {
  if (value === undefined) return SESSION_MIDDLEWARE_DEFAULTS.degradedHeader;
  if (value === false) return undefined;
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    throw checks.invalid('degradedHeader', 'a header name or false');
  }
  return value;
}

/** Check a logger and apply the default (one JSON line per event on stderr). */
export function resolveLogger(value: unknown, checks = middlewareChecks): SessionLogger {
  if (value === undefined) return STDERR_LOGGER;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as Partial<SessionLogger>).warn !== 'function'
  ) {
    throw checks.invalid('logger', 'an object with warn(details, message)');
  }
  return value as SessionLogger;
}

const STDERR_LOGGER: SessionLogger = {
  warn(details, message) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...details })}\n`);
  },
};
