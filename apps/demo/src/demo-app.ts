import '@session-cluster/express/augment';
import { hashSessionId, isSessionError } from '@session-cluster/core';
import type { SessionMiddleware } from '@session-cluster/express';
import { createHealthHandlers } from '@session-cluster/health';
import type { HealthMonitor } from '@session-cluster/health';
import express from 'express';
import type { ErrorRequestHandler, Express, Request } from 'express';
import type { SessionManager } from '@session-cluster/manager';
import { metricsText } from './metrics-text.js';
import {
  accountPage,
  cartPage,
  counterPage,
  escapeHtml,
  layout,
  sessionsPage,
  statusPage,
} from './pages.js';
import type { PageFrame, SessionRow } from './pages.js';

/** What the demo app is built from. */
export interface DemoAppOptions {
  /** Shown on every page and in the `X-Instance` header. */
  readonly instance: string;
  /** Where sessions live, in words (the footer). */
  readonly mode: string;
  readonly manager: SessionManager;
  readonly health: HealthMonitor;
  readonly sessions: SessionMiddleware;
}

const MAX_CART = 50;

/**
 * The demo's Express app: server-rendered pages over `req.session`, plus
 * `/healthz`, `/readyz` and `/metrics`. Every page says which instance
 * served it.
 */
export function createDemoApp(options: DemoAppOptions): Express {
  const { instance, manager, health, sessions } = options;
  const app = express();
  app.disable('x-powered-by');
  const { liveness, readiness } = createHealthHandlers(health, { probeMaxAgeMs: 5_000 });
  app.get('/healthz', liveness);
  app.get('/readyz', readiness);
  app.get('/metrics', (_req, res) => {
    res
      .type('text/plain; version=0.0.4')
      .send(metricsText(instance, health.report(), sessions.stats));
  });

  app.use((_req, res, next) => {
    res.setHeader('X-Instance', instance);
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  app.use(sessions);

  const frame = async (req: Request): Promise<PageFrame> => ({
    instance,
    mode: options.mode,
    user: (await req.session.load()).userId,
    degraded: req.session.degraded,
  });
  const field = (req: Request, name: string): string => {
    const body = req.body as Record<string, unknown> | undefined;
    const value = body?.[name];
    return typeof value === 'string' ? value.trim() : '';
  };

  app.get('/', async (req, res) => {
    const counter = Number((await req.session.get('counter')) ?? 0);
    res.send(counterPage(await frame(req), counter));
  });
  app.post('/counter', async (req, res) => {
    await req.session.update((data) => ({ ...data, counter: Number(data['counter'] ?? 0) + 1 }));
    res.redirect(303, '/');
  });

  app.get('/cart', async (req, res) => {
    const cart = await req.session.get('cart');
    const items = Array.isArray(cart) ? cart.map(String) : [];
    res.send(cartPage(await frame(req), items));
  });
  app.post('/cart/add', async (req, res) => {
    const item = field(req, 'item').slice(0, 60);
    if (item !== '') {
      await req.session.update((data) => {
        const cart = Array.isArray(data['cart']) ? data['cart'] : [];
        return { ...data, cart: [...cart, item].slice(-MAX_CART) };
      });
    }
    res.redirect(303, '/cart');
  });
  app.post('/cart/remove', async (req, res) => {
    const index = Number(field(req, 'index'));
    await req.session.update((data) => {
      const cart = Array.isArray(data['cart']) ? [...data['cart']] : [];
      if (Number.isInteger(index) && index >= 0) cart.splice(index, 1);
      return { ...data, cart };
    });
    res.redirect(303, '/cart');
  });

  app.get('/login', async (req, res) => {
    res.send(accountPage(await frame(req)));
  });
  app.post('/login', async (req, res) => {
    const user = field(req, 'user');
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(user)) {
      res
        .status(400)
        .send(
          layout(await frame(req), 'Account', '<p>Pick a user name of letters and digits.</p>'),
        );
      return;
    }
    // New id at login, same data (cart, counter): no session fixation.
    await req.session.regenerate({ userId: user });
    req.session.set('device', (req.get('user-agent') ?? 'unknown').slice(0, 80));
    res.redirect(303, '/sessions');
  });
  app.post('/logout', async (req, res) => {
    await req.session.destroy();
    res.redirect(303, '/');
  });

  app.get('/sessions', async (req, res) => {
    const page = await frame(req);
    if (page.user === undefined) {
      res.send(sessionsPage(page, []));
      return;
    }
    const currentHash = req.session.idHash;
    const rows: SessionRow[] = (await manager.listByUser(page.user)).map((record) => {
      const idHash = hashSessionId(record.id);
      return {
        idHash,
        current: idHash === currentHash,
        device: typeof record.data['device'] === 'string' ? record.data['device'] : 'unknown',
        createdAt: record.createdAt,
        expiresAt: record.expiresAt,
      };
    });
    res.send(sessionsPage(page, rows));
  });
  app.post('/sessions/revoke', async (req, res) => {
    const { userId } = await req.session.load();
    const target = field(req, 'session');
    if (userId !== undefined && target !== req.session.idHash) {
      // Pages carry only id hashes; the id is found again among this user's own sessions.
      const victim = (await manager.listByUser(userId)).find(
        (record) => hashSessionId(record.id) === target,
      );
      if (victim !== undefined) await manager.delete(victim.id);
    }
    res.redirect(303, '/sessions');
  });
  app.post('/sessions/revoke-others', async (req, res) => {
    await req.session.destroyAllForUser({ keepCurrent: true });
    res.redirect(303, '/sessions');
  });
  app.post('/sessions/revoke-all', async (req, res) => {
    await req.session.destroyAllForUser();
    res.redirect(303, '/');
  });

  app.get('/status', async (req, res) => {
    const page = await frame(req);
    const yourSessions =
      page.user === undefined ? null : (await manager.listByUser(page.user)).length;
    res.send(
      statusPage(page, health.report(), {
        sessionsCreatedHere: sessions.stats.sessionsCreated,
        rejectedCookiesHere: sessions.stats.rejectedCookies,
        commitFailuresHere: sessions.stats.commitFailures,
        yourSessions,
      }),
    );
  });

  const onError: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const code = isSessionError(error) ? error.code : 'INTERNAL';
    const status = isSessionError(error)
      ? error.category === 'client'
        ? 400
        : error.category === 'storage' || error.category === 'concurrency'
          ? 503
          : 500
      : 500;
    res
      .status(status)
      .send(
        layout(
          { instance, mode: options.mode, user: undefined, degraded: manager.degraded },
          'Something went wrong',
          `<p>The request failed: <code>${escapeHtml(code)}</code>. Try again.</p>`,
        ),
      );
  };
  app.use(onError);
  return app;
}
