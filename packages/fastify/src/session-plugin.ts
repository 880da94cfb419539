import { SessionValidationError } from '@session-cluster/core';
import type { SessionError } from '@session-cluster/core';
import type {
  ManagedSessionOptions,
  RequestSession,
  SessionMiddlewareStats,
} from '@session-cluster/express';
import {
  ManagedSession,
  createManagedContext,
  requestCookie,
} from '@session-cluster/express/http-core';
import type { MiddlewareStats } from '@session-cluster/express/http-core';
import type { SessionManager } from '@session-cluster/manager';
import type { FastifyInstance, FastifyPluginCallback, RegisterOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ReplyResponse } from './reply-response.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's session (set by the `@session-cluster/fastify` plugin). */
    session: RequestSession;
  }
  interface FastifyInstance {
    /** Process-local counters of the session plugin registered in this context. */
    readonly sessionStats: SessionMiddlewareStats;
  }
}

/** How the plugin's option errors name it: `sessionCluster (Fastify plugin) option <field>: …`. */
const PLUGIN_OWNER = 'sessionCluster (Fastify plugin)';
/** Options of the `@session-cluster/fastify` plugin: Express's session options plus the manager. */
export interface FastifySessionOptions extends ManagedSessionOptions {
  /** Where sessions live: `createSessionCluster(…).manager` (Redis, shared by every instance). */
  readonly manager: SessionManager;
}

/** Counts a failed commit; Fastify's error handler gets the error itself (`onSend`'s `done(error)`). */
function countFailure(this: MiddlewareStats, _error: SessionError): void {
  this.commitFailures += 1;
}

const plugin: FastifyPluginCallback<FastifySessionOptions> = (fastify, options, done) => {
  try {
    setUp(fastify, options);
  } catch (error) {
    // Through avvio: `register`/`ready` reject with it (a throw here would escape).
    done(error as Error);
    return;
  }
  done();
};

function setUp(fastify: FastifyInstance, options: FastifySessionOptions): void {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new SessionValidationError(`${PLUGIN_OWNER}: expected an options object`, {
      code: 'INVALID_CONFIG',
      field: 'options',
    });
  }
  if (fastify.hasDecorator('sessionStats')) {
    // The outer registration's onRequest hook runs first and its session
    // would win: this one would be silently ignored.
    throw new SessionValidationError(
      `${PLUGIN_OWNER}: already registered in this context or a parent; register it once per encapsulation context`,
      { code: 'INVALID_CONFIG', field: 'register' },
    );
  }
  // Commits are driven from onSend (no response hold): Fastify sends only
  // after its onSend hooks, and the cookie goes out with the reply headers.
  // Fastify hands its own register options (`prefix`, `logLevel`, `logSerializers`) on too.
  const {
    manager,
    prefix: _prefix,
    logLevel: _logLevel,
    logSerializers: _logSerializers,
    ...sessionOptions
  } = options as FastifySessionOptions & RegisterOptions;
  const ctx = createManagedContext(manager, sessionOptions, undefined, PLUGIN_OWNER);
  const { stats } = ctx;
  const onFailure = countFailure.bind(stats);

  // `null` until onRequest: one shape for every request (Fastify's advice).
  if (!fastify.hasRequestDecorator('session'))
    fastify.decorateRequest<RequestSession | null>('session', null);
  fastify.decorate('sessionStats', stats);

  fastify.addHook('onRequest', (request, reply, next) => {
    const cookie = requestCookie(ctx, request.headers.cookie);
    request.session = new ManagedSession(ctx, new ReplyResponse(reply), onFailure, cookie);
    if (ctx.degradedHeader !== undefined && ctx.manager.degraded) {
      void reply.header(ctx.degradedHeader, '1');
    }
    next();
  });

  // Commit before the reply goes out, so it carries the cookie and the next
  // request, on any instance, sees the write. A failure goes to Fastify's
  // error handler; its own reply passes through here again and commits
  // nothing (the session is marked failed), so a reply is never sent twice,
  // and a request lock is released by the failed commit itself.
  fastify.addHook('onSend', (request, _reply, payload, next) => {
    const session: unknown = request.session;
    const committing =
      session instanceof ManagedSession ? session.commitBeforeResponse() : undefined;
    if (committing === undefined) {
      next(null, payload);
      return;
    }
    committing.then(
      () => {
        next(null, payload);
      },
      (error: unknown) => {
        next(error as Error);
      },
    );
  });
}

/**
 * Fastify 5 plugin giving every request `request.session`, the same
 * {@link RequestSession} as Express's `req.session`: a signed cookie
 * (HMAC-SHA256, rotating secrets) carries the id, data lives in the
 * manager's store (Redis, shared by every instance), changes are tracked
 * per key and committed as one atomic patch in `onSend`, `lock: 'request'`
 * serializes a session's requests across instances.
 *
 * Registered with `fastify-plugin`: the session applies to the context the
 * plugin is registered in and its children (register it inside a scoped
 * plugin to give one prefix other options, e.g. `lock: 'request'`). A
 * second registration in the same context or a child is refused.
 *
 * Commit failures reach Fastify's error handler as a `SessionError`. A
 * hijacked reply (`reply.hijack()`) skips `onSend`: `await
 * request.session.commit()` before writing to `reply.raw` (a new session's
 * cookie cannot be set that way).
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option (from `register` / `ready`)
 * @example
 * ```ts
 * const cluster = createSessionCluster({ redis: { url: process.env.REDIS_URL! } });
 * await app.register(sessionCluster, { manager: cluster.manager, secrets: [process.env.SESSION_SECRET!] });
 * app.post('/visit', (request) =>
 *   request.session.update((d) => ({ ...d, visits: Number(d.visits ?? 0) + 1 })),
 * );
 * ```
 */
export const sessionCluster: FastifyPluginCallback<FastifySessionOptions> = fp(plugin, {
  fastify: '5.x',
  name: '@session-cluster/fastify',
});
