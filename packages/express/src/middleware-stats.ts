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
