import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SessionRecord } from '@session-cluster/core';
import {
  SESSION_MIDDLEWARE_DEFAULTS,
  SessionCookieSigner,
  sessionMiddleware,
} from '@session-cluster/express';
import { HealthMonitor } from '@session-cluster/health';
import { SessionManager } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { cookieClient } from '@session-cluster/testkit';
import type { CookieClient } from '@session-cluster/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDemoApp } from './demo-app.js';
import { EndedSessionCheck } from './ended-session.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';
const TTL_MS = 30 * 60_000;
const CHROME_LINUX =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** A memory store whose reads can be made to fail, as a broken disk or driver would. */
class BreakableStore extends MemoryStore {
  public broken = false;

  public override load(id: string): Promise<SessionRecord | null> {
    if (this.broken) return Promise.reject(new Error('disk on fire'));
    return super.load(id);
  }
}

interface LogLine {
  level: number;
  msg: string;
  status?: number;
  code?: string;
  path?: string;
  err?: { message: string; stack: string };
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('the demo app (one instance, memory store, real HTTP)', () => {
  const logs: LogLine[] = [];
  const store = new BreakableStore();
  let manager: SessionManager;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const health = new HealthMonitor({ probe: { store } });
    manager = new SessionManager({ store, locker: new MemoryLocker(), health, ttlMs: TTL_MS });
    const logger = pino(
      { level: 'info' },
      {
        write(line: string) {
          logs.push(JSON.parse(line) as LogLine);
        },
      },
    );
    const app = createDemoApp({
      instance: 'instance-test',
      mode: 'memory (test)',
      manager,
      health,
      sessions: sessionMiddleware(manager, {
        secrets: [SECRET],
        cookie: { secure: false, maxAgeMs: TTL_MS },
      }),
      logger,
      endedSessions: new EndedSessionCheck({
        signer: new SessionCookieSigner([SECRET]),
        cookieName: SESSION_MIDDLEWARE_DEFAULTS.managedCookieName,
        ttlMs: TTL_MS,
      }),
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await manager.close();
  });
  beforeEach(() => {
    logs.length = 0;
    store.broken = false;
  });

  async function loggedIn(user: string, agent = CHROME_LINUX): Promise<CookieClient> {
    const tab = cookieClient('sc.sid');
    const res = await tab.request('POST', `${url}/login`, {
      headers: { ...FORM, 'user-agent': agent },
      body: new URLSearchParams({ user }).toString(),
    });
    expect(res.status).toBe(303);
    return tab;
  }

  it('a form over 4 KB: 413 page with the visitor’s own nav, and a log line', async () => {
    const tab = await loggedIn('alice');
    const res = await tab.request('POST', `${url}/cart/add`, {
      headers: FORM,
      body: new URLSearchParams({ item: 'x'.repeat(5000) }).toString(),
    });
    expect(res.status).toBe(413);
    expect(res.text).toContain('<h1>Form too large</h1>');
    expect(res.text).toContain('logged in as <b id="user">alice</b>');
    expect(res.text).toContain('action="/logout"');
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 40, status: 413, code: 'entity.too.large' }),
    );
  });

  it('a charset or content-encoding it cannot read: 415 page', async () => {
    const tab = cookieClient('sc.sid');
    const charset = await tab.request('POST', `${url}/cart/add`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=koi8-r' },
      body: 'item=pen',
    });
    expect(charset.status).toBe(415);
    expect(charset.text).toContain('character set');
    const encoding = await tab.request('POST', `${url}/cart/add`, {
      headers: { ...FORM, 'content-encoding': 'garbage' },
      body: 'item=pen',
    });
    expect(encoding.status).toBe(415);
    expect(encoding.text).toContain('<h1>Unsupported form encoding</h1>');
    expect(encoding.text).toContain('<a id="login-link" href="/login">log in</a>');
    expect(logs.filter((l) => l.status === 415)).toHaveLength(2);
  });

  it('a gzip body that is not gzip: 400 page', async () => {
    const res = await cookieClient('sc.sid').request('POST', `${url}/cart/add`, {
      headers: { ...FORM, 'content-encoding': 'gzip' },
      body: 'item=pen',
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('<h1>Bad request</h1>');
  });

  it('a user name the form’s pattern refuses: 400 with the rule and a form to retry', async () => {
    const tab = cookieClient('sc.sid');
    for (const user of ['bad name!<>', ' alice', 'x'.repeat(41), '']) {
      const res = await tab.request('POST', `${url}/login`, {
        headers: FORM,
        body: new URLSearchParams({ user }).toString(),
      });
      expect(res.status).toBe(400);
      expect(res.text).toContain('id="problem"');
      expect(res.text).toContain('letters A–Z and a–z, digits, and _ . -');
      expect(res.text).toContain('<form method="post" action="/login" id="login">');
      expect(res.text).toContain('pattern="[A-Za-z0-9_.\\-]{1,40}"');
    }
    const refused = await tab.request('POST', `${url}/login`, {
      headers: FORM,
      body: new URLSearchParams({ user: 'bad name!<>' }).toString(),
    });
    expect(refused.text).toContain('value="bad name!&lt;&gt;"');
    expect(refused.text).not.toContain('bad name!<>');
    // Everything the pattern allows, the server takes.
    await loggedIn('a.b_c-D9');
  });

  it('unknown routes: a 404 page in the demo’s style; the favicon is served', async () => {
    const tab = await loggedIn('bob');
    const res = await tab.request('GET', `${url}/nowhere/<x>`);
    expect(res.status).toBe(404);
    expect(res.text).toContain('<h1>Page not found</h1>');
    expect(res.text).toContain('<code>/nowhere/%3Cx%3E</code>');
    expect(res.text).toContain('logged in as <b id="user">bob</b>');
    const icon = await fetch(`${url}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(res.text).toContain('<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,');
  });

  it('a 5xx is logged with its cause', async () => {
    const tab = cookieClient('sc.sid');
    await tab.request('POST', `${url}/counter`);
    store.broken = true;
    const res = await tab.request('GET', `${url}/`);
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.text).toContain('<h1>Something went wrong</h1>');
    const failed = logs.filter((l) => l.msg === 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50, path: '/', status: res.status });
    expect(failed[0]?.err?.stack).toContain('disk on fire');
  });

  it('sessions page: device and times in words; a revoked browser is told once', async () => {
    const laptop = await loggedIn('carol');
    const phone = await loggedIn(
      'carol',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    );
    const list = await laptop.request('GET', `${url}/sessions`);
    expect(list.text).toContain('<td>Chrome on Linux</td>');
    expect(list.text).toContain('<td>Safari on iOS</td>');
    expect(list.text).toMatch(/>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/time> <small>\(just now\)/);
    expect(list.text).toMatch(/UTC<\/time> <small>\(in 30 min\)/);
    expect(list.text).not.toMatch(/\d\d:\d\d:\d\d\.\d{3}/);

    await laptop.request('POST', `${url}/sessions/revoke-others`);
    const revoked = await phone.request('GET', `${url}/sessions`);
    expect(revoked.text).toContain(
      '<p class="notice" id="notice">You were logged out from another device.</p>',
    );
    expect(phone.cookie).toBeUndefined();
    const after = await phone.request('GET', `${url}/sessions`);
    expect(after.text).not.toContain('id="notice"');
    // Logging out oneself is no news.
    await laptop.request('POST', `${url}/logout`);
    expect((await laptop.request('GET', `${url}/`)).text).not.toContain('id="notice"');
  });

  it('the status page probes on load', async () => {
    const res = await cookieClient('sc.sid').request('GET', `${url}/status`);
    expect(res.text).toMatch(/<td id="last-probe">ok, [\d.]+ ms<\/td>/);
  });
});
