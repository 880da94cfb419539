import { hashSessionId, toSessionError } from '@session-cluster/core';
import type { JsonValue, SessionData, SessionError } from '@session-cluster/core';
import type { SessionLogger } from './middleware-options.js';
import { PendingChanges } from './pending-changes.js';
import type {
  DestroyAllOptions,
  RegenerateSessionOptions,
  RequestSession,
  SessionSnapshot,
} from './request-session.js';
import type { ResponseHolder, SessionResponse } from './response-hold.js';

/** Where a session's commit chain starts: shared, since `then` never changes a promise. */
const SETTLED: Promise<void> = Promise.resolve();

/** The stored side of a session, as either backend reads it. */
export interface StoredSession {
  readonly id: string;
  readonly userId: string | undefined;
  readonly data: SessionData;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** Where a request's commit failure goes: Express's `next(err)`. */
export type FailureSink = (error: SessionError) => void;

/**
 * What both kinds of request session share: lazy loading, per-key change
 * tracking, and holding the response until the commit is done. Subclasses
 * say how a session is read, written, regenerated and ended.
 */
export abstract class TrackedSession implements RequestSession {
  /** The stored session: `undefined` until loaded, `null` when there is none. */
  protected stored: StoredSession | null | undefined;
  protected readonly pending = new PendingChanges();
  private loading: Promise<StoredSession | null> | undefined;
  private committing: Promise<void> = SETTLED;
  private armed = false;
  /** A commit failed: the request is in the error handler's hands, nothing more is written. */
  private failed = false;

  protected constructor(
    protected readonly res: SessionResponse,
    private readonly onFailure: FailureSink,
    protected readonly logger: SessionLogger,
    /** `undefined`: the framework adapter calls {@link commitBeforeResponse} itself. */
    private readonly holder: ResponseHolder | undefined,
  ) {}

  public abstract get id(): string | undefined;
  public abstract get degraded(): boolean;

  public get idHash(): string | undefined {
    const id = this.id;
    return id === undefined ? undefined : hashSessionId(id);
  }

  public get isNew(): boolean {
    return this.id === undefined;
  }

  public async load(): Promise<SessionSnapshot> {
    const stored = await this.ensureLoaded();
    return {
      data: this.pending.applyTo(stored?.data ?? {}),
      userId: stored?.userId,
      createdAt: stored?.createdAt,
      expiresAt: stored?.expiresAt,
    };
  }

  public get(key: string): Promise<JsonValue | undefined> {
    if (this.pending.has(key)) return Promise.resolve(this.pending.value(key));
    // Answered at once from a current cached copy (no promise chain), else loaded.
    const stored = this.stored ?? this.takeCached();
    if (stored !== undefined) return Promise.resolve(valueOf(stored, key));
    return this.ensureLoaded().then((loaded) => valueOf(loaded, key));
  }

  public set(key: string, value: JsonValue): void {
    this.pending.set(key, value);
    this.arm();
  }

  public unset(key: string): void {
    this.pending.unset(key);
    this.arm();
  }

  public abstract update(
    fn: (data: SessionData) => SessionData | Promise<SessionData>,
  ): Promise<Readonly<SessionData>>;
  public abstract regenerate(options?: RegenerateSessionOptions): Promise<void>;
  public abstract destroy(): Promise<void>;
  public abstract destroyAllForUser(options?: DestroyAllOptions): Promise<number>;

  public commit(): Promise<void> {
    // One commit at a time: an explicit commit() and the one the response
    // triggers must not interleave their writes.
    const run = this.committing.then(() => (this.failed ? undefined : this.write()));
    this.committing = run.catch(() => undefined);
    return run;
  }

  /** Settles when every commit started so far has finished (successfully or not). */
  protected settled(): Promise<void> {
    return this.committing;
  }

  /** Read the stored session (`null`: none). Called at most once per request unless it failed. */
  protected abstract fetch(): Promise<StoredSession | null>;
  /** True when the commit has something to do (a write, a touch, a cookie to set or clear). */
  protected abstract dirty(): boolean;
  /** Do the commit; set or clear the cookie while headers can still be set. */
  protected abstract write(): Promise<void>;

  /**
   * The stored session from a synchronous source (the instance cache's
   * current copy), or `undefined` when only {@link fetch} can tell. Never
   * throws. Adapters without one keep this default.
   */
  protected fetchCached(): StoredSession | undefined {
    return undefined;
  }

  /** {@link fetchCached} before any load started: kept as loaded when it answers. */
  private takeCached(): StoredSession | undefined {
    if (this.loading !== undefined) return undefined;
    const cached = this.fetchCached();
    if (cached !== undefined) this.stored = cached;
    return cached;
  }

  /** The stored session, loading it on first use. */
  protected ensureLoaded(): Promise<StoredSession | null> {
    const stored = this.stored ?? this.takeCached();
    if (stored !== undefined) return Promise.resolve(stored);
    this.loading ??= this.fetch().then(
      (stored) => {
        this.stored = stored;
        return stored;
      },
      (error: unknown) => {
        this.loading = undefined;
        throw error;
      },
    );
    return this.loading;
  }

  /** Forget what was loaded (after the session changed id or ended). */
  protected resetLoaded(stored: StoredSession | null | undefined): void {
    this.stored = stored;
    this.loading = undefined;
  }

  /**
   * From now on, the response must wait for a commit: with a holder, it is
   * held at its first byte until committed. Idempotent.
   */
  protected arm(): void {
    if (this.armed) return;
    this.armed = true;
    this.holder?.(this.res, {
      needsCommit: () => !this.failed && this.dirty(),
      commit: () => this.commit(),
      fail: (error) => {
        this.onFailure(this.commitFailed(error));
      },
    });
  }

  /**
   * The adapter's commit point, for frameworks that let a hook run before
   * the response goes out (Fastify's `onSend`): commit if anything needs it.
   * `undefined` when nothing does (no promise, no tick, for the common
   * read-only request). A failure is reported to the failure sink, nothing
   * more is written for this request (the error handler's response passes
   * through the same hook and commits nothing), and the returned promise
   * rejects with the `SessionError`.
   */
  public commitBeforeResponse(): Promise<void> | undefined {
    if (!this.armed || this.failed || !this.dirty()) return undefined;
    return this.commit().catch((error: unknown) => {
      const sessionError = this.commitFailed(error);
      this.onFailure(sessionError);
      throw sessionError;
    });
  }

  private commitFailed(error: unknown): SessionError {
    this.failed = true;
    const sessionError = toSessionError(error, { operation: 'commit' });
    if (this.res.headersSent) {
      this.logger.warn(
        { code: sessionError.code, sessionIdHash: this.idHash },
        'session commit failed after the response had started',
      );
    }
    return sessionError;
  }
}

/** The value of `key` in a loaded session (none for no session). */
function valueOf(stored: StoredSession | null, key: string): JsonValue | undefined {
  return stored !== null && Object.hasOwn(stored.data, key) ? stored.data[key] : undefined;
}
