import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import {
  SessionValidationError,
  createOptionChecks,
  createRetryPolicy,
  hashSessionId,
  isSessionError,
  isValidUserId,
  toSessionError,
} from '@session-cluster/core';
import type { SessionPatch, SessionRecord, SessionStore } from '@session-cluster/core';
import { EXPRESS_SESSION_ID_KEY, idRecord, recordedId, storeId } from './express-session-ids.js';
import { dataOf, diffFields, fieldsOf } from './loaded-snapshot.js';
import type { LoadedSnapshot } from './loaded-snapshot.js';

/*
 * express-session is loaded at run time, without its type declarations:
 * `@types/express-session` declares `req.session` with its own type, which
 * would clash with ours (`@session-cluster/express/augment`) in any program
 * that loads both. What this file needs of it is tiny and typed here.
 */
interface ExpressSessionStoreBase extends EventEmitter {
  /** Inflate stored data into a `Session` bound to `req` (express-session calls it for every loaded session). */
  createSession(req: object, session: ExpressSessionData): object;
}
const requireFromHere = createRequire(import.meta.url);
const { Store } = requireFromHere('express-session') as {
  Store: new () => ExpressSessionStoreBase;
};

/** A session as express-session hands it to a store: JSON-able, with a `cookie`. */
export type ExpressSessionData = Record<string, unknown> & {
  cookie?: { expires?: Date | string | null; [key: string]: unknown };
};

/** A session as {@link SessionClusterStore.all} lists it: its data plus its express-session `id`. */
export type ListedExpressSession = ExpressSessionData & { id: string };

/** Node-style callback; every method also returns a promise (connect-redis style). */
export type StoreCallback<T = void> = (error?: unknown, value?: T) => void;

/** Options of {@link SessionClusterStore} (connect-redis's, where they make sense). */
export interface SessionClusterStoreOptions {
  /**
   * Where sessions live: `cluster.store` (Redis behind the memory fallback,
   * from `createSessionCluster`), `cluster.redis`, or any `SessionStore`;
   * `all`/`ids`/`length`/`clear` need its `listSessionIds` (all of ours have it).
   */
  readonly store: SessionStore;
  /**
   * Session lifetime in seconds (connect-redis): a number applies to sessions
   * whose cookie has no expiry (browser-session cookies); a function decides
   * for every session, cookie or not. 0 or less: `set` deletes the session.
   * Default 86 400 (one day).
   */
  readonly ttl?: number | ((session: ExpressSessionData) => number) | undefined;
  /** Never move the expiry on `touch` (express-session's unmodified requests). Default false. */
  readonly disableTouch?: boolean | undefined;
  /**
   * Sessions never expire in the store (kept for 100 years), whatever the
   * cookie says; `touch` does nothing. A `set` whose expiry has passed still
   * deletes. Default false.
   */
  readonly disableTTL?: boolean | undefined;
  /**
   * Namespace of express-session ids, so several apps can share one cluster
   * without seeing each other's sessions in `ids`/`all`/`length`/`clear`.
   * Redis keys always start with the cluster's own `prefix`. Default `''`.
   */
  readonly prefix?: string | undefined;
  /**
   * The owner of a session, for `listByUser`/`deleteByUser` ("log out
   * everywhere"), e.g. `(sess) => sess.userId`. Default: no owner.
   */
  readonly userIdOf?: ((session: ExpressSessionData) => unknown) | undefined;
}

/** Defaults of {@link SessionClusterStoreOptions}. */
export const SESSION_CLUSTER_STORE_DEFAULTS = Object.freeze({
  ttl: 86_400,
  disableTouch: false,
  disableTTL: false,
  prefix: '',
});

/** How long a session lives with `disableTTL`: 100 years. */
const NO_TTL_MS = 100 * 365 * 86_400_000;

/** Sessions loaded at once by `all`/`ids`/`length`/`clear`. */
const LIST_CONCURRENCY = 256;

/**
 * An express-session `Store` on session-cluster's stores, in place of
 * connect-redis: one line for an express-session app to keep its sessions
 * in Redis shared by every instance, with the memory fallback.
 *
 * **Writes merge per key.** express-session hands `set` the whole session.
 * This store remembers what each request loaded (express-session inflates
 * every loaded session through `createSession(req, data)`, and the session
 * it later saves carries `req`) and writes only the top-level keys that
 * differ from it, as one atomic field-level patch. Parallel requests that
 * change different keys all keep their changes; two that change the same
 * key: the last write wins, as with connect-redis. No write fails because
 * another one got there first.
 *
 * **Destroyed stays destroyed.** A `set` of a session that was loaded and
 * has since been destroyed (a logout in a parallel request) does nothing:
 * the session is not brought back.
 *
 * **Ids.** express-session ids map to store ids by {@link storeId}; every
 * session records its express-session id, so `ids` and `all` list the ids
 * express-session knows, and `get`/`destroy` take them back.
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
  /** Namespace of express-session ids (see {@link SessionClusterStoreOptions.prefix}). */
  public readonly prefix: string;
  /** Lifetime in seconds, or the function deciding it. */
  public readonly ttl: number | ((session: ExpressSessionData) => number);
  /** `touch` does nothing. */
  public readonly disableTouch: boolean;
  /** Sessions are kept for 100 years; `touch` does nothing. */
  public readonly disableTTL: boolean;
  private readonly store: SessionStore;
  private readonly userIdOf: ((session: ExpressSessionData) => unknown) | undefined;
  /** What each request (the `req` express-session binds a session to) loaded or last wrote. */
  private readonly loaded = new WeakMap<object, LoadedSnapshot>();
  /** Data `get` handed out, until `createSession` binds it to its request. */
  private readonly handedOut = new WeakMap<object, LoadedSnapshot>();
  // Only an owner change is a compare-and-set (patch cannot move the user index).
  private readonly ownerMoves = createRetryPolicy({
    maxAttempts: 10,
    baseDelayMs: 2,
    maxDelayMs: 50,
  });

  /** @throws SessionValidationError `INVALID_CONFIG` naming the bad option */
  public constructor(options: SessionClusterStoreOptions) {
    super();
    const store: unknown = (options as Partial<SessionClusterStoreOptions> | undefined)?.store;
    const methods = ['load', 'create', 'patch', 'save', 'touch', 'delete'] as const;
    if (
      typeof store !== 'object' ||
      store === null ||
      methods.some((m) => typeof (store as Record<string, unknown>)[m] !== 'function')
    ) {
      throw invalid('store', 'a SessionStore (cluster.store or a RedisStore)');
    }
    const ttl = options.ttl ?? SESSION_CLUSTER_STORE_DEFAULTS.ttl;
    if (typeof ttl !== 'function' && (typeof ttl !== 'number' || !Number.isFinite(ttl))) {
      throw invalid('ttl', 'a number of seconds or a function returning one');
    }
    for (const field of ['disableTouch', 'disableTTL'] as const) {
      if (options[field] !== undefined && typeof options[field] !== 'boolean') {
        throw invalid(field, 'a boolean');
      }
    }
    if (options.prefix !== undefined && typeof options.prefix !== 'string') {
      throw invalid('prefix', 'a string');
    }
    if (options.userIdOf !== undefined && typeof options.userIdOf !== 'function') {
      throw invalid('userIdOf', 'a function');
    }
    this.store = store as SessionStore;
    this.ttl = ttl;
    this.disableTouch = options.disableTouch ?? SESSION_CLUSTER_STORE_DEFAULTS.disableTouch;
    this.disableTTL = options.disableTTL ?? SESSION_CLUSTER_STORE_DEFAULTS.disableTTL;
    this.prefix = options.prefix ?? SESSION_CLUSTER_STORE_DEFAULTS.prefix;
    this.userIdOf = options.userIdOf;
  }

  /** The session, or `null`. */
  public get(
    sid: string,
    callback?: StoreCallback<ExpressSessionData | null>,
  ): Promise<ExpressSessionData | null | undefined> {
    return settle(this.read(sid), callback);
  }

  /**
   * Store the session: the keys that differ from what this request loaded,
   * as one patch; a session nothing was loaded for is created (or, when the
   * id is taken, replaced key by key). A session whose expiry has passed is
   * deleted instead.
   * @throws SessionValidationError `PAYLOAD_TOO_LARGE` naming the limit and `codec.maxBytes`
   */
  public set(sid: string, session: ExpressSessionData, callback?: StoreCallback): Promise<void> {
    return settle(this.write(sid, session), callback);
  }

  /** End the session. */
  public destroy(sid: string, callback?: StoreCallback): Promise<void> {
    return settle(
      this.store.delete(this.idOf(sid)).then(() => undefined),
      callback,
    );
  }

  /** Move the expiry (unmodified requests, rolling sessions) without rewriting the data. */
  public touch(sid: string, session: ExpressSessionData, callback?: StoreCallback): Promise<void> {
    return settle(this.moveExpiry(sid, session), callback);
  }

  /** Every live session of this store's `prefix`, each with its express-session `id`. */
  public all(
    callback?: StoreCallback<ListedExpressSession[]>,
  ): Promise<ListedExpressSession[] | undefined> {
    return settle(
      this.listed().then((sessions) =>
        sessions.map(({ sid, record }) => ({ ...dataOf(fieldsOf(record.data)), id: sid })),
      ),
      callback,
    );
  }

  /** The express-session ids of every live session of this store's `prefix`. */
  public ids(callback?: StoreCallback<string[]>): Promise<string[] | undefined> {
    return settle(
      this.listed().then((sessions) => sessions.map(({ sid }) => sid)),
      callback,
    );
  }

  /** How many sessions of this store's `prefix` are live. */
  public length(callback?: StoreCallback<number>): Promise<number | undefined> {
    return settle(
      this.listed().then((sessions) => sessions.length),
      callback,
    );
  }

  /** Delete every session of this store's `prefix`. */
  public clear(callback?: StoreCallback): Promise<void> {
    return settle(
      this.listed().then(async (sessions) => {
        await inBatches(sessions, ({ record }) => this.store.delete(record.id));
      }),
      callback,
    );
  }

  /**
   * express-session: inflate a loaded session. Remembers what was loaded for
   * `req`, so the request's later `set` writes only what it changed.
   */
  public override createSession(req: object, session: ExpressSessionData): object {
    const snapshot = this.handedOut.get(session);
    if (snapshot !== undefined) {
      this.handedOut.delete(session);
      this.loaded.set(req, snapshot);
    }
    return super.createSession(req, session);
  }

  private async read(sid: string): Promise<ExpressSessionData | null> {
    const record = await this.store.load(this.idOf(sid));
    if (record === null) return null;
    const fields = fieldsOf(record.data);
    // A copy: express-session and the app mutate it, and a store may share its records.
    const data = dataOf(fields);
    this.handedOut.set(data, {
      sid,
      fields,
      recorded: EXPRESS_SESSION_ID_KEY in record.data,
      userId: record.userId,
    });
    return data;
  }

  private async write(sid: string, session: ExpressSessionData): Promise<void> {
    const id = this.idOf(sid);
    const req = requestOf(session);
    const expiresAt = this.expiryOf(session);
    if (expiresAt === undefined) {
      await this.store.delete(id);
      if (req !== undefined) this.loaded.delete(req);
      return;
    }
    // A Cookie instance and Dates become plain JSON, as connect-redis stores them.
    const fields = fieldsOf(JSON.parse(JSON.stringify(session)) as Record<string, unknown>);
    const owner = this.ownerOf(session);
    const base = req === undefined ? undefined : this.loaded.get(req);
    try {
      const written =
        base !== undefined && base.sid === sid
          ? await this.patchLoaded(id, sid, base, fields, expiresAt, owner)
          : await this.createOrReplace(id, sid, fields, expiresAt, owner);
      if (req === undefined) return;
      // The request's next save (an explicit save() then the automatic one)
      // diffs against what it wrote; a session found gone stays forgotten.
      if (written) {
        this.loaded.set(req, { sid, fields, recorded: true, userId: owner ?? base?.userId });
      } else this.loaded.delete(req);
    } catch (error) {
      throw explainTooLarge(error, id);
    }
  }

  /** A loaded session: the keys that changed since, as one patch. @returns false when it is gone. */
  private async patchLoaded(
    id: string,
    sid: string,
    base: LoadedSnapshot,
    fields: ReadonlyMap<string, string>,
    expiresAt: number,
    owner: string | undefined,
  ): Promise<boolean> {
    const changes = diffFields(base.fields, fields);
    if (!base.recorded) changes.set[EXPRESS_SESSION_ID_KEY] = idRecord(this.prefix, sid);
    if (!(await this.patchUnlessGone(id, changes, expiresAt))) return false;
    if (owner !== undefined && owner !== base.userId) await this.moveOwner(id, owner);
    return true;
  }

  /**
   * Nothing was loaded: create the session. When the id is taken (a direct
   * `set` of an existing session, or another request created it first),
   * replace it key by key: set ours, unset the keys we do not have. Never a
   * compare-and-set, so it cannot fail on a concurrent write.
   * @returns false when the session was refused or deleted meanwhile (it stays gone)
   */
  private async createOrReplace(
    id: string,
    sid: string,
    fields: ReadonlyMap<string, string>,
    expiresAt: number,
    owner: string | undefined,
  ): Promise<boolean> {
    const data = dataOf(fields);
    data[EXPRESS_SESSION_ID_KEY] = idRecord(this.prefix, sid);
    try {
      await this.store.create({ id, data, expiresAt, userId: owner });
      return true;
    } catch (error) {
      if (isRefusedAsGone(error)) return false;
      if (!(isSessionError(error) && error.code === 'SESSION_ALREADY_EXISTS')) throw error;
    }
    const current = await this.store.load(id);
    if (current === null) return false;
    const unset = Object.keys(current.data).filter(
      (key) => key !== EXPRESS_SESSION_ID_KEY && !fields.has(key),
    );
    if (!(await this.patchUnlessGone(id, { set: data, unset }, expiresAt))) return false;
    if (owner !== undefined && owner !== current.userId) await this.moveOwner(id, owner);
    return true;
  }

  /** @returns false when the session is gone (deleted, expired, or its id retired). */
  private async patchUnlessGone(
    id: string,
    changes: SessionPatch,
    expiresAt: number,
  ): Promise<boolean> {
    try {
      await this.store.patch(id, changes, { expiresAt });
      return true;
    } catch (error) {
      if (isRefusedAsGone(error)) return false;
      throw error;
    }
  }

  /**
   * Record a new owner (a login without regenerate). A patch cannot move the
   * user index, so this is a compare-and-set of the data just read, retried
   * on a concurrent write: it changes only the owner, never the data.
   */
  private async moveOwner(id: string, owner: string): Promise<void> {
    await this.ownerMoves.execute(async () => {
      const record: SessionRecord | null = await this.store.load(id);
      if (record === null || record.userId === owner) return;
      try {
        await this.store.save(
          id,
          { data: record.data, expiresAt: record.expiresAt, userId: owner },
          record.version,
        );
      } catch (error) {
        if (!isRefusedAsGone(error)) throw error;
      }
    });
  }

  private async moveExpiry(sid: string, session: ExpressSessionData): Promise<void> {
    if (this.disableTouch || this.disableTTL) return;
    const id = this.idOf(sid);
    const expiresAt = this.expiryOf(session);
    if (expiresAt === undefined) await this.store.delete(id);
    else await this.store.touch(id, expiresAt);
  }

  /** When the session ends (epoch ms), or `undefined` when it already has. */
  private expiryOf(session: ExpressSessionData): number | undefined {
    const now = Date.now();
    let at: number;
    if (typeof this.ttl === 'function') {
      at = now + this.ttl(session) * 1000;
    } else {
      const expires = session.cookie?.expires;
      const cookieAt =
        expires === undefined || expires === null ? Number.NaN : new Date(expires).getTime();
      at = Number.isFinite(cookieAt) ? cookieAt : now + this.ttl * 1000;
    }
    // NaN (a ttl function returning nonsense) counts as expired, as in connect-redis.
    if (!(at > now)) return undefined;
    return this.disableTTL ? now + NO_TTL_MS : Math.ceil(at);
  }

  private ownerOf(session: ExpressSessionData): string | undefined {
    const owner = this.userIdOf?.(session);
    return isValidUserId(owner) ? owner : undefined;
  }

  private idOf(sid: string): string {
    if (typeof sid !== 'string' || sid.length === 0) {
      throw new SessionValidationError('express-session id must be a non-empty string', {
        code: 'INVALID_SESSION_ID',
        field: 'sid',
      });
    }
    return storeId(sid, this.prefix);
  }

  /** Live sessions of this prefix, with their express-session ids. */
  private async listed(): Promise<{ sid: string; record: SessionRecord }[]> {
    if (this.store.listSessionIds === undefined) {
      throw invalid('store', 'a store with listSessionIds (all/ids/length/clear need it)');
    }
    const ids = await this.store.listSessionIds();
    const out: { sid: string; record: SessionRecord }[] = [];
    await inBatches(ids, async (id) => {
      const record = await this.store.load(id);
      if (record === null) return;
      const sid = recordedId(record.data, this.prefix);
      if (sid !== undefined) out.push({ sid, record });
    });
    return out;
  }
}

export { storeId } from './express-session-ids.js';

/**
 * Errors by which a store says the session is not there to write: gone
 * (deleted, expired) or its id retired (a tombstone refuses a re-creation).
 * A late `set` then leaves the session gone instead of failing the request.
 */
function isRefusedAsGone(error: unknown): boolean {
  return (
    isSessionError(error) &&
    (error.code === 'SESSION_NOT_FOUND' || error.code === 'SESSION_EXPIRED')
  );
}

/** A size refusal, said in express-session's terms: the limit and the option raising it. */
function explainTooLarge(error: unknown, id: string): unknown {
  if (!(isSessionError(error) && error.code === 'PAYLOAD_TOO_LARGE')) return error;
  const bytes = error.details?.['bytes'];
  const maxBytes = error.details?.['maxBytes'];
  return new SessionValidationError(
    `express-session session is ${String(bytes)} bytes encoded, over the limit of ${String(maxBytes)} bytes; raise it with createSessionCluster({ codec: { maxBytes } }) (createSessionCodec({ maxBytes }) for a store built by hand)`,
    {
      code: 'PAYLOAD_TOO_LARGE',
      field: 'codec.maxBytes',
      operation: 'set',
      sessionIdHash: hashSessionId(id),
      cause: error,
      details: { bytes, maxBytes, option: 'codec.maxBytes' },
    },
  );
}

/** The request express-session bound the session to (a non-enumerable `req`), if any. */
function requestOf(session: unknown): object | undefined {
  const req = (session as { req?: unknown } | null)?.req;
  return typeof req === 'object' && req !== null ? req : undefined;
}

/** connect-redis style: the callback when given (the promise then never rejects), else the promise. */
function settle<T>(
  work: Promise<T>,
  callback: StoreCallback<T> | undefined,
): Promise<T | undefined> {
  const failed = (error: unknown) => toSessionError(error, { operation: 'express-session' });
  if (callback === undefined) {
    return work.catch((error: unknown) => {
      throw failed(error);
    });
  }
  return work.then(
    (value) => {
      callback(null, value);
      return value;
    },
    (error: unknown) => {
      callback(failed(error));
      return undefined;
    },
  );
}

/** Run `fn` over `items`, at most {@link LIST_CONCURRENCY} at a time. */
async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += LIST_CONCURRENCY) {
    await Promise.all(items.slice(start, start + LIST_CONCURRENCY).map(fn));
  }
}

const { invalid } = createOptionChecks('SessionClusterStore');
