import '@session-cluster/express/augment';
import { hashSessionId } from '@session-cluster/core';
import type { SessionMiddleware } from '@session-cluster/express';
import { createHealthHandlers } from '@session-cluster/health';
import type { HealthMonitor } from '@session-cluster/health';
import express from 'express';
import type { ErrorRequestHandler, Express, Request } from 'express';
import type { SessionManager } from '@session-cluster/manager';
import type { Logger } from 'pino';
import type { EndedSessionCheck } from './ended-session.js';
import { metricsText } from './metrics-text.js';
import {
  FAVICON_SVG,
  accountPage,
  cartPage,
  counterPage,
  errorPage,
  notFoundPage,
  sessionsPage,
  statusPage,
} from './pages.js';
import type { PageFrame, SessionRow } from './pages.js';
import { FORM_LIMIT, describeFailure } from './request-failure.js';
import { describeUserAgent } from './user-agent.js';
import { USER_NAME_RULE, isValidUserName } from './user-name.js';

/** What the demo app is built from. */
export interface DemoAppOptions {
  /** Shown on every page and in the `X-Instance` header. */
  readonly instance: string;
  /** Where sessions live, in words (the footer). */
  readonly mode: string;
  readonly manager: SessionManager;
  readonly health: HealthMonitor;
  readonly sessions: SessionMiddleware;
  /** Where refused and failed requests are logged (the instance's pino logger). */
  readonly logger: Logger;
  /** Spots a session cookie whose session was revoked elsewhere; no notice without it. */
  readonly endedSessions?: EndedSessionCheck | undefined;
}

const MAX_CART = 50;

/** `/readyz` and the status page probe Redis when the last probe is older than this. */
const PROBE_MAX_AGE_MS = 5_000;

const ENDED_ELSEWHERE = 'You were logged out from another device.';

/**
 * The demo's Express app: server-rendered pages over `req.session`, plus
 * `/healthz`, `/readyz` and `/metrics`. Every page says which instance
 * served it.
 */
export function createDemoApp(options: DemoAppOptions): Express {
  const { instance, manager, health, sessions, logger, endedSessions } = options;
  const app = express();
  app.disable('x-powered-by');
  const { liveness, readiness } = createHealthHandlers(health, { probeMaxAgeMs: PROBE_MAX_AGE_MS });
  app.get('/favicon.ico', (_req, res) => {
    res.type('image/svg+xml').setHeader('Cache-Control', 'public, max-age=86400');
    res.send(FAVICON_SVG);
  });
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
  // Sessions before the body parser: a refused body still gets a page
  // with the visitor's own navigation (logged in or not).
  app.use(sessions);
  app.use(express.urlencoded({ extended: false, limit: FORM_LIMIT }));

  const frame = async (req: Request): Promise<PageFrame> => {
    const { userId } = await req.session.load();
    const { degraded, isNew } = req.session;
    // Loaded and found missing while Redis answers: the cookie's session is
    // gone; the middleware clears the cookie, so the notice shows once.
    const ended =
      isNew && !degraded && endedSessions?.cookieOutlivedItsSession(req.get('cookie'), Date.now());
    return {
      instance,
      mode: options.mode,
      user: userId,
      degraded,
      notice: ended === true ? ENDED_ELSEWHERE : undefined,
    };
  };
  const rawField = (req: Request, name: string): string => {
    const body = req.body as Record<string, unknown> | undefined;
    const value = body?.[name];
    return typeof value === 'string' ? value : '';
  };
  const field = (req: Request, name: string): string => rawField(req, name).trim();

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
    // Untrimmed: the server accepts exactly what the form's pattern lets through.
    const user = rawField(req, 'user');
    if (!isValidUserName(user)) {
      res.status(400).send(
        accountPage(await frame(req), {
          value: user.slice(0, 40),
          problem: `That user name was not accepted: a user name is ${USER_NAME_RULE}.`,
        }),
      );
      return;
    }
    // New id at login, same data (cart, counter): no session fixation.
    await req.session.regenerate({ userId: user });
    req.session.set('device', describeUserAgent(req.get('user-agent')));
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
    // Probe on load, as /readyz does: "last probe" is never empty on a fresh instance.
    const age = health.lastProbeAgeMs;
    if (health.hasProbe && (age === null || age > PROBE_MAX_AGE_MS)) await health.check();
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

  app.use(async (req, res) => {
    res.status(404).send(notFoundPage(await frame(req), req.path));
  });

  const onError: ErrorRequestHandler = async (error: unknown, req, res, next) => {
    const failure = describeFailure(error);
    const entry = {
      err: error,
      method: req.method,
      path: req.path,
      status: failure.status,
      code: failure.code,
    };
    if (failure.level === 'error') logger.error(entry, 'request failed');
    else logger.warn(entry, 'request refused');
    if (res.headersSent) {
      next(error);
      return;
    }
    let page: PageFrame;
    try {
      page = await frame(req);
    } catch {
      // The session cannot be read either (Redis failing): a page without it.
      page = { instance, mode: options.mode, user: undefined, degraded: manager.degraded };
    }
    res.status(failure.status).send(errorPage(page, failure));
  };
  app.use(onError);
  return app;
}
