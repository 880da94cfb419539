import { cookieClient } from '@session-cluster/testkit';
import type { CookieClient } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { useExpressInstances } from './fixtures/express-instances.js';

const COOKIE = 'sc.sid';
const PARALLEL = 300;

/** Each adapter's instance program (test/fixtures), run as three processes. */
const ADAPTERS = [
  { adapter: 'Express', program: './express-instance.ts' },
  { adapter: 'Fastify', program: './fastify-instance.ts' },
] as const;

describe.each(ADAPTERS)(
  '$adapter: three instances (processes) share sessions through one Redis',
  ({ adapter, program }) => {
    const fleet = useExpressInstances(program, ['one', 'two', 'three']);
    const at = (i: number): string => fleet.urls[i % fleet.urls.length]!;
    const read = async (tab: CookieClient, i: number) =>
      (await tab.request('GET', `${at(i)}/session`)).json<{
        instance: string;
        isNew: boolean;
        idHash: string | null;
        userId?: string;
        data: Record<string, unknown>;
      }>();
    /** Sends `count` parallel POSTs to `path` spread over the instances; returns the counter after. */
    const parallelCounter = async (tab: CookieClient, path: string, count: number) => {
      await tab.request('POST', `${at(0)}/set/counter/0`);
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) => tab.request('POST', `${at(i)}${path}`)),
      );
      const ms = performance.now() - started;
      expect(results.filter((r) => r.status !== 200).map((r) => r.text)).toEqual([]);
      const counter = (await read(tab, 1)).data['counter'];
      console.log(
        `[scenario] ${adapter} ${path}: 3 processes x ${count} parallel -> ${String(counter)} in ${ms.toFixed(0)} ms`,
      );
      return counter;
    };

    it('a session created on one instance is read on the others', async () => {
      const tab = cookieClient(COOKIE);
      await tab.request('POST', `${at(0)}/set/theme/dark`);
      const views = await Promise.all([1, 2].map((i) => read(tab, i)));
      expect(views.map((v) => v.instance)).toEqual(['two', 'three']);
      for (const view of views)
        expect(view).toMatchObject({ isNew: false, data: { theme: 'dark' } });
      expect(views[0]!.idHash).toBe(views[1]!.idHash);
    });

    it(`${PARALLEL} parallel increments through update() count exactly ${PARALLEL}`, async () => {
      expect(await parallelCounter(cookieClient(COOKIE), '/incr', PARALLEL)).toBe(PARALLEL);
    });

    it(`${PARALLEL} parallel writes of distinct keys are all kept`, async () => {
      const tab = cookieClient(COOKIE);
      await tab.request('POST', `${at(0)}/set/start/1`);
      const results = await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) => tab.request('POST', `${at(i)}/set/k${i}/${i}`)),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      const { data } = await read(tab, 2);
      const keys = Object.keys(data).filter((k) => /^k\d+$/.test(k));
      expect(keys).toHaveLength(PARALLEL);
      for (let i = 0; i < PARALLEL; i++) expect(data[`k${i}`]).toBe(String(i));
    });

    it(`lock: 'request' makes same-key read-modify-write exact (${PARALLEL} parallel)`, async () => {
      const counter = await parallelCounter(
        cookieClient(COOKIE),
        '/locked/incr-read-set',
        PARALLEL,
      );
      expect(counter).toBe(PARALLEL);
    });

    it('regenerate at login: new id, same data, the old cookie is worth nothing on any instance', async () => {
      const tab = cookieClient(COOKIE);
      await tab.request('POST', `${at(0)}/set/cart/book`);
      const before = await read(tab, 0);
      const fixated = tab.cookie!;
      await tab.request('POST', `${at(1)}/login/alice`);
      const after = await read(tab, 2);
      expect(after).toMatchObject({ userId: 'alice', data: { cart: 'book' }, isNew: false });
      expect(after.idHash).not.toBe(before.idHash);
      const attacker = cookieClient(COOKIE, fixated);
      for (let i = 0; i < 3; i++)
        expect(await read(attacker, i)).toMatchObject({ isNew: true, data: {} });
    });

    it('logout everywhere ends the user session on every device and instance', async () => {
      const devices = [cookieClient(COOKIE), cookieClient(COOKIE), cookieClient(COOKIE)];
      await Promise.all(devices.map((d, i) => d.request('POST', `${at(i)}/login/bob`)));
      for (const [i, d] of devices.entries())
        expect(await read(d, i + 1)).toMatchObject({ userId: 'bob' });
      const res = await devices[0]!.request('POST', `${at(2)}/logout-everywhere`);
      expect(res.json()).toMatchObject({ deleted: 3 });
      for (const [i, device] of devices.entries())
        expect(await read(device, i)).toMatchObject({ isNew: true, data: {} });
    });

    it('a tampered cookie gets a fresh session and the original is untouched', async () => {
      const owner = cookieClient(COOKIE);
      await owner.request('POST', `${at(0)}/set/secret/mine`);
      const value = owner.cookie!;
      const tampered = `${value.slice(0, -3)}${value.endsWith('AAA') ? 'BBB' : 'AAA'}`;
      const attacker = cookieClient(COOKIE, tampered);
      const seen = await read(attacker, 1);
      expect(seen).toMatchObject({ isNew: true, data: {} });
      await attacker.request('POST', `${at(1)}/set/secret/theirs`);
      expect(await read(owner, 2)).toMatchObject({ data: { secret: 'mine' } });
    });
  },
);
