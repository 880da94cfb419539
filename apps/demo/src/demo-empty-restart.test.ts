import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo } from './demo-process.test-helpers.js';
import type { DemoProcess } from './demo-process.test-helpers.js';
import {
  DemoTraffic,
  inLanes,
  loadUntil,
  sessionIdOf,
  sessionIdsInRedis,
  waitUntilRecovered,
} from './demo-traffic.test-helpers.js';
import type { TrackedSession } from './demo-traffic.test-helpers.js';

/**
 * Down for 1.5 s: long enough for every instance's breaker to open (five
 * failures in a row, milliseconds after the kill under this load) and for
 * sessions to be created and clicked in memory, which is all this scenario
 * needs from the outage itself; the data loss is what it is about.
 */
const DOWN_MS = 1_500;
const INSTANCES = 3;
const LANES = 4;
const PAUSE_MS = 25;
const OLD_SESSIONS = 30;

describe('the demo when its redis-server comes back empty (server-side data loss)', () => {
  let redis: RedisServerHandle;
  let demo: DemoProcess;

  beforeAll(async () => {
    // The testkit server persists nothing (no RDB snapshot, no append-only
    // file): SIGKILL and a restart on the same port and directory bring it
    // back empty, as a Redis without persistence comes back from a crash.
    redis = await startRedisServer();
    demo = await startDemo(redis.url);
  });
  afterAll(async () => {
    if (demo.child.exitCode === null) await demo.interrupt();
    await redis.stop();
  });

  it('keeps serving; the sessions the instances had served come back, outage sessions are written back, new ones are shared', async () => {
    const traffic = new DemoTraffic(demo.url);
    const old = await traffic.createSessions(OLD_SESSIONS, (i) => 1 + (i % 3), LANES);
    const oldIds = new Set(old.map((s) => s.id));
    // Clicks acknowledged before the outage, per old session.
    const ackedBefore = new Map(old.map((s) => [s.id, s.acked]));
    // Before the loss: shared by every instance.
    const shared = await traffic.readEverywhere(old[0]!, INSTANCES);
    expect(shared.served.size).toBe(INSTANCES);
    expect(shared.counters.every((c) => c === old[0]!.acked)).toBe(true);
    expect(
      [...(await sessionIdsInRedis(redis.port, demo.prefix))].filter((id) => oldIds.has(id)),
    ).toHaveLength(OLD_SESSIONS);

    // Down: clicks with old cookies (an instance that had the session cached
    // counts on from its copy; one that never held it starts a new session,
    // in memory), new sessions and their clicks.
    const laneCookies: (string | undefined)[] = new Array<string | undefined>(LANES);
    const step = async (lane: number, n: number, withOld: boolean): Promise<void> => {
      switch (n % 4) {
        case 0:
          if (withOld) {
            await traffic.request('POST', '/counter', old[(lane * 5 + n) % old.length]!.cookie);
            return;
          }
          laneCookies[lane] = (await traffic.request('POST', '/counter', undefined)).cookie;
          return;
        case 1:
          laneCookies[lane] = (await traffic.request('POST', '/counter', undefined)).cookie;
          return;
        case 2:
          laneCookies[lane] = (await traffic.request('POST', '/counter', laneCookies[lane])).cookie;
          return;
        default:
          await traffic.request('GET', '/', laneCookies[lane]);
      }
    };
    const killStartedAt = Date.now();
    await redis.kill('SIGKILL');
    const killedAt = Date.now();
    await loadUntil(
      LANES,
      PAUSE_MS,
      () => Date.now() - killStartedAt >= DOWN_MS,
      (lane, n) => step(lane, n, true),
    );
    const restartStartedAt = Date.now();
    await redis.restart();
    const restartedAt = Date.now();
    // The server came back without its data (the testkit's persists
    // nothing); the instances write back what their caches held as soon as
    // they reconnect, so the loss itself is not observable from here.

    // Up again: new sessions only, until every instance has written its
    // degraded-mode sessions back.
    let recovered = false;
    const load = loadUntil(
      LANES,
      PAUSE_MS,
      () => recovered,
      (lane, n) => step(lane, n, false),
    );
    let recoveryMs: number;
    try {
      recoveryMs = await waitUntilRecovered(demo.url, INSTANCES, 20_000);
    } finally {
      recovered = true;
      await load;
    }
    const loadSent = traffic.sent;
    const degradedUnderLoad = traffic.degradedResponses.length;

    // An old cookie finds its session again, written back from the
    // instances' caches, the cookie kept; a click counts on it, and every
    // instance sees that. Its count is the copy of the instance that wrote
    // it back first: all the clicks acknowledged before the outage when
    // that copy was the latest, fewer when the session was clicked on
    // several instances and an older copy got there first (counted, not
    // asserted: a Redis that lost its data has no version to compare with).
    const cameBack: string[] = [];
    const withEveryClick: string[] = [];
    const problems: string[] = [];
    const clickedAgain: TrackedSession[] = [];
    await inLanes(LANES, old.length, async (i) => {
      const session = old[i]!;
      const before = ackedBefore.get(session.id) ?? 1;
      const read = await traffic.request('GET', '/', session.cookie);
      const kept = (sessionIdOf(read.cookie) ?? session.id) === session.id;
      if (read.status === 200 && kept && (read.counter ?? 0) >= 1) {
        cameBack.push(session.id);
        if ((read.counter ?? 0) >= before) withEveryClick.push(session.id);
      } else {
        problems.push(`read ${session.id.slice(0, 8)}: ${read.status} ${read.counter ?? '-'}`);
      }
      const click = await traffic.request('POST', '/counter', session.cookie);
      if (click.status !== 303 || (sessionIdOf(click.cookie) ?? session.id) !== session.id) {
        problems.push(`click ${session.id.slice(0, 8)}: ${click.status}`);
        return;
      }
      clickedAgain.push(session);
    });
    // One read at a time, so that they meet every instance (see readEverywhere).
    for (const session of clickedAgain) {
      const { served, counters } = await traffic.readEverywhere(session, INSTANCES);
      if (
        served.size < INSTANCES ||
        counters.some((c) => c === null || c < 2 || c !== counters[0])
      ) {
        problems.push(`old ${session.id.slice(0, 8)}: ${[...served].join('/')} ${counters.join()}`);
      }
    }

    // Sessions created in memory while Redis was down were written back
    // into the empty server and are shared again.
    const duringOutage = [...traffic.sessions.values()].filter(
      (s) => s.sentAt >= killedAt && s.answeredAt <= restartStartedAt,
    );
    const inRedis = await sessionIdsInRedis(redis.port, demo.prefix);
    const replayed = duringOutage.filter((s) => inRedis.has(s.id));
    for (const session of duringOutage) {
      const { served, counters } = await traffic.readEverywhere(session, INSTANCES);
      if (served.size < INSTANCES || counters.some((c) => c === null || c < session.acked)) {
        problems.push(
          `outage ${session.id.slice(0, 8)}: ${[...served].join('/')} ${counters.join()}`,
        );
      }
    }
    const newSessions = [...traffic.sessions.values()].filter((s) => !oldIds.has(s.id));
    const missing = newSessions.filter((s) => !inRedis.has(s.id));

    console.info(
      `[chaos] redis restarted empty: ${INSTANCES} instances, ${traffic.sent} requests ` +
        `(${loadSent} before the checks), ${traffic.serverErrors} failed with 5xx, ` +
        `${traffic.failures.length} failed in all; ${cameBack.length} of ${old.length} old sessions ` +
        `came back with their data (${withEveryClick.length} with every click acknowledged before the outage), ` +
        `${[...inRedis].filter((id) => oldIds.has(id)).length} in Redis; ${duringOutage.length} sessions created while down, ${replayed.length} ` +
        `written back into the empty server; down ${restartedAt - killedAt} ms, every instance ` +
        `recovered ${recoveryMs} ms after the restart`,
    );

    expect(traffic.failures, traffic.failures.slice(0, 10).join('\n')).toEqual([]);
    expect(traffic.serverErrors).toBe(0);
    expect(problems, problems.slice(0, 10).join('\n')).toEqual([]);
    expect(cameBack).toHaveLength(OLD_SESSIONS);
    expect([...inRedis].filter((id) => oldIds.has(id))).toHaveLength(OLD_SESSIONS);
    expect(
      traffic.degradedResponses.filter((r) => r.sentAt >= killedAt && r.sentAt < restartStartedAt)
        .length,
    ).toBeGreaterThan(0);
    expect(traffic.degradedResponses.slice(degradedUnderLoad)).toEqual([]);
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(replayed.length).toBe(duringOutage.length);
    expect(missing.map((s) => s.id)).toEqual([]);
  }, 60_000);
});
