import { isSessionError } from '@session-cluster/core';
import express from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import type { SessionMiddleware } from './session-middleware.js';
import { sessionOf } from './request-session.js';

/** Every SessionError that reached the app's error handler, per app. */
export interface TestApp {
  readonly app: Express;
  readonly errors: { code: string; operation: string | undefined }[];
}

/**
 * The routes the middleware tests drive: each exercises one part of
 * `req.session` and answers JSON (never the raw id, only its hash).
 */
export function buildTestApp(middleware: SessionMiddleware, name = 'app'): TestApp {
  const app = express();
  const errors: TestApp['errors'] = [];
  app.use(middleware);
  app.get('/session', async (req, res) => {
    const session = sessionOf(req);
    const snapshot = await session.load();
    res.json({ instance: name, idHash: session.idHash ?? null, isNew: session.isNew, ...snapshot });
  });
  app.get('/nothing', (_req, res) => {
    res.json({ instance: name });
  });
  app.post('/set/:key/:value', (req, res) => {
    sessionOf(req).set(req.params.key, req.params.value);
    res.json({ instance: name });
  });
  app.post('/unset/:key', (req, res) => {
    sessionOf(req).unset(req.params.key);
    res.json({ instance: name });
  });
  app.post('/incr', async (req, res) => {
    const data = await sessionOf(req).update((d) => ({
      ...d,
      counter: Number(d['counter'] ?? 0) + 1,
    }));
    res.json({ instance: name, counter: data['counter'] });
  });
  // Read, compute, set: safe only under lock: 'request'.
  app.post('/incr-read-set', async (req, res) => {
    const session = sessionOf(req);
    const counter = Number((await session.get('counter')) ?? 0);
    await new Promise((resolve) => setImmediate(resolve));
    session.set('counter', counter + 1);
    res.json({ instance: name, counter: counter + 1 });
  });
  app.post('/login/:user', async (req, res) => {
    const session = sessionOf(req);
    await session.regenerate({ userId: req.params.user });
    res.json({ instance: name });
  });
  app.post('/logout', async (req, res) => {
    await sessionOf(req).destroy();
    res.json({ instance: name });
  });
  app.post('/logout-everywhere', async (req, res) => {
    const deleted = await sessionOf(req).destroyAllForUser({
      keepCurrent: req.query['keep'] === '1',
    });
    res.json({ instance: name, deleted });
  });
  app.post('/big', (req, res) => {
    sessionOf(req).set('blob', 'x'.repeat(Number(req.query['bytes'] ?? 5_000)));
    res.json({ instance: name });
  });
  app.post('/stream', async (req, res) => {
    const session = sessionOf(req);
    session.set('streamed', true);
    if (req.query['commit'] === '1') await session.commit();
    res.write('part 1;');
    res.end('part 2');
  });
  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    if (isSessionError(error)) {
      errors.push({ code: error.code, operation: error.operation });
      res.status(error.category === 'client' ? 400 : 503).json({ error: error.code });
      return;
    }
    res.status(500).json({ error: 'internal' });
  };
  app.use(onError);
  return { app, errors };
}
