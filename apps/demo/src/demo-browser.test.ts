import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from './browser.test-helpers.js';
import { startDemo } from './demo-process.test-helpers.js';
import type { DemoProcess } from './demo-process.test-helpers.js';

/** What a browser saw go wrong: console errors, page errors, and every 4xx/5xx response. */
interface Trouble {
  readonly console: string[];
  readonly failures: string[];
}

function watch(context: BrowserContext, base: string): Trouble {
  const trouble: Trouble = { console: [], failures: [] };
  const attach = (page: Page): void => {
    page.on('console', (message) => {
      if (message.type() === 'error') {
        trouble.console.push(`${message.text()} @ ${message.location().url}`);
      }
    });
    page.on('pageerror', (error) => trouble.console.push(`pageerror: ${error.message}`));
  };
  context.pages().forEach(attach);
  context.on('page', attach);
  context.on('response', (response) => {
    if (response.status() >= 400) {
      trouble.failures.push(`${response.status()} ${response.url().replace(base, '')}`);
    }
  });
  return trouble;
}

/**
 * Console errors other than Chromium's own "Failed to load resource" line
 * for a 4xx page the test asked for (a 4xx page is a failed load to
 * Chromium, and the response is checked separately): anything else on the
 * console is a defect of a page.
 */
function unexpectedConsole(trouble: Trouble, base: string): string[] {
  return trouble.console.filter((line) => {
    const load =
      /^Failed to load resource: the server responded with a status of (4\d\d) .* @ (\S+)$/.exec(
        line,
      );
    return load === null || !trouble.failures.includes(`${load[1]} ${load[2]?.replace(base, '')}`);
  });
}

describe('the demo in headless Chromium: refusals, revocation, unknown pages', () => {
  let redis: RedisServerHandle;
  let demo: DemoProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    demo = await startDemo(redis.url, { DEMO_INSTANCES: '2' });
  });
  afterAll(async () => {
    if (demo.child.exitCode === null) await demo.interrupt();
    await redis.stop();
  });

  it('a newcomer’s walk: bad name, oversized form, revoked elsewhere, unknown page', async () => {
    const laptop = await openBrowser();
    const phone = await openBrowser();
    try {
      const seenOnLaptop = watch(laptop.context, demo.url);
      const seenOnPhone = watch(phone.context, demo.url);
      const tab = await laptop.context.newPage();

      // The form's own check refuses a bad name (its pattern is a valid /v regex)…
      await tab.goto(`${demo.url}/login`);
      await tab.fill('input[name=user]', 'bad name!<>');
      await tab.click('#login button[type=submit]');
      expect(new URL(tab.url()).pathname).toBe('/login');
      // (Page scripts as strings: this package compiles without the DOM types.)
      expect(
        await tab.evaluate("document.querySelector('input[name=user]').validity.patternMismatch"),
      ).toBe(true);
      // …and the server, asked anyway, answers 400 with the rule and a form to retry.
      await tab.evaluate("document.querySelector('#login').setAttribute('novalidate', '')");
      const refused = await Promise.all([
        tab.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
        tab.click('#login button[type=submit]'),
      ]);
      expect(refused[0].status()).toBe(400);
      expect(await tab.textContent('#problem')).toContain('letters A–Z and a–z, digits');
      expect(await tab.inputValue('input[name=user]')).toBe('bad name!<>');
      await tab.fill('input[name=user]', 'alice.b-c_1');
      await Promise.all([tab.waitForURL(`${demo.url}/sessions`), tab.click('#login button')]);
      expect(await tab.textContent('#user')).toBe('alice.b-c_1');
      expect(await tab.textContent('#sessions')).toContain('Chrome (headless) on Linux');

      // A form over the 4 KB limit: a 413 page, the nav still knows who is logged in.
      await tab.goto(`${demo.url}/cart`);
      await tab.evaluate(`(() => {
        const input = document.querySelector('input[name=item]');
        input.removeAttribute('maxlength');
        input.value = 'x'.repeat(5000);
      })()`);
      const [tooLarge] = await Promise.all([
        tab.waitForResponse((r) => r.url().endsWith('/cart/add')),
        tab.click('form[action="/cart/add"] button'),
      ]);
      expect(tooLarge.status()).toBe(413);
      expect(await tab.textContent('h1')).toBe('Form too large');
      expect(await tab.textContent('#user')).toBe('alice.b-c_1');
      expect(await tab.isVisible('#logout')).toBe(true);
      expect(demo.output()).toMatch(
        /"status":413,"code":"entity.too.large".*"msg":"request refused"/,
      );

      // The same user on a phone, logged out from the laptop: the phone is told.
      const phoneTab = await phone.context.newPage();
      await phoneTab.goto(`${demo.url}/login`);
      await phoneTab.fill('input[name=user]', 'alice.b-c_1');
      await Promise.all([
        phoneTab.waitForURL(`${demo.url}/sessions`),
        phoneTab.click('#login button'),
      ]);
      await tab.goto(`${demo.url}/sessions`);
      expect(await tab.locator('#sessions tr').count()).toBe(3);
      await Promise.all([
        tab.waitForURL(`${demo.url}/sessions`),
        tab.click('text=log out other devices'),
      ]);
      await phoneTab.goto(`${demo.url}/cart`);
      expect(await phoneTab.textContent('#notice')).toBe(
        'You were logged out from another device.',
      );
      expect(await phoneTab.isVisible('#login-link')).toBe(true);
      await phoneTab.reload();
      expect(await phoneTab.locator('#notice').count()).toBe(0);

      // An unknown route: the demo's own 404 page, with the nav.
      const missing = await tab.goto(`${demo.url}/no-such-page`);
      expect(missing?.status()).toBe(404);
      expect(await tab.textContent('h1')).toBe('Page not found');
      expect(await tab.textContent('#user')).toBe('alice.b-c_1');

      // The status page has probed Redis by the time it is shown.
      await tab.goto(`${demo.url}/status`);
      expect(await tab.textContent('#last-probe')).toMatch(/^ok, [\d.]+ ms$/);
      // A JSON endpoint makes Chromium fetch /favicon.ico itself.
      await tab.goto(`${demo.url}/healthz`);
      const icon = await tab.request.get(`${demo.url}/favicon.ico`);
      expect(icon.status()).toBe(200);

      // Log out from the nav.
      await tab.goto(`${demo.url}/`);
      await Promise.all([tab.waitForURL(`${demo.url}/`), tab.click('#logout')]);
      expect(await tab.isVisible('#login-link')).toBe(true);

      expect(seenOnLaptop.failures).toEqual(['400 /login', '413 /cart/add', '404 /no-such-page']);
      expect(seenOnPhone.failures).toEqual([]);
      expect(unexpectedConsole(seenOnLaptop, demo.url)).toEqual([]);
      expect(unexpectedConsole(seenOnPhone, demo.url)).toEqual([]);
    } finally {
      await laptop.close();
      await phone.close();
    }
    // Two Chromium processes on a shared CI machine: give the walk time.
  }, 120_000);
});
