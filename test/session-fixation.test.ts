import { randomUUID } from 'node:crypto';
import { cookieClient, startRedisServer } from '@session-cluster/testkit';
import type { CookieClient, RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExpressInstance } from './fixtures/express-instance-process.js';
import type { ExpressInstanceHandle } from './fixtures/express-instance-process.js';

const COOKIE = 'sc.sid';

type Instance = ExpressInstanceHandle;
const startInstance = startExpressInstance;

interface SessionView {
  instance: string;
  isNew: boolean;
  idHash: string | null;
  userId?: string;
  data: Record<string, unknown>;
}

const read = async (tab: CookieClient, url: string): Promise<SessionView> =>
  (await tab.request('GET', `${url}/session`)).json<SessionView>();

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('session fixation: a planted cookie never ends up authenticated (3 instances)', () => {
  let redis: RedisServerHandle;
  let instances: Instance[] = [];
  let urls: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const prefix = `test:${randomUUID()}`;
    const secret = randomUUID() + randomUUID();
    instances = await Promise.all(
      ['one', 'two', 'three'].map((name) =>
        // A short lock wait, so the lock-timeout cases fail fast.
        startInstance({ redisUrl: redis.url, prefix, name, secret, acquireTimeoutMs: 300 }),
      ),
    );
    urls = await Promise.all(instances.map(async (i) => (await i.next('listening')).url));
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await redis.stop();
  });

  /** An attacker's stored session: the cookie they plant in the victim's browser. */
  async function plantedCookie(base: string): Promise<string> {
    const attacker = cookieClient(COOKIE);
    const res = await attacker.request('POST', `${urls[0]}${base}/set/csrf/token`);
    expect(res.status).toBe(200);
    return attacker.cookie!;
  }

  /** What the planted cookie gives, on every instance: never the victim's login. */
  async function expectNotAuthenticated(planted: string, base: string): Promise<void> {
    for (const url of urls) {
      const view = await read(cookieClient(COOKIE, planted), `${url}${base}`);
      expect(view.userId).toBeUndefined();
      expect(view.data['user']).toBeUndefined();
    }
  }

  for (const base of ['', '/locked']) {
    const mode = base === '' ? "lock: 'none'" : "lock: 'request'";

    it(`${mode}: a login that reads the session first moves it to a new id; the planted id is dead`, async () => {
      const planted = await plantedCookie(base);
      const victim = cookieClient(COOKIE, planted);
      const login = await victim.request('POST', `${urls[1]}${base}/login-after-read/alice`);
      expect(login.status).toBe(200);
      expect(victim.cookie).not.toBe(planted);
      for (const url of urls) {
        expect(await read(victim, `${url}${base}`)).toMatchObject({
          isNew: false,
          userId: 'alice',
          data: { csrf: 'token', user: 'alice' },
        });
      }
      await expectNotAuthenticated(planted, base);
    });

    it(`${mode}: when regenerate's lock wait times out, the login fails and writes nothing to the planted id`, async () => {
      const planted = await plantedCookie(base);
      // The attacker holds the planted session's lock (a request under
      // lock: 'request' that does not finish) while the victim logs in.
      const holder = cookieClient(COOKIE, planted);
      const held = holder.request('POST', `${urls[2]}/locked/stall-then-set/x/y`);
      await instances[2]!.next('holding');
      try {
        const victim = cookieClient(COOKIE, planted);
        const login = await victim.request('POST', `${urls[0]}${base}/set-then-login/alice`);
        expect(login.status).toBe(500);
        expect(login.json()).toMatchObject({ error: 'LOCK_NOT_ACQUIRED' });
      } finally {
        instances[2]!.send({ type: 'continue' });
      }
      expect((await held).status).toBe(200);
      await expectNotAuthenticated(planted, base);
    });
  }

  it("lock: 'request': requests queued on the planted id behind the login never see it", async () => {
    const planted = await plantedCookie('/locked');
    const victim = cookieClient(COOKIE, planted);
    // The login holds the planted session's lock for a while between
    // setting the user and regenerating.
    const login = victim.request('POST', `${urls[0]}/locked/login-after-read/alice?ms=150`);
    await pause(50);
    const attacker = cookieClient(COOKIE, planted);
    const queued = await Promise.all([
      read(attacker, `${urls[1]}/locked`),
      read(attacker, `${urls[2]}/locked`),
      read(cookieClient(COOKIE, planted), `${urls[0]}/locked`),
    ]);
    expect((await login).status).toBe(200);
    for (const view of queued) {
      expect(view.userId).toBeUndefined();
      expect(view.data['user']).toBeUndefined();
    }
    await expectNotAuthenticated(planted, '/locked');
    expect(await read(victim, `${urls[2]}/locked`)).toMatchObject({ userId: 'alice' });
  });
});

describe("fencing: a lock: 'request' holder frozen past its lease (SIGSTOP)", () => {
  let redis: RedisServerHandle;
  let stalled: Instance;
  let writer: Instance;
  let stalledUrl: string;
  let writerUrl: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    const prefix = `test:${randomUUID()}`;
    const secret = randomUUID() + randomUUID();
    const common = { redisUrl: redis.url, prefix, secret, lockTtlMs: 200, acquireTimeoutMs: 5_000 };
    [stalled, writer] = await Promise.all([
      startInstance({ ...common, name: 'stalled' }),
      startInstance({ ...common, name: 'writer' }),
    ]);
    stalledUrl = (await stalled.next('listening')).url;
    writerUrl = (await writer.next('listening')).url;
  });

  afterAll(async () => {
    await Promise.all([stalled.stop(), writer.stop()]);
    await redis.stop();
  });

  it('commits with the version it loaded, gets VERSION_CONFLICT, and the newer data stays', async () => {
    const tab = cookieClient(COOKIE);
    expect((await tab.request('POST', `${writerUrl}/set/n/first`)).status).toBe(200);

    const stale = tab.request('POST', `${stalledUrl}/locked/stall-then-set/n/stale`);
    await stalled.next('holding');
    // Frozen like a long GC pause: no timers, no lease extensions, no I/O.
    stalled.child.kill('SIGSTOP');
    let newer;
    try {
      // Waits for the frozen holder's lease to run out, then reads and writes.
      newer = await tab.request('POST', `${writerUrl}/locked/read-set/n/newer`);
    } finally {
      stalled.child.kill('SIGCONT');
    }
    expect(newer.status).toBe(200);
    stalled.send({ type: 'continue' });

    const refused = await stale;
    expect(refused.status).toBe(500);
    expect(refused.json()).toMatchObject({ instance: 'stalled', error: 'VERSION_CONFLICT' });
    for (const url of [writerUrl, stalledUrl]) {
      expect(await read(tab, `${url}/locked`)).toMatchObject({ data: { n: 'newer' } });
    }
  });
});
