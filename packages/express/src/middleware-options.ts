import { createOptionChecks } from '@session-cluster/core';
import type { OptionChecks, ResolvedOptions } from '@session-cluster/core';
import { serialize } from 'cookie';
import type { EncryptionKey } from '@session-cluster/core';

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  /** Cookie name. Default `sc.sid` (Redis-backed) or `sc.sess` (`store: 'cookie'`). */
  readonly name?: string | undefined;
  /** `Secure` attribute. Default on, unless `NODE_ENV` is `development`. */
  readonly secure?: boolean | undefined;
  /** `HttpOnly` attribute. Default `true` (scripts cannot read the cookie). */
  readonly httpOnly?: boolean | undefined;
  /** `SameSite` attribute. Default `lax`. `none` requires `secure`. */
  readonly sameSite?: 'lax' | 'strict' | 'none' | undefined;
  /** `Max-Age`, ms (≥ 1 000), re-sent as the expiry rolls. Default none: a browser-session cookie. */
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
  /** A read moves the expiry (and re-sends the cookie) at most once per this, ms. Default 60 000. */
  readonly touchAfterMs?: number | undefined;
  /** Rejected cookies and failures after the response started. Default: one JSON line on stderr. */
  readonly logger?: SessionLogger | undefined;
  /**
   * Absolute lifetime from creation (or `regenerate`), ms, however active:
   * then the session ends and the request starts afresh, so a stolen cookie
   * cannot be kept alive by use. Default 7 days; `false` for none.
   */
  readonly maxLifetimeMs?: number | false | undefined;
}

/** Options of `sessionMiddleware(manager, options)`: sessions in the manager's store (Redis). */
export interface ManagedSessionOptions extends CommonSessionOptions {
  readonly store?: 'manager' | undefined;
  /** Cookie signing secrets (HMAC-SHA256, ≥ 32 characters): the first signs, all verify. */
  readonly secrets: string | readonly string[];
  /**
   * `none` (default): changes commit at the end of the response as one
   * atomic patch; `update(fn)` is the manager's lossless read-modify-write.
   * `request`: the session's lock is held from its first read to the commit,
   * so one session's requests run one at a time across instances.
   */
  readonly lock?: 'none' | 'request' | undefined;
  /** Header set to `1` while serving from the fallback, or `false`. Default `X-Session-Degraded`. */
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
  const attributes = [['path', { path }, 'a path of printable ASCII']] as const;
  for (const [field, attribute, expected] of domain === undefined
    ? attributes
    : [...attributes, ['domain', { domain }, 'a host name'] as const]) {
    try {
      serialize(name, 'probe', attribute);
    } catch {
      throw checks.invalid(`cookie.${field}`, expected);
    }
  }
  return cookie;
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
  const logger = checks.implementing<SessionLogger, SessionLogger>(
    ['warn'],
    'an object with warn(details, message)',
    STDERR_LOGGER,
  );
  return logger(value, 'logger');
}

const STDERR_LOGGER: SessionLogger = {
  warn(details, message) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...details })}\n`);
  },
};
