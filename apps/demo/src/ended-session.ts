import type { SessionCookieSigner } from '@session-cluster/express';

/** What {@link EndedSessionCheck} needs to read the session cookie the way the middleware does. */
export interface EndedSessionCheckOptions {
  readonly signer: SessionCookieSigner;
  readonly cookieName: string;
  /** Session lifetime, ms (the middleware's and the store's). */
  readonly ttlMs: number;
}

/**
 * Tells "your session was ended elsewhere" from "you never logged in" or
 * "it expired", for the notice a revoked browser sees.
 *
 * The cookie carries the time its session's expiry was last rolled
 * (`touchedAt`), and every roll sets the stored expiry to now + TTL, so the
 * stored session lives at least until `touchedAt + ttlMs`. A signed cookie
 * still inside that window whose session is gone was deleted on purpose:
 * revoked from another device ("log out other devices", a revoke button),
 * or lost with Redis's data.
 */
export class EndedSessionCheck {
  public constructor(private readonly options: EndedSessionCheckOptions) {}

  /**
   * True when `cookieHeader` carries a session cookie that verifies and
   * cannot have expired by `now`. Call it only once the session was found
   * missing (and not while degraded, when a miss means "not in memory").
   */
  public cookieOutlivedItsSession(cookieHeader: string | undefined, now: number): boolean {
    const value = readCookie(cookieHeader, this.options.cookieName);
    if (value === undefined) return false;
    const cookie = this.options.signer.verify(value);
    return cookie.ok && now < cookie.touchedAt + this.options.ttlMs;
  }
}

/** Value of cookie `name` in a `Cookie` header (session cookies are base64url and dots: no decoding). */
function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
