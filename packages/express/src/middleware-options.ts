import { createOptionChecks } from '@session-cluster/core';
import type {
  EncryptionKey,
  OptionChecks,
  OptionsOf,
  ResolvedOptions,
} from '@session-cluster/core';

/** Where rejected cookies and late failures are reported (pino's `warn(obj, msg)` fits). */
export interface SessionLogger {
  warn(details: Readonly<Record<string, unknown>>, message: string): void;
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

/** A cookie or header name: an RFC 7230 token, 1 to 64 characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/** The checks of {@link sessionMiddleware}'s options; the resolvers take an adapter's own (Fastify's). */
export const middlewareChecks = createOptionChecks('sessionMiddleware');

// The cookie library's own rules (checked at every commit), with no space in a path.
const COOKIE_PATH = /^\/[!-:=-~]*$/;
const COOKIE_DOMAIN =
  /^(?=.{1,253}$)\.?[a-z\d]([a-z\d-]{0,61}[a-z\d])?(\.[a-z\d]([a-z\d-]{0,61}[a-z\d])?)*$/i;

function cookieRules(defaultName: string, checks: OptionChecks) {
  return {
    /** Cookie name. Default `sc.sid` (Redis-backed) or `sc.sess` (`store: 'cookie'`). */
    name: checks.matching(TOKEN, defaultName, '1 to 64 cookie-name characters (RFC 6265 token)'),
    /** `Secure` attribute. Default on, unless `NODE_ENV` is `development`. */
    secure: checks.flag(process.env['NODE_ENV'] !== 'development'),
    /** `HttpOnly` attribute. Default `true` (scripts cannot read the cookie). */
    httpOnly: checks.flag(true),
    /** `SameSite` attribute. Default `lax`. `none` requires `secure`. */
    sameSite: checks.oneOf(['lax', 'strict', 'none'], 'lax'),
    // Max-Age is whole seconds: under 1 000 ms it would be 0, which deletes the cookie.
    /** `Max-Age`, ms (≥ 1 000), re-sent as the expiry rolls. Default none: a browser-session cookie. */
    maxAgeMs: checks.int(undefined, 1_000),
    /** `Path` attribute. Default `/`. */
    path: checks.matching(
      COOKIE_PATH,
      '/',
      "a path of printable ASCII from '/', without ';', '<' or spaces",
    ),
    /** `Domain` attribute. Default: none (host-only cookie). */
    domain: checks.matching(COOKIE_DOMAIN, undefined, 'a host name'),
  };
}

/** Attributes of the session cookie. */
export type SessionCookieOptions = OptionsOf<ReturnType<typeof cookieRules>>;
/** Cookie attributes with defaults applied. */
export type ResolvedCookieOptions = ResolvedOptions<ReturnType<typeof cookieRules>>;

/** Check cookie attributes and apply defaults. */
export function resolveCookieOptions(
  value: SessionCookieOptions | undefined,
  defaultName: string,
  checks: OptionChecks = middlewareChecks,
): ResolvedCookieOptions {
  const cookie = checks.resolve(
    cookieRules(defaultName, checks),
    value === undefined ? {} : value,
    'cookie.',
  );
  if (cookie.sameSite === 'none' && !cookie.secure) {
    throw checks.invalid(
      'cookie.sameSite',
      "'lax' or 'strict' unless cookie.secure (browsers drop SameSite=None without Secure)",
    );
  }
  return cookie;
}

const D = SESSION_MIDDLEWARE_DEFAULTS;

const STDERR_LOGGER: SessionLogger = {
  warn(details, message) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...details })}\n`);
  },
};

function commonRules(checks: OptionChecks) {
  return {
    /** Attributes of the session cookie. */
    cookie: checks.typed<SessionCookieOptions | undefined>(),
    /**
     * A read moves the expiry (and re-sends the cookie) at most once per this, ms, below the
     * session's ttlMs. Default 60 000, at most half the ttlMs.
     */
    touchAfterMs: checks.int(D.touchAfterMs, 0),
    /** Rejected cookies and failures after the response started. Default: one JSON line on stderr. */
    logger: checks.implementing<SessionLogger, SessionLogger>(
      ['warn'],
      'an object with warn(details, message)',
      STDERR_LOGGER,
    ),
    /**
     * Absolute lifetime from creation (or `regenerate`), ms, however active, so a stolen cookie
     * cannot be kept alive by use. Default 7 days; `false` for none.
     */
    maxLifetimeMs: checks.orFalse(checks.int(D.maxLifetimeMs, 1_000)),
  };
}

function managedRules(checks: OptionChecks) {
  return {
    ...commonRules(checks),
    store: checks.oneOf(
      ['manager'],
      undefined,
      "'manager' (or pass ({ store: 'cookie', … }) alone)",
    ),
    /** Cookie signing secrets (HMAC-SHA256, ≥ 32 characters): the first signs, all verify. */
    secrets: checks.typed<string | readonly string[]>(),
    /**
     * `none` (default): changes commit at the end of the response as one atomic patch. `request`:
     * the session's lock is held from its first read to the commit (one request at a time, across instances).
     */
    lock: checks.oneOf(['none', 'request'], 'none'),
    /** Header set to `1` while serving from the fallback, or `false`. Default `X-Session-Degraded`. */
    degradedHeader: checks.orFalse(checks.matching(TOKEN, D.degradedHeader, 'a header name')),
  };
}

function sealedRules(checks: OptionChecks) {
  return {
    ...commonRules(checks),
    store: checks.typed<'cookie'>(),
    /** Stateless sessions have no lock to hold: `'none'` only. */
    lock: checks.oneOf(
      ['none'],
      undefined,
      "'none': stateless cookie sessions have no lock to hold",
    ),
    /** AES-256-GCM key ring: the first seals, any opens. */
    keys: checks.typed<readonly EncryptionKey[]>(),
    /** Session lifetime (rolling), ms. Default 30 min. */
    ttlMs: checks.int(D.cookieTtlMs, 1),
    /** Largest sealed `name=value`, bytes. Default 4096. */
    maxCookieBytes: checks.typed<number | undefined>(),
  };
}

/** Options shared by both kinds of session. */
export type CommonSessionOptions = OptionsOf<ReturnType<typeof commonRules>>;
/** Options of `sessionMiddleware(manager, options)`: sessions in the manager's store (Redis). */
export type ManagedSessionOptions = OptionsOf<ReturnType<typeof managedRules>>;
/** Options of `sessionMiddleware({ store: 'cookie', … })`: stateless sessions sealed in the cookie. */
export type CookieStoreSessionOptions = OptionsOf<ReturnType<typeof sealedRules>>;

/**
 * `touchAfterMs` kept below the expiry a roll sets (`ttlMs`), or a session
 * in steady use would expire between two rolls: absent, the default is
 * capped at half of `ttlMs`; given, at or above `ttlMs` it is refused.
 * `ttlMs` undefined (expiry does not roll): `touchAfterMs` as resolved.
 *
 * @throws SessionValidationError `INVALID_CONFIG` (field `touchAfterMs`)
 */
export function touchAfterWithin(
  given: unknown,
  resolved: number,
  ttlMs: number | undefined,
  checks: OptionChecks = middlewareChecks,
): number {
  if (ttlMs === undefined) return resolved;
  if (given === undefined) return Math.min(resolved, Math.floor(ttlMs / 2));
  if (resolved >= ttlMs) {
    throw checks.invalid(
      'touchAfterMs',
      `an integer from 0 to ${ttlMs - 1}, below the session ttlMs (${ttlMs}): ` +
        'a session used more often than it expires must not expire between two rolls',
    );
  }
  return resolved;
}

/**
 * Check {@link ManagedSessionOptions} (not the secrets: the signer does) and apply defaults.
 * @param rollingTtlMs the expiry a roll sets (the manager's `rollingTtlMs`), bounding `touchAfterMs`
 * @throws SessionValidationError
 */
export function resolveManagedOptions(
  options: ManagedSessionOptions,
  checks = middlewareChecks,
  rollingTtlMs?: number,
) {
  const resolved = checks.resolve(managedRules(checks), options);
  const cookie = resolveCookieOptions(resolved.cookie, D.managedCookieName, checks);
  const touchAfterMs = touchAfterWithin(
    options.touchAfterMs,
    resolved.touchAfterMs,
    rollingTtlMs,
    checks,
  );
  return { ...resolved, cookie, touchAfterMs };
}

/** Check {@link CookieStoreSessionOptions} (not keys and size: the sealer does); `Max-Age` defaults to `ttlMs`. */
export function resolveSealedOptions(options: CookieStoreSessionOptions) {
  const resolved = middlewareChecks.resolve(sealedRules(middlewareChecks), options);
  const cookie = { maxAgeMs: resolved.ttlMs, ...resolved.cookie };
  return {
    ...resolved,
    cookie: resolveCookieOptions(cookie, D.sealedCookieName),
    touchAfterMs: touchAfterWithin(options.touchAfterMs, resolved.touchAfterMs, resolved.ttlMs),
  };
}
