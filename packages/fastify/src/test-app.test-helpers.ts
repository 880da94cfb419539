import { isSessionError } from '@session-cluster/core';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { SessionMiddlewareStats } from '@session-cluster/express';
import { sessionCluster } from './session-plugin.js';
import type { FastifySessionOptions } from './session-plugin.js';

/** A Fastify app over the plugin, and every SessionError its error handler saw. */
export interface FastifyTestApp {
  readonly app: FastifyInstance;
  readonly errors: { code: string; operation: string | undefined }[];
  /** How many replies the server finished (one per request, even when a commit failed). */
  readonly replies: { count: number };
  /** The plugin's counters (decorated on the context it was registered in). */
  readonly stats: () => SessionMiddlewareStats;
}

/**
 * The routes the plugin tests drive (the Express tests' routes, the Fastify
 * way): each exercises one part of `request.session` and answers JSON
 * (never the raw id, only its hash). `/plain/*` is a sibling context
 * without the plugin.
 */
export async function buildFastifyTestApp(
  options: FastifySessionOptions,
  name = 'app',
): Promise<FastifyTestApp> {
  const app = Fastify();
  const errors: FastifyTestApp['errors'] = [];
  const replies = { count: 0 };
  let scoped: FastifyInstance | undefined;
  app.addHook('onResponse', (_request, _reply, done) => {
    replies.count += 1;
    done();
  });
  app.setErrorHandler((error: unknown, _request, reply) => {
    if (isSessionError(error)) {
      errors.push({ code: error.code, operation: error.operation });
      return reply.status(error.category === 'client' ? 400 : 503).send({ error: error.code });
    }
    return reply.status(500).send({ error: 'internal' });
  });
  await app.register(async (scope) => {
    await scope.register(sessionCluster, options);
    scoped = scope;
    type KeyValue = { Params: { key: string; value: string } };
    scope.get('/session', async (request) => {
      const { session } = request;
      const snapshot = await session.load();
      return { instance: name, idHash: session.idHash ?? null, isNew: session.isNew, ...snapshot };
    });
    scope.get('/nothing', () => ({ instance: name }));
    scope.post<KeyValue>('/set/:key/:value', (request) => {
      request.session.set(request.params.key, request.params.value);
      return { instance: name };
    });
    scope.post<{ Params: { key: string } }>('/unset/:key', (request) => {
      request.session.unset(request.params.key);
      return { instance: name };
    });
    scope.post('/incr', async (request) => {
      const data = await request.session.update((d) => ({
        ...d,
        counter: Number(d['counter'] ?? 0) + 1,
      }));
      return { instance: name, counter: data['counter'] };
    });
    // Read, compute, set: safe only under lock: 'request'.
    scope.post('/incr-read-set', async (request) => {
      const { session } = request;
      const counter = Number((await session.get('counter')) ?? 0);
      await new Promise((resolve) => setImmediate(resolve));
      session.set('counter', counter + 1);
      return { instance: name, counter: counter + 1 };
    });
    scope.post<{ Params: { user: string } }>('/login/:user', async (request) => {
      await request.session.regenerate({ userId: request.params.user });
      return { instance: name };
    });
    scope.post('/logout', async (request) => {
      await request.session.destroy();
      return { instance: name };
    });
    scope.post<{ Querystring: { keep?: string } }>('/logout-everywhere', async (request) => {
      const deleted = await request.session.destroyAllForUser({
        keepCurrent: request.query.keep === '1',
      });
      return { instance: name, deleted };
    });
    // The reply goes out through reply.send, not a returned value.
    scope.post('/set-and-send', (request, reply) => {
      request.session.set('sent', true);
      void reply.header('x-route', 'sent').send({ instance: name });
    });
    scope.post('/throws', (request) => {
      request.session.set('before-throw', true);
      throw new Error('handler failed');
    });
  });
  await app.register(
    (scope, _options, done) => {
      scope.get('/session', (request) => ({ session: request.session }));
      done();
    },
    { prefix: '/plain' },
  );
  return {
    app,
    errors,
    replies,
    stats: () => {
      if (scoped === undefined) throw new Error('the session context was not set up');
      return scoped.sessionStats;
    },
  };
}
