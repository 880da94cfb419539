import { hash } from 'node:crypto';
import {
  createOptionChecks,
  isSessionError,
  isValidSessionId,
  toSessionError,
} from '@session-cluster/core';
import type { SessionStore } from '@session-cluster/core';
import { dataOf, diffFields, fieldsOf } from '@session-cluster/express/http-core';

/** Node-style callback, as @fastify/session calls a store. */
export type FastifySessionCallback<T = void> = (error?: unknown, value?: T) => void;

/** A session as @fastify/session hands it to a store (its `Session`): JSON-able, with a `cookie`. */
export type FastifySessionData = Record<string, unknown> & {
  cookie?: { expires?: Date | string | null; [key: string]: unknown } | undefined;
};

/** Options of {@link FastifySessionClusterStore}. */
export interface FastifySessionClusterStoreOptions {
  /** Where sessions live: `cluster.store` (Redis behind the memory fallback), or any `SessionStore`. */
  readonly store: SessionStore;
  /**
   * Lifetime in seconds of a session whose cookie has no expiry (a
   * browser-session cookie). Default 86 400 (one day).
   */
  readonly ttl?: number | undefined;
}

/** What one request loaded of a session: each top-level key as JSON text. */
interface LoadedFields {
  readonly sid: string;
  fields: ReadonlyMap<string, string>;
}

/**
 * Where a loaded session's {@link LoadedFields} ride: a symbol-keyed
 * property of the `cookie` that `get` returns. @fastify/session builds the
 * request's `Session` from it and keeps the cookie's properties, spread
 * (symbols included), as that session's cookie options; `set` finds them
 * there. Symbols never reach JSON, so nothing of it is stored or sent.
 */
const LOADED = Symbol('session-cluster.loadedFields');

const { invalid } = createOptionChecks('FastifySessionClusterStore');

/**
 * A @fastify/session store on session-cluster's stores (in place of
 * connect-redis): `fastify.register(fastifySession, { store: new
 * FastifySessionClusterStore({ store: cluster.store }), secret })`.
 *
 * **Writes merge per key.** @fastify/session hands `set` the whole session;
 * this store writes only the top-level keys that differ from what the same
 * request loaded, as one atomic field-level patch that also rolls the
 * expiry. Parallel requests that change different keys all keep their
 * changes (two that change the same key: the last write wins). A session
 * the request did not load (new, or regenerated) is created; if its id is
 * taken, replaced key by key. A session deleted meanwhile (a logout in a
 * parallel request) stays deleted.
 *
 * Ids: a @fastify/session id maps to a store id by SHA-256 (unless it is a
 * valid store id already).
 */
export class FastifySessionClusterStore {
  private readonly store: SessionStore;
  private readonly ttlMs: number;

  /** @throws SessionValidationError `INVALID_CONFIG` naming the bad option */
  public constructor(options: FastifySessionClusterStoreOptions) {
    const store: unknown = (options as Partial<FastifySessionClusterStoreOptions> | undefined)
      ?.store;
    const methods = ['load', 'create', 'patch', 'delete'] as const;
    if (
      typeof store !== 'object' ||
      store === null ||
      methods.some((m) => typeof (store as Record<string, unknown>)[m] !== 'function')
    ) {
      throw invalid('store', 'a SessionStore (cluster.store or a RedisStore)');
    }
    const ttl: unknown = options.ttl ?? 86_400;
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
      throw invalid('ttl', 'a positive number of seconds');
    }
    this.store = store as SessionStore;
    this.ttlMs = ttl * 1000;
  }

  /**
   * The session's JSON, or `null`; @fastify/session restores its `Session`
   * from it. `T`: what the caller's typings call it (@fastify/session's
   * declare a `Session`), so the store fits their `SessionStore`.
   */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed cast, by design: the caller's name for the session
  public get<T = FastifySessionData>(
    sid: string,
    callback: (error: unknown, session?: T | null) => void,
  ): void {
    // The data is the JSON form of T (all @fastify/session ever stored).
    settle(this.read(sid) as Promise<T | null>, callback);
  }

  /** Store the session: the keys changed since this request loaded it, as one patch. */
  public set(sid: string, session: object, callback: FastifySessionCallback): void {
    settle(this.write(sid, session as FastifySessionData), callback);
  }

  /** End the session. */
  public destroy(sid: string, callback: FastifySessionCallback): void {
    settle(
      this.store.delete(storeIdOf(sid)).then(() => undefined),
      callback,
    );
  }

  private async read(sid: string): Promise<FastifySessionData | null> {
    const record = await this.store.load(storeIdOf(sid));
    if (record === null) return null;
    const fields = fieldsOf(record.data, undefined);
    // A copy: @fastify/session and the app mutate it.
    const data: FastifySessionData = dataOf(fields);
    const cookie = typeof data.cookie === 'object' ? data.cookie : {};
    const loaded: LoadedFields = { sid, fields };
    Object.defineProperty(cookie, LOADED, { value: loaded, enumerable: true });
    data.cookie = cookie;
    return data;
  }

  private async write(sid: string, session: FastifySessionData): Promise<void> {
    const id = storeIdOf(sid);
    const expiresAt = this.expiryOf(session);
    if (expiresAt === undefined) {
      await this.store.delete(id);
      return;
    }
    // The Cookie instance and Dates become plain JSON.
    const fields = fieldsOf(
      JSON.parse(JSON.stringify(session)) as Record<string, unknown>,
      undefined,
    );
    const loaded = loadedOf(session, sid);
    try {
      if (loaded !== undefined) {
        await this.store.patch(id, diffFields(loaded.fields, fields), { expiresAt });
      } else {
        await this.createOrReplace(id, fields, expiresAt);
      }
    } catch (error) {
      // Deleted or expired meanwhile: it stays gone (a late save of a logged-out session).
      if (
        isSessionError(error) &&
        (error.code === 'SESSION_NOT_FOUND' || error.code === 'SESSION_EXPIRED')
      )
        return;
      throw error;
    }
    // The request's next save (an explicit save(), then onSend's) diffs against this.
    if (loaded !== undefined) loaded.fields = fields;
  }

  /** Nothing loaded: create; when the id is taken, set ours and unset the keys we do not have. */
  private async createOrReplace(
    id: string,
    fields: ReadonlyMap<string, string>,
    expiresAt: number,
  ): Promise<void> {
    const data = dataOf(fields);
    try {
      await this.store.create({ id, data, expiresAt });
      return;
    } catch (error) {
      if (!(isSessionError(error) && error.code === 'SESSION_ALREADY_EXISTS')) throw error;
    }
    const current = await this.store.load(id);
    if (current === null) return;
    const unset = Object.keys(current.data).filter((key) => !fields.has(key));
    await this.store.patch(id, { set: data, unset }, { expiresAt });
  }

  /** When the session ends (epoch ms), or `undefined` when it already has. */
  private expiryOf(session: FastifySessionData): number | undefined {
    const now = Date.now();
    const expires = session.cookie?.expires;
    const cookieAt =
      expires === undefined || expires === null ? Number.NaN : new Date(expires).getTime();
    const at = Number.isFinite(cookieAt) ? cookieAt : now + this.ttlMs;
    return at > now ? Math.ceil(at) : undefined;
  }
}

/** @fastify/session's id → the store id it lives under. */
function storeIdOf(sid: string): string {
  if (typeof sid !== 'string' || sid.length === 0) {
    throw invalid('sid', 'a non-empty session id');
  }
  return isValidSessionId(sid) ? sid : hash('sha256', sid, 'base64url');
}

/** What this request loaded of `sid`, found among the session's own (symbol-keyed) cookie options. */
function loadedOf(session: FastifySessionData, sid: string): LoadedFields | undefined {
  for (const key of Object.getOwnPropertySymbols(session)) {
    const value: unknown = (session as Record<symbol, unknown>)[key];
    if (typeof value !== 'object' || value === null || !(LOADED in value)) continue;
    const loaded = (value as { [LOADED]: LoadedFields })[LOADED];
    // A regenerated session inherits the old cookie options: not its base.
    if (loaded.sid === sid) return loaded;
  }
  return undefined;
}

function settle<T>(work: Promise<T>, callback: FastifySessionCallback<T>): void {
  work.then(
    (value) => {
      callback(null, value);
    },
    (error: unknown) => {
      callback(toSessionError(error, { operation: 'fastify-session' }));
    },
  );
}
