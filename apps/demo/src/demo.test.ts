import { cookieClient, startRedisServer } from '@session-cluster/testkit';
import type { CookieClient, RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from './browser.test-helpers.js';
import { startDemo } from './demo-process.test-helpers.js';
import type { DemoProcess } from './demo-process.test-helpers.js';

const COOKIE = 'sc.sid';

/** Each request on a fresh connection, so node:cluster hands them to different instances. */
async function page(tab: CookieClient, method: string, url: string, form?: Record<string, string>) {
  const headers: Record<string, string> = { connection: 'close' };
  if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  return tab.request(method, url, {
    headers,
    ...(form === undefined ? {} : { body: new URLSearchParams(form).toString() }),
  });
}

describe('the demo (pnpm start): three instances on one port', () => {
  let redis: RedisServerHandle;
  let demo: DemoProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    demo = await startDemo(redis.url);
  });
  afterAll(async () => {
    if (demo.child.exitCode === null) await demo.interrupt();
    await redis.stop();
  });

  it('says where to open it and which Redis it uses', () => {
    expect(demo.output()).toContain(`sessions in Redis at ${redis.url}`);
    expect(demo.output()).toMatch(/3 instances \(node:cluster\)/);
  });

  it('serves the pages; every instance sees the same counter', async () => {
    const tab = cookieClient(COOKIE);
    const home = await page(tab, 'GET', `${demo.url}/`);
    expect(home.status).toBe(200);
    expect(home.text).toContain('<span id="counter">0</span>');
    expect(home.setCookies).toEqual([]);
    for (let i = 0; i < 6; i++)
      expect((await page(tab, 'POST', `${demo.url}/counter`)).status).toBe(303);
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const res = await page(tab, 'GET', `${demo.url}/`);
      expect(res.text).toContain('<span id="counter">6</span>');
      seen.add(res.headers.get('x-instance') ?? '');
    }
    expect([...seen].sort()).toEqual(['instance-1', 'instance-2', 'instance-3']);
  });

  it('cart, login (new id), your sessions across devices, revoke others, status', async () => {
    const laptop = cookieClient(COOKIE);
    const phone = cookieClient(COOKIE);
    await page(laptop, 'POST', `${demo.url}/cart/add`, { item: 'book' });
    await page(laptop, 'POST', `${demo.url}/cart/add`, { item: 'pen' });
    expect((await page(laptop, 'GET', `${demo.url}/cart`)).text).toMatch(/book[\s\S]*pen/);
    const anonymous = laptop.cookie;
    await page(laptop, 'POST', `${demo.url}/login`, { user: 'alice' });
    expect(laptop.cookie).not.toBe(anonymous);
    expect((await page(laptop, 'GET', `${demo.url}/cart`)).text).toMatch(/book[\s\S]*pen/);
    await page(phone, 'POST', `${demo.url}/login`, { user: 'alice' });
    const list = await page(laptop, 'GET', `${demo.url}/sessions`);
    expect(list.text.match(/<tr><td><code>/g)).toHaveLength(2);
    expect(list.text).toContain('(this one)');
    expect(list.text).not.toContain(laptop.cookie!.split('.')[0]!);
    await page(laptop, 'POST', `${demo.url}/sessions/revoke-others`);
    expect((await page(phone, 'GET', `${demo.url}/sessions`)).text).toContain('Log in</a> to see');
    const status = await page(laptop, 'GET', `${demo.url}/status`);
    expect(status.text).toContain('<td id="health-status">healthy</td>');
    expect(status.text).toContain('<td id="degraded">no</td>');
    await page(laptop, 'POST', `${demo.url}/logout`);
    expect(laptop.cookie).toBeUndefined();
  });

  it('health, readiness and metrics endpoints answer', async () => {
    const tab = cookieClient(COOKIE);
    expect((await page(tab, 'GET', `${demo.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await page(tab, 'GET', `${demo.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'healthy', degraded: false });
    const metrics = await page(tab, 'GET', `${demo.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/^session_cluster_degraded\{instance="instance-\d"\} 0$/m);
  });

  it('a browser clicks the counter in two tabs; no click is lost, any instance serves', async () => {
    const browser = await openBrowser();
    try {
      const [first, second] = [await browser.context.newPage(), await browser.context.newPage()];
      for (const tab of [first, second]) await tab.goto(`${demo.url}/`);
      const instances = new Set<string>();
      for (let click = 1; click <= 6; click++) {
        const tab = click % 2 === 1 ? first : second;
        await tab.reload();
        await Promise.all([tab.waitForURL(`${demo.url}/`), tab.click('#increment')]);
        await tab.waitForLoadState('load');
        expect(await tab.textContent('#counter')).toBe(String(click));
        instances.add((await tab.textContent('#instance')) ?? '');
      }
      await first.reload();
      expect(await first.textContent('#counter')).toBe('6');
      expect([...instances].every((name) => /^instance-[123]$/.test(name))).toBe(true);
      const cookies = await browser.context.cookies(demo.url);
      expect(cookies.find((c) => c.name === COOKIE)).toMatchObject({
        httpOnly: true,
        sameSite: 'Lax',
      });
    } finally {
      await browser.close();
    }
    // Chromium on a shared 2-core machine: six reload + click rounds can take over 30 s.
  }, 90_000);

  it('stops cleanly on SIGINT', async () => {
    const code = await demo.interrupt();
    expect(code).toBe(0);
    expect(demo.output()).toContain('stopped');
    await expect(fetch(`${demo.url}/healthz`)).rejects.toThrow();
  });
});
