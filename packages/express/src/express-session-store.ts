import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import {
  ConcurrentAccessError,
  createOptionChecks,
  createRetryPolicy,
  isSessionError,
  isValidSessionId,
  isValidUserId,
  toSessionError,
} from '@session-cluster/core';
import type { SessionData, SessionStore } from '@session-cluster/core';

/*
 * express-session is loaded at run time, without its type declarations:
 * `@types/express-session` declares `req.session` with its own type, which
 * would clash with ours (`@session-cluster/express/augment`) in any program
 * that loads both. What this file needs of it is tiny and typed here.
 */
type StoreBase = new () => EventEmitter;
const requireFromHere = createRequire(import.meta.url);
const { Store } = requireFromHere('express-session') as { Store: StoreBase };

/** A session as express-session hands it to a store: JSON-able, with a `cookie`. */
export type ExpressSessionData = Record<string, unknown> & {
  cookie?: { expires?: Date | string | null; [key: string]: unknown };
};

type Callback<T = void> = (error?: unknown, value?: T) => void;

/** Options of {@link SessionClusterStore}. */
export interface SessionClusterStoreOptions {
  /**
   * Where sessions live: `cluster.store` (Redis behind the memory fallback,
   * from `createSessionCluster`) or a `RedisStore`.
   */
  readonly store: SessionStore;
  /** Lifetime of a session whose cookie has no expiry (a browser-session cookie), ms. Default 1 day. */
  readonly ttlMs?: number | undefined;
  /**
   * The owner of a session, for `listByUser`/`deleteByUser` ("log out
   * everywhere"), e.g. `(sess) => sess.userId`. Default: no owner.
   */
  readonly userIdOf?: ((session: ExpressSessionData) => unknown) | undefined;
  /**
   * Ids of the live sessions, for `all`, `ids`, `length` and `clear`
   * (express-session never calls those itself), e.g.
   * `() => cluster.redis.listSessionIds()`. Default: the store's own
   * `listSessionIds()` when it has one (RedisStore does); otherwise those
   * four fail with `INVALID_CONFIG`.
   */
  readonly listIds?: (() => Promise<readonly string[]>) | undefined;
}

/** Defaults of {@link SessionClusterStoreOptions}. */
export const SESSION_CLUSTER_STORE_DEFAULTS = Object.freeze({ ttlMs: 86_400_000 });

/**
 * An express-session `Store` on session-cluster's stores: for apps that
 * keep express-session and want Redis sessions shared by every instance,
 * with version-checked writes and the memory fallback, instead of
 * connect-redis (whose v10 works with node-redis only).
 *
 * express-session ids (24 random bytes) are mapped to store ids by SHA-256,
 * so express-session's own `genid` stays as it is; ids this library
 * generated are used unchanged. `set` replaces the whole session with a
 * compare-and-set save (last writer wins, as with connect-redis — use
 * `sessionMiddleware` for per-key merges).
 *
 * @example
 * ```ts
 * import session from 'express-session';
 * import { SessionClusterStore } from '@session-cluster/express/express-session';
 * const cluster = createSessionCluster({ redis: { url: process.env.REDIS_URL! } });
 * app.use(session({ store: new SessionClusterStore({ store: cluster.store }), secret: process.env.SECRET!,
 *   resave: false, saveUninitialized: false }));
 * ```
 */
export class SessionClusterStore extends Store {
  private readonly store: SessionStore;
  private readonly ttlMs: number;
  private readonly userIdOf: ((session: ExpressSessionData) => unknown) | undefined;
  private readonly listIds: (() => Promise<readonly string[]>) | undefined;
  private readonly writes: ReturnType<typeof createRetryPolicy>;

  /** @throws SessionValidationError `INVALID_CONFIG` naming the bad option */
  public constructor(options: SessionClusterStoreOptions) {
    super();
    const store: unknown = (options as Partial<SessionClusterStoreOptions> | undefined)?.store;
    const methods = ['load', 'create', 'save', 'touch', 'delete'] as const;
    if (
      typeof store !== 'object' ||
      store === null ||
      methods.some((m) => typeof (store as Record<string, unknown>)[m] !== 'function')
    ) {
      throw invalid('store', 'a SessionStore (cluster.store or a RedisStore)');
    }
    const ttlMs = options.ttlMs ?? SESSION_CLUSTER_STORE_DEFAULTS.ttlMs;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw invalid('ttlMs', 'a positive integer');
    for (const field of ['userIdOf', 'listIds'] as const) {
      if (options[field] !== undefined && typeof options[field] !== 'function') {
        throw invalid(field, 'a function');
      }
    }
    this.store = store as SessionStore;
    this.ttlMs = ttlMs;
    this.userIdOf = options.userIdOf;
    this.listIds = options.listIds ?? ownLister(store);
    // A save that lost a race re-reads and saves again: a few quick tries.
    this.writes = createRetryPolicy({ maxAttempts: 5, baseDelayMs: 2, maxDelayMs: 50 });
  }

  /** express-session: the session, or `null`. */
  public get(sid: string, callback: Callback<ExpressSessionData | null>): void {
    settle(
      // express-session changes what it gets (sess.cookie = new Cookie(…));
      // a caching store hands out shared, frozen records.
      this.store
        .load(storeId(sid))
        .then((record) => (record === null ? null : structuredClone(record.data))),
      callback,
    );
  }

  /** express-session: store the whole session (create or replace). */
  public set(sid: string, session: ExpressSessionData, callback?: Callback): void {
    settle(this.write(sid, session), callback);
  }

  /** express-session: end the session. */
  public destroy(sid: string, callback?: Callback): void {
    settle(
      this.store.delete(storeId(sid)).then(() => undefined),
      callback,
    );
  }

  /** express-session: move the expiry (rolling sessions) without rewriting the data. */
  public touch(sid: string, session: ExpressSessionData, callback?: Callback): void {
    settle(
      this.store.touch(storeId(sid), this.expiresAt(session)).then(() => undefined),
      callback,
    );
  }

  /** Every live session, keyed by store id. Needs `listIds`. */
  public all(callback: Callback<Record<string, ExpressSessionData>>): void {
    settle(
      this.enumerate().then(async (ids) => {
        const records = await Promise.all(ids.map((id) => this.store.load(id)));
        const out: Record<string, ExpressSessionData> = {};
        for (const record of records) if (record !== null) out[record.id] = record.data;
        return out;
      }),
      callback,
    );
  }

  /** Ids of every live session (store ids). Needs `listIds`. */
  public ids(callback: Callback<string[]>): void {
    settle(
      this.enumerate().then((ids) => [...ids]),
      callback,
    );
  }

  /** How many sessions are live. Needs `listIds`. */
  public length(callback: Callback<number>): void {
    settle(
      this.enumerate().then((ids) => ids.length),
      callback,
    );
  }

  /** Delete every session. Needs `listIds`. */
  public clear(callback?: Callback): void {
    settle(
      this.enumerate().then(async (ids) => {
        await Promise.all(ids.map((id) => this.store.delete(id)));
      }),
      callback,
    );
  }

  private async write(sid: string, session: ExpressSessionData): Promise<void> {
    const id = storeId(sid);
    // A Cookie instance and Dates become plain JSON, as connect-redis stores them.
    const data = JSON.parse(JSON.stringify(session)) as SessionData;
    const expiresAt = this.expiresAt(session);
    if (expiresAt <= Date.now()) {
      await this.store.delete(id);
      return;
    }
    const owner = this.userIdOf?.(session);
    const userId = isValidUserId(owner) ? owner : undefined;
    await this.writes.execute(async () => {
      const record = await this.store.load(id);
      if (record !== null) {
        await this.store.save(id, { data, expiresAt, userId }, record.version);
        return;
      }
      try {
        await this.store.create({ id, data, expiresAt, userId });
      } catch (error) {
        // Another request created it between our load and create: read and save again.
        if (isSessionError(error) && error.code === 'SESSION_ALREADY_EXISTS') {
          throw new ConcurrentAccessError('version_conflict', 'Session created concurrently', {
            operation: 'set',
            cause: error,
          });
        }
        throw error;
      }
    });
  }

  private expiresAt(session: ExpressSessionData): number {
    const expires = session.cookie?.expires;
    if (expires !== undefined && expires !== null) {
      const at = new Date(expires).getTime();
      if (Number.isFinite(at)) return at;
    }
    return Date.now() + this.ttlMs;
  }

  private async enumerate(): Promise<readonly string[]> {
    if (this.listIds === undefined) {
      throw invalid(
        'listIds',
        'a function listing live session ids (all/ids/length/clear need it)',
      );
    }
    return (await this.listIds()).filter(isValidSessionId);
  }
}

/** express-session's id → a store id: ours unchanged, anything else by SHA-256 (43 base64url chars). */
export function storeId(sid: string): string {
  if (isValidSessionId(sid)) return sid;
  return createHash('sha256').update(String(sid)).digest('base64url');
}

function settle<T>(work: Promise<T>, callback: Callback<T> | undefined): void {
  work.then(
    (value) => callback?.(null, value),
    (error: unknown) => callback?.(toSessionError(error, { operation: 'express-session' })),
  );
}

const { invalid } = createOptionChecks('SessionClusterStore');

/** The store's own enumeration (`RedisStore.listSessionIds`), if it has one. */
function ownLister(store: object): (() => Promise<readonly string[]>) | undefined {
  const lister = (store as { listSessionIds?: unknown }).listSessionIds;
  if (typeof lister !== 'function') return undefined;
  return () => (lister as () => Promise<readonly string[]>).call(store);
}
