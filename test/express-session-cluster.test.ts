import { cookieClient } from '@session-cluster/testkit';
import type { CookieClient } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { useExpressInstances } from './fixtures/express-instances.js';

const COOKIE = 'connect.sid';
const PARALLEL = 300;

interface SessionView {
  instance: string;
  sid: string;
  data: Record<string, unknown>;
  expiresAt: number | null;
}

describe('express-session + SessionClusterStore: three processes share sessions through one Redis', () => {
  const fleet = useExpressInstances('./express-session-instance.ts', ['one', 'two', 'three']);
  const at = (i: number, path: string): string => `${fleet.urls[i % fleet.urls.length]!}${path}`;
  const read = async (tab: CookieClient, i: number, mount = ''): Promise<SessionView> =>
    (await tab.request('GET', at(i, `${mount}/session`))).json<SessionView>();
  const failures = (results: readonly { status: number; text: string }[]) =>
    results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`);

  it(`${PARALLEL} parallel requests on one cookie writing distinct keys: none lost, none failed`, async () => {
    const tab = cookieClient(COOKIE);
    await tab.request('POST', at(0, '/set/start/1'));
    expect(tab.cookie).toBeDefined();
    const results = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => tab.request('POST', at(i, `/set/k${i}/${i}`))),
    );
    expect(failures(results)).toEqual([]);
    const { data } = await read(tab, 1);
    const lost = Array.from({ length: PARALLEL }, (_, i) => `k${i}`).filter(
      (key, i) => data[key] !== String(i),
    );
    expect(lost).toEqual([]);
    expect(data['start']).toBe('1');
  });

  it(`${PARALLEL} parallel increments of one key: none failed (last writer wins)`, async () => {
    const tab = cookieClient(COOKIE);
    await tab.request('POST', at(0, '/incr'));
    const results = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => tab.request('POST', at(i, '/incr'))),
    );
    expect(failures(results)).toEqual([]);
    const views = Number((await read(tab, 2)).data['views']);
    expect(views).toBeGreaterThanOrEqual(2);
    expect(views).toBeLessThanOrEqual(PARALLEL + 1);
  });

  it('regenerate at login on another process: new id, data carried, the old id is gone', async () => {
    const tab = cookieClient(COOKIE);
    await tab.request('POST', at(0, '/set/cart/book'));
    const before = await read(tab, 0);
    const planted = tab.cookie!;
    await tab.request('POST', at(1, '/login/alice'));
    const after = await read(tab, 0);
    expect(after.sid).not.toBe(before.sid);
    expect(after.data).toMatchObject({ cart: 'book', user: 'alice' });
    const attacker = await read(cookieClient(COOKIE, planted), 1);
    expect(attacker.sid).not.toBe(before.sid);
    expect(attacker.data).not.toHaveProperty('user');
    expect(attacker.expiresAt).toBeNull();
  });

  it('destroy on one process ends the session on the other', async () => {
    const tab = cookieClient(COOKIE);
    await tab.request('POST', at(0, '/login/bob'));
    const live = await read(tab, 1);
    expect(live.data).toMatchObject({ user: 'bob' });
    await tab.request('POST', at(1, '/logout'));
    const after = await read(tab, 0);
    expect(after.sid).not.toBe(live.sid);
    expect(after.data).not.toHaveProperty('user');
    expect(after.expiresAt).toBeNull();
  });

  it('rolling: an unmodified request re-sends the cookie; without it, it does not; both move the expiry', async () => {
    for (const [mount, rolling] of [
      ['/rolling', true],
      ['', false],
    ] as const) {
      const tab = cookieClient(COOKIE);
      await tab.request('POST', at(0, `${mount}/set/a/1`));
      const first = await tab.request('GET', at(1, `${mount}/session`));
      expect(first.setCookies.length > 0).toBe(rolling);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const second = await read(tab, 0, mount);
      expect(second.expiresAt!).toBeGreaterThan(first.json<SessionView>().expiresAt!);
    }
  });

  it('resave: an unmodified request saving the whole session keeps a key another process wrote meanwhile', async () => {
    const tab = cookieClient(COOKIE);
    await tab.request('POST', at(0, '/resave/set/a/1'));
    const [idle, write] = await Promise.all([
      tab.request('POST', at(0, '/resave/idle/200')),
      new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        tab.request('POST', at(1, '/resave/set/b/2')),
      ),
    ]);
    expect(failures([idle, write])).toEqual([]);
    expect((await read(tab, 1, '/resave')).data).toMatchObject({ a: '1', b: '2' });
  });
});
