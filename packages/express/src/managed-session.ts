import {
  copySessionData,
  SessionValidationError,
  assertValidUserId,
  hashSessionId,
  isSessionError,
  toSessionError,
} from '@session-cluster/core';
import type { SessionData, SessionRecord } from '@session-cluster/core';
import type { GetOptions, SessionManager } from '@session-cluster/manager';
import { clearSessionCookie, setSessionCookie } from './cookie-header.js';
import type { ResolvedCookieOptions, SessionLogger } from './middleware-options.js';
import type { MiddlewareStats } from './managed-context.js';
import type { DestroyAllOptions, RegenerateSessionOptions } from './request-session.js';
import { RequestLock } from './request-lock.js';
import type { RejectedCookie, SessionCookieSigner, VerifiedCookie } from './signed-cookie.js';
import type { ResponseHolder, SessionResponse } from './response-hold.js';
import { TrackedSession } from './tracked-session.js';
import type { FailureSink, StoredSession } from './tracked-session.js';
import { assertMutator, assertPlainData, headersSentError } from './request-session.js';

/** What every request session of one `sessionMiddleware(manager, …)` shares. */
export interface ManagedContext {
  readonly manager: SessionManager;
  readonly signer: SessionCookieSigner;
  readonly cookie: ResolvedCookieOptions;
  readonly lockRequests: boolean;
  readonly touchAfterMs: number;
  /** Absolute lifetime from creation, ms; `undefined`: none. */
  readonly maxLifetimeMs: number | undefined;
  readonly degradedHeader: string | undefined;
  readonly logger: SessionLogger;
  /** How the response waits for the commit (see {@link ResponseHolder}). */
  readonly holder: ResponseHolder | undefined;
  readonly stats: MiddlewareStats;
}

function isNotFound(error: unknown): boolean {
  return isSessionError(error) && error.code === 'SESSION_NOT_FOUND';
}

/**
 * The stored session exists but cannot be read: its integrity check failed,
 * or it was sealed with a key the ring no longer holds (or a wrong one).
 * Retrying cannot help, and failing every request would lock the visitor
 * out until it expires.
 */
function isUnreadable(error: unknown): error is { code: string } {
  return (
    isSessionError(error) &&
    (error.code === 'SESSION_CORRUPTED' ||
      error.code === 'DECRYPTION_FAILED' ||
      error.code === 'UNKNOWN_KEY_ID')
  );
}

/**
 * `req.session` over a {@link SessionManager} (Redis, with its memory
 * fallback): the cookie carries a signed session id; data lives in the store.
 *
 * Commit, when the response starts: pending changes → one `patch` (atomic,
 * field-level, rolls the expiry); no stored session yet → `create` (the
 * first write is what stores a session: empty sessions cost nothing); nothing
 * changed but the expiry is due a roll → `touch`. Then the lock (if held) is
 * released and the cookie set.
 */
export class ManagedSession extends TrackedSession {
  private currentId: string | undefined;
  private cookieAction: 'none' | 'issue' | 'clear' = 'none';
  private touchDue = false;
  /**
   * Read-your-writes: the version the browser's cookie says it last wrote
   * (reads ask for at least it), then the version this request wrote (the
   * cookie it gets carries it).
   */
  private knownVersion = 0;
  /**
   * When the browser learned {@link knownVersion}: what its cookie says
   * (`undefined` once this request wrote). A cached copy read well after it
   * answers even when older: Redis held nothing newer then (see core's
   * `LoadOptions.minVersionSince`).
   */
  private knownVersionSince: number | undefined;
  /**
   * The request's cookie: the roll time it was signed with, for its id. Within
   * `touchAfterMs` of it a write does not roll the expiry again (see
   * {@link rollDue}) and the cookie it re-issues keeps that time (the
   * version it carries says since when separately).
   */
  private signedRoll: VerifiedCookie | undefined;
  /**
   * Whether this request's patch left the expiry where it was (decided once,
   * at the write: the cookie must then keep the roll time it carried, even
   * if `touchAfterMs` ran out between the patch and the cookie).
   */
  private rollKept = false;
  /** Owner of a session created at commit (`regenerate({ userId })` before anything was stored). */
  private pendingUserId: string | undefined;
  /** Store a session at commit even if no key was set (a login on a fresh session). */
  private createRequested = false;
  private lock: RequestLock | undefined;
  private locking: Promise<RequestLock> | undefined;
  /**
   * Under `lock: 'request'`: the version of the current id loaded (or
   * written) while holding the lock. The commit is fenced with it.
   */
  private fencedVersion: number | undefined;
  /**
   * A `regenerate` that failed (lock wait timed out, store error, bad
   * options): the commit then fails too and writes nothing. Its pending
   * changes are typically the login itself, which must never reach the old
   * (possibly planted) id.
   */
  private regenerateFailure: unknown;

  public constructor(
    private readonly ctx: ManagedContext,
    res: SessionResponse,
    onFailure: FailureSink,
    cookie: VerifiedCookie | RejectedCookie | undefined,
  ) {
    super(res, onFailure, ctx.logger, ctx.holder);
    if (cookie === undefined) return;
    if (cookie.ok) {
      this.currentId = cookie.id;
      this.knownVersion = cookie.version;
      this.knownVersionSince = cookie.versionSince;
      this.signedRoll = cookie;
      this.touchDue = Date.now() - cookie.touchedAt >= ctx.touchAfterMs;
      if (cookie.rotated) this.cookieAction = 'issue';
      if (this.touchDue || cookie.rotated) this.arm();
    } else {
      this.cookieAction = 'clear';
      this.arm();
    }
  }

  public get id(): string | undefined {
    return this.currentId;
  }

  public get degraded(): boolean {
    return this.ctx.manager.degraded;
  }

  public async update(
    fn: (data: SessionData) => SessionData | Promise<SessionData>,
  ): Promise<Readonly<SessionData>> {
    assertMutator(fn);
    const { manager } = this.ctx;
    if (this.ctx.lockRequests && this.currentId !== undefined) {
      // The request holds the session's lock from its first read: the data
      // loaded under it is current, and the result is committed (patched)
      // before the lock is released.
      const stored = await this.ensureLoaded();
      if (stored !== null) {
        const current = this.pending.applyTo(stored.data);
        const next = await fn(copySessionData(current));
        assertPlainData(next);
        this.pending.recordDiff(current, next);
        this.arm();
        return this.pending.applyTo(stored.data);
      }
    }
    const id = this.currentId;
    if (id !== undefined) {
      try {
        const record = await manager.update(id, (data) => fn(this.pending.applyTo(data)));
        this.pending.clear();
        this.resetLoaded(record);
        // The cookie carries the version written (and the roll time).
        this.wrote(record.version);
        return record.data;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.forget('clear');
      }
    }
    const next = await fn(this.pending.applyTo({}));
    assertPlainData(next);
    const record = await this.createNow(next);
    return record.data;
  }

  public async regenerate(options: RegenerateSessionOptions = {}): Promise<void> {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new SessionValidationError('options: expected an object', {
        field: 'options',
        operation: 'regenerate',
      });
    }
    try {
      if (options.userId !== undefined) assertValidUserId(options.userId, 'regenerate');
      // Under lock: 'request' the regenerate runs under the request's own
      // lock (taken now if this request had not read the session yet), with
      // the version loaded under it: the old id is retired before the
      // handler goes on, and every pending change is committed to the new
      // id only. A request queued on the old id finds nothing.
      if (this.ctx.lockRequests && this.currentId !== undefined) await this.ensureLoaded();
      await this.regenerateNow(options);
    } catch (error) {
      this.regenerateFailure = error;
      this.arm();
      throw error;
    }
  }

  public async destroy(): Promise<void> {
    const id = this.currentId;
    this.forget('clear');
    this.arm();
    if (id !== undefined) await this.ctx.manager.delete(id);
  }

  public async destroyAllForUser(options: DestroyAllOptions = {}): Promise<number> {
    const stored = await this.ensureLoaded();
    const id = this.currentId;
    if (stored === null || stored.userId === undefined || id === undefined) return 0;
    if (options.keepCurrent === true) {
      return this.ctx.manager.deleteByUser(stored.userId, { except: [id] });
    }
    const deleted = await this.ctx.manager.deleteByUser(stored.userId);
    this.forget('clear');
    this.arm();
    return deleted;
  }

  /**
   * A live session the manager answers synchronously (its current cached
   * copy, at least the cookie's version), within its lifetime; anything
   * else — no copy, no session, past its lifetime, `lock: 'request'` (the
   * lock comes first) — is {@link fetch}'s to handle.
   */
  protected override fetchCached(): StoredSession | undefined {
    const id = this.currentId;
    if (id === undefined || this.ctx.lockRequests) return undefined;
    const record = this.ctx.manager.getCached(id, this.readOptions());
    if (record === undefined || record === null || this.pastLifetime(record)) return undefined;
    return record;
  }

  protected async fetch(): Promise<StoredSession | null> {
    const id = this.currentId;
    if (id === undefined) return null;
    if (this.ctx.lockRequests) await this.takeLock(id);
    let record: SessionRecord | null;
    try {
      record = await this.ctx.manager.get(id, this.readOptions());
      if (record !== null && this.pastLifetime(record)) {
        // Ended for good, however active: a stolen cookie cannot roll it
        // forever. Retired, so nothing brings it back; a failed delete is
        // retried by the next request that presents it.
        this.ctx.stats.sessionsPastLifetime += 1;
        await this.ctx.manager.delete(id).catch(() => false);
        record = null;
      }
      if (this.lock !== undefined) this.fencedVersion = record?.version;
    } catch (error) {
      if (!isUnreadable(error)) throw error;
      // A fresh session instead, as for a rejected cookie. The unreadable
      // record is left to the store's corruption policy (kept for
      // inspection by default, deleted with failFastOnCorruption: false)
      // and to its expiry; nothing is written over it.
      this.ctx.stats.unreadableSessions += 1;
      this.ctx.logger.warn(
        { code: error.code, sessionIdHash: hashSessionId(id), cookie: this.ctx.cookie.name },
        'stored session unreadable: starting a fresh session',
      );
      record = null;
    }
    if (record === null && this.currentId === id && this.ctx.manager.degraded) {
      // Degraded: a miss means "not in this instance's memory", not "gone".
      // The session most likely lives in Redis, which cannot be reached;
      // clearing the cookie would log the visitor out for good. Keep it, so
      // the session is back once Redis answers; this request sees it empty.
      // No touch (it would miss too). A write creates a new session (its
      // patch finds nothing) and replaces the cookie.
      this.touchDue = false;
    } else if (record === null && this.currentId === id) {
      // The cookie points at nothing (expired, revoked, never stored): a
      // fresh session, and the stale cookie goes.
      this.currentId = undefined;
      this.touchDue = false;
      this.cookieAction = 'clear';
      this.arm();
    }
    return record;
  }

  /** What a read asks the manager for: read-your-writes ({@link knownVersion}), when there is a version. */
  private readOptions(): GetOptions | undefined {
    if (this.knownVersion === 0) return undefined;
    return this.knownVersionSince === undefined
      ? { minVersion: this.knownVersion }
      : { minVersion: this.knownVersion, minVersionSince: this.knownVersionSince };
  }

  private pastLifetime(record: SessionRecord): boolean {
    const { maxLifetimeMs } = this.ctx;
    return maxLifetimeMs !== undefined && record.createdAt + maxLifetimeMs <= Date.now();
  }

  protected dirty(): boolean {
    return (
      !this.pending.empty ||
      this.createRequested ||
      this.touchDue ||
      this.cookieAction !== 'none' ||
      this.lock !== undefined ||
      this.regenerateFailure !== undefined
    );
  }

  protected async write(): Promise<void> {
    try {
      const failure = this.regenerateFailure;
      if (failure !== undefined) {
        // Nothing is written, now or later in this request: the session is
        // dropped from it (a later write would start a fresh id). An error
        // response means the app has handled the failure it was thrown; any
        // other response must not go out as if the login had worked.
        this.forget('none');
        this.regenerateFailure = undefined;
        if (this.res.statusCode >= 400) return;
        throw toSessionError(failure, { operation: 'regenerate' });
      }
      if (!this.pending.empty || this.createRequested) {
        await this.writeChanges();
      } else if (this.touchDue && this.currentId !== undefined) {
        this.touchDue = false;
        if (await this.ctx.manager.touch(this.currentId)) this.cookieAction = 'issue';
        else this.forget('clear');
      }
    } finally {
      await this.releaseLock();
    }
    this.applyCookie();
  }

  private async writeChanges(): Promise<void> {
    const { manager } = this.ctx;
    const id = this.currentId;
    if (id !== undefined && !this.pending.empty) {
      try {
        // Fenced under lock: 'request': refused (VERSION_CONFLICT) if anyone
        // wrote since the load, e.g. after this holder's lease ran out.
        const roll = this.rollDue(id);
        const version = await manager.patch(id, this.pending.toPatch(), {
          expectedVersion: this.fencedVersion,
          roll,
        });
        this.rollKept = !roll;
        this.pending.clear();
        // Read again if asked: the stored session now has other writers' keys too.
        this.resetLoaded(undefined);
        this.wrote(version);
        return;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // Expired or revoked meanwhile: the changes start a fresh session.
        this.currentId = undefined;
      }
    }
    if (!this.createRequested && !this.pending.changesAnything({})) {
      // Only removals, and no session: nothing to store (empty sessions never are).
      this.pending.clear();
      return;
    }
    await this.createNow(this.pending.applyTo({}));
  }

  private async createNow(data: SessionData): Promise<SessionRecord> {
    // The new id travels in a cookie, which can only be set before the headers.
    if (this.res.headersSent) throw headersSentError();
    const record = await this.ctx.manager.create({ data, userId: this.pendingUserId });
    this.ctx.stats.sessionsCreated += 1;
    this.currentId = record.id;
    this.fencedVersion = undefined;
    this.knownVersion = record.version;
    this.knownVersionSince = undefined;
    this.cookieAction = 'issue';
    this.touchDue = false;
    this.pending.clear();
    this.pendingUserId = undefined;
    this.createRequested = false;
    this.resetLoaded(record);
    this.arm();
    return record;
  }

  private async regenerateNow(options: RegenerateSessionOptions): Promise<void> {
    const id = this.currentId;
    if (id !== undefined) {
      try {
        const { lock } = this;
        const record =
          lock === undefined
            ? await this.ctx.manager.regenerate(id, { userId: options.userId })
            : await lock.regenerate({
                userId: options.userId,
                expectedVersion: this.fencedVersion,
              });
        this.fencedVersion = lock === undefined ? undefined : record.version;
        this.currentId = record.id;
        this.knownVersion = record.version;
        this.knownVersionSince = undefined;
        this.cookieAction = 'issue';
        this.touchDue = false;
        this.resetLoaded(record);
        this.arm();
        return;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    // Nothing stored yet: the commit stores a session (owned by userId),
    // under an id nobody has seen — fixation needs nothing more.
    this.currentId = undefined;
    this.fencedVersion = undefined;
    this.resetLoaded(null);
    this.pendingUserId = options.userId ?? this.pendingUserId;
    this.createRequested = true;
    this.arm();
  }

  private async takeLock(id: string): Promise<void> {
    this.locking ??= RequestLock.acquire(this.ctx.manager, id).then((lock) => {
      this.lock = lock;
      this.arm();
      // A request that ends without a response (client gone, handler hung
      // until the socket closed) still gives the lock back.
      this.res.once('close', () => {
        void this.settled().then(() => this.releaseLock());
      });
      return lock;
    });
    try {
      await this.locking;
    } catch (error) {
      this.locking = undefined;
      throw error;
    }
  }

  private async releaseLock(): Promise<void> {
    const lock = this.lock;
    if (lock === undefined) return;
    this.lock = undefined;
    this.fencedVersion = undefined;
    await lock.release();
  }

  /**
   * A write of this request landed at `version`: the response's cookie
   * carries it, so the browser's next read, on any instance, asks for at
   * least it (one Set-Cookie per write; the expiry roll rides along).
   */
  private wrote(version: number): void {
    this.knownVersion = version;
    this.knownVersionSince = undefined;
    this.touchDue = false;
    this.cookieAction = 'issue';
  }

  /** Drop every trace of the current session in this request (after destroy / revoke / not found). */
  private forget(cookieAction: 'none' | 'clear'): void {
    this.currentId = undefined;
    this.knownVersion = 0;
    this.knownVersionSince = undefined;
    this.pending.clear();
    this.pendingUserId = undefined;
    this.createRequested = false;
    this.fencedVersion = undefined;
    this.touchDue = false;
    this.cookieAction = cookieAction;
    this.resetLoaded(null);
  }

  /**
   * Whether a write to `id` now must roll its expiry: unless the request's
   * cookie, for that id, says it was rolled less than `touchAfterMs` ago.
   * Writes and reads then roll it alike, at most once per `touchAfterMs`
   * (the expiry stays within `touchAfterMs` of the last activity), the
   * cookie's roll time stays exact, and a write it spares costs Redis no
   * expiry-index update.
   */
  private rollDue(id: string, now = Date.now()): boolean {
    const roll = this.signedRoll;
    return (
      roll === undefined ||
      roll.id !== id ||
      roll.touchedAt > now ||
      now - roll.touchedAt >= this.ctx.touchAfterMs
    );
  }

  private applyCookie(): void {
    const { res, ctx } = this;
    if (res.headersSent) return;
    if (this.cookieAction === 'issue' && this.currentId !== undefined) {
      const now = Date.now();
      const roll = this.signedRoll;
      const keep =
        roll !== undefined &&
        roll.id === this.currentId &&
        (this.rollKept || !this.rollDue(this.currentId, now));
      const rolledAt = keep ? roll.touchedAt : now;
      setSessionCookie(
        res,
        ctx.cookie,
        ctx.signer.sign(this.currentId, rolledAt, this.knownVersion, this.knownVersionSince ?? now),
      );
    } else if (this.cookieAction !== 'none') {
      clearSessionCookie(res, ctx.cookie);
    }
    this.cookieAction = 'none';
    if (ctx.degradedHeader !== undefined && ctx.manager.degraded) {
      res.setHeader(ctx.degradedHeader, '1');
    }
  }
}
