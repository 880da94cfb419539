import {
  copySessionData,
  SessionValidationError,
  assertValidUserId,
  generateSessionId,
  toSessionError,
} from '@session-cluster/core';
import type { SessionData } from '@session-cluster/core';
import type { CookieSealer, SealedSession } from '@session-cluster/store-cookie';
import { clearSessionCookie, setSessionCookie } from './cookie-header.js';
import type { ResolvedCookieOptions, SessionLogger } from './middleware-options.js';
import type { MiddlewareStats } from './managed-context.js';
import type { RegenerateSessionOptions } from './request-session.js';
import { assertMutator, assertPlainData, headersSentError } from './request-session.js';
import type { ResponseHolder, SessionResponse } from './response-hold.js';
import { TrackedSession } from './tracked-session.js';
import type { FailureSink, StoredSession } from './tracked-session.js';

/** What every request session of one `sessionMiddleware({ store: 'cookie', … })` shares. */
export interface SealedContext {
  readonly sealer: CookieSealer;
  readonly cookie: ResolvedCookieOptions;
  readonly ttlMs: number;
  readonly touchAfterMs: number;
  /** Absolute lifetime from creation, ms; `undefined`: none. */
  readonly maxLifetimeMs: number | undefined;
  readonly logger: SessionLogger;
  /** How the response waits for the commit (see {@link ResponseHolder}). */
  readonly holder: ResponseHolder | undefined;
  readonly stats: MiddlewareStats;
}

/**
 * `req.session` for `store: 'cookie'`: the whole session travels sealed
 * (AES-256-GCM) in the cookie; nothing is stored on the server. The cookie
 * is opened when the request arrives and sealed again when something
 * changed or the expiry is due a roll.
 *
 * Stateless means: no cross-request concurrency control (two parallel
 * requests each send back their own cookie; the browser keeps the last),
 * no server-side revocation (`destroy` clears this browser's cookie; a
 * copied cookie stays valid until the expiry sealed in it), and no
 * `destroyAllForUser`.
 */
export class SealedRequestSession extends TrackedSession {
  private current: SealedSession | undefined;
  private cookieAction: 'none' | 'seal' | 'clear' = 'none';
  private touchDue = false;
  private pendingUserId: string | undefined;
  private newId = false;

  public constructor(
    private readonly ctx: SealedContext,
    res: SessionResponse,
    onFailure: FailureSink,
    cookieValue: string | undefined,
  ) {
    super(res, onFailure, ctx.logger, ctx.holder);
    if (cookieValue !== undefined) {
      try {
        const opened = ctx.sealer.open(cookieValue);
        if (ctx.maxLifetimeMs !== undefined && opened.createdAt + ctx.maxLifetimeMs <= Date.now()) {
          // Past its absolute lifetime: a fresh session, and the cookie goes.
          ctx.stats.sessionsPastLifetime += 1;
          this.cookieAction = 'clear';
        } else {
          this.current = opened;
          const lastRoll = opened.expiresAt - ctx.ttlMs;
          this.touchDue = Date.now() - lastRoll >= ctx.touchAfterMs;
        }
      } catch (error) {
        const { code } = toSessionError(error);
        ctx.stats.rejectedCookies += 1;
        ctx.logger.warn(
          { code, cookie: ctx.cookie.name },
          'sealed session cookie rejected: starting a fresh session',
        );
        this.cookieAction = 'clear';
      }
    }
    this.stored = this.current === undefined ? null : this.current;
    if (this.touchDue || this.cookieAction !== 'none') this.arm();
  }

  public get id(): string | undefined {
    return this.current?.id;
  }

  public get degraded(): boolean {
    return false;
  }

  public async update(
    fn: (data: SessionData) => SessionData | Promise<SessionData>,
  ): Promise<Readonly<SessionData>> {
    assertMutator(fn);
    const base = this.current?.data ?? {};
    const before = this.pending.applyTo(base);
    const next = await fn(copySessionData(before));
    assertPlainData(next);
    this.pending.recordDiff(before, next);
    this.arm();
    return this.pending.applyTo(base);
  }

  public regenerate(options: RegenerateSessionOptions = {}): Promise<void> {
    if (options.userId !== undefined) assertValidUserId(options.userId, 'regenerate');
    this.pendingUserId = options.userId ?? this.pendingUserId;
    this.newId = true;
    this.cookieAction = 'seal';
    this.arm();
    return Promise.resolve();
  }

  public destroy(): Promise<void> {
    this.current = undefined;
    this.resetLoaded(null);
    this.pending.clear();
    this.pendingUserId = undefined;
    this.newId = false;
    this.touchDue = false;
    this.cookieAction = 'clear';
    this.arm();
    return Promise.resolve();
  }

  public destroyAllForUser(): Promise<number> {
    return Promise.reject(
      new SessionValidationError(
        "destroyAllForUser needs server-side sessions: with store: 'cookie' there is nothing to revoke " +
          '(rotate the cookie keys to end every session)',
        { code: 'INVALID_CONFIG', field: 'store', operation: 'destroyAllForUser' },
      ),
    );
  }

  protected fetch(): Promise<StoredSession | null> {
    return Promise.resolve(this.current ?? null);
  }

  protected dirty(): boolean {
    return !this.pending.empty || this.touchDue || this.cookieAction !== 'none';
  }

  protected write(): Promise<void> {
    // A throw in the executor (seal refusing the size) becomes the rejection.
    return new Promise((resolve) => {
      this.writeNow();
      resolve();
    });
  }

  private writeNow(): void {
    const base = this.current;
    if (base === undefined && this.cookieAction !== 'seal' && !this.pending.changesAnything({})) {
      // Only removals on no session: still nothing worth a cookie.
      this.pending.clear();
    }
    const changed = !this.pending.empty || this.cookieAction === 'seal';
    if (changed || (this.touchDue && base !== undefined)) {
      const now = Date.now();
      const fresh = base === undefined || this.newId;
      const createdAt = fresh ? now : base.createdAt;
      const { maxLifetimeMs } = this.ctx;
      const next: SealedSession = {
        id: fresh ? generateSessionId() : base.id,
        userId: this.pendingUserId ?? base?.userId,
        data: this.pending.applyTo(base?.data ?? {}),
        // A regenerate (login) starts a new session: its lifetime too.
        createdAt,
        // Rolling, but never past the absolute lifetime.
        expiresAt:
          maxLifetimeMs === undefined
            ? now + this.ctx.ttlMs
            : Math.min(now + this.ctx.ttlMs, createdAt + maxLifetimeMs),
      };
      const value = this.ctx.sealer.seal(next); // PAYLOAD_TOO_LARGE surfaces here
      if (this.res.headersSent) throw headersSentError();
      setSessionCookie(this.res, this.ctx.cookie, value);
      if (base === undefined) this.ctx.stats.sessionsCreated += 1;
      this.current = next;
      this.resetLoaded(next);
      this.pending.clear();
      this.pendingUserId = undefined;
      this.newId = false;
    } else if (this.cookieAction === 'clear' && !this.res.headersSent) {
      clearSessionCookie(this.res, this.ctx.cookie);
    }
    this.touchDue = false;
    this.cookieAction = 'none';
  }
}
