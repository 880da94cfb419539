import { setTimeout as delay } from 'node:timers/promises';
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
 * The outage lasts 5 s, as the issue asks. The demo runs the session
 * cluster's default breaker (5 storage failures in a row open it,
 * milliseconds after the kill under this load; then one half-open probe
 * every 2 s), so 5 s covers two probes that fail against the dead server
 * (open → half-open → open) before the one after the restart succeeds.
 */
const OUTAGE_MS = 5_000;
/** Load after the restart, at least: then until every instance has written its journal back. */
const AFTER_RESTART_MS = 2_000;
const INSTANCES = 3;
const LANES = 8;
const PAUSE_MS = 25;
const PRE_OUTAGE_SESSIONS = 60;

describe('the demo under HTTP load while its redis-server is SIGKILLed and restarted with its data', () => {
  let redis: RedisServerHandle;
  let demo: DemoProcess;

  beforeAll(async () => {
    // The testkit server persists nothing by default; with an append-only
    // file fsynced on every write, the restarted process on the same port and
    // directory holds every write Redis acknowledged before the SIGKILL.
    redis = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    demo = await startDemo(redis.url);
  });
  afterAll(async () => {
    if (demo.child.exitCode === null) await demo.interrupt();
    await redis.stop();
  });

  it('no request fails, no session is lost, outage sessions are reconciled and shared', async () => {
    const traffic = new DemoTraffic(demo.url);
    const before = await traffic.createSessions(PRE_OUTAGE_SESSIONS, (i) => 1 + (i % 3), LANES);
    const setupSent = traffic.sent;

    let stopped = false;
    const laneCookies: (string | undefined)[] = new Array<string | undefined>(LANES);
    // Each lane clicks and reads pre-outage sessions (with their original
    // cookies) and starts new ones that it keeps clicking and reading.
    const load = loadUntil(
      LANES,
      PAUSE_MS,
      () => stopped,
      async (lane, n) => {
        const old = before[(lane * 7 + n * 3) % before.length]!;
        switch (n % 5) {
          case 0:
            await traffic.request('POST', '/counter', old.cookie);
            return;
          case 1:
            await traffic.request('GET', '/', old.cookie);
            return;
          case 2:
            laneCookies[lane] = (await traffic.request('POST', '/counter', undefined)).cookie;
            return;
          case 3:
            laneCookies[lane] = (
              await traffic.request('POST', '/counter', laneCookies[lane])
            ).cookie;
            return;
          default:
            await traffic.request('GET', '/', laneCookies[lane]);
        }
      },
    );
    let killedAt: number;
    let restartStartedAt: number;
    let restartedAt: number;
    let recoveryMs: number;
    // Clicks acknowledged on each pre-outage session before the kill.
    let ackedAtKill = new Map<string, number>();
    try {
      await delay(1_000);
      const killStartedAt = Date.now();
      ackedAtKill = new Map(before.map((s) => [s.id, s.acked]));
      await redis.kill('SIGKILL');
      // Redis is dead from here on: a session created by a request sent
      // later, and answered before the restart, can only live in memory.
      killedAt = Date.now();
      await delay(OUTAGE_MS - (Date.now() - killStartedAt));
      restartStartedAt = Date.now();
      await redis.restart();
      restartedAt = Date.now();
      [recoveryMs] = await Promise.all([
        waitUntilRecovered(demo.url, INSTANCES, 20_000),
        delay(AFTER_RESTART_MS),
      ]);
    } finally {
      stopped = true;
      await load;
    }
    const loadSent = traffic.sent;
    const degradedUnderLoad = traffic.degradedResponses.length;

    const duringOutage = [...traffic.sessions.values()].filter(
      (s) => s.sentAt >= killedAt && s.answeredAt <= restartStartedAt,
    );
    const inRedis = await sessionIdsInRedis(redis.port, demo.prefix);
    const missingFromRedis = [...traffic.sessions.values()].filter((s) => !inRedis.has(s.id));

    // Every pre-outage session, read with its original cookie: still there,
    // with at least every increment acknowledged on it before the outage.
    // During the outage the lanes clicked them on every instance that had
    // them cached: one key (the counter) changed on several instances, which
    // recovery resolves last-writer-wins, reporting conflicts; increments
    // lost that way are counted, and only ever where conflicts were reported.
    //
    // A counter below what was acknowledged at the kill is such a conflict
    // too: an instance whose copy was invalidated before the kill keeps it
    // (stale) to carry the visitor through the outage, and an outage click
    // on it writes an older count back last-writer-wins (issue 19's
    // contract: same-key losses only where conflicts are reported). A
    // session gone or replaced is lost whatever the conflicts.
    const lost: string[] = [];
    const belowAckedAtKill: string[] = [];
    let outageIncrementsLost = 0;
    await inLanes(LANES, before.length, async (i) => {
      const session = before[i]!;
      const read = await traffic.request('GET', '/', session.cookie);
      const atKill = ackedAtKill.get(session.id) ?? session.acked;
      if ((sessionIdOf(read.cookie) ?? session.id) !== session.id || read.counter === undefined) {
        lost.push(`${session.id.slice(0, 8)}: ${read.counter ?? 'gone'}`);
      } else if (read.counter < atKill) {
        belowAckedAtKill.push(`${session.id.slice(0, 8)}: ${read.counter} < ${atKill}`);
      }
      outageIncrementsLost += Math.max(0, session.acked - (read.counter ?? 0));
    });

    // Every session created during the outage, read from every instance
    // (one read at a time: see readEverywhere).
    const unshared: string[] = [];
    const reconciled: TrackedSession[] = [];
    for (const session of duringOutage) {
      const { served, counters } = await traffic.readEverywhere(session, INSTANCES);
      if (served.size < INSTANCES || counters.some((c) => c === null || c < session.acked)) {
        unshared.push(`${session.id.slice(0, 8)}: ${[...served].join('/')} ${counters.join(',')}`);
      }
      if (inRedis.has(session.id)) reconciled.push(session);
    }

    // Each instance logs its own write-back (worker.ts, pino JSON at warn).
    const recoveredLogs = demo
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"recovered:'))
      .map((line) => JSON.parse(line) as { written: number; conflicts: number; failed: number });
    const writtenBack = recoveredLogs.reduce((n, r) => n + r.written, 0);
    const conflicts = recoveredLogs.reduce((n, r) => n + r.conflicts, 0);

    const degradedDuringOutage = traffic.degradedResponses.filter(
      (r) => r.sentAt >= killedAt && r.sentAt < restartStartedAt,
    );
    // Once every instance has recovered, nothing is served from memory any more.
    const degradedAfterRecovery = traffic.degradedResponses.slice(degradedUnderLoad);
    console.info(
      `[chaos] redis outage under HTTP load: ${INSTANCES} instances, ${LANES} lanes, ` +
        `${traffic.sent} requests sent (${setupSent} setting up, ${loadSent - setupSent} under load, ` +
        `${traffic.sent - loadSent} checking), ${degradedDuringOutage.length} answered degraded ` +
        `during the outage, ${traffic.failures.length} failed, ` +
        `${lost.length} of ${before.length} pre-outage sessions lost ` +
        `(${belowAckedAtKill.length} read below the count acknowledged at the kill), ` +
        `${outageIncrementsLost} increments made on several instances during the outage lost to ` +
        `${conflicts} reported conflicts, ` +
        `${duringOutage.length} sessions created during the outage, ${reconciled.length} reconciled into Redis ` +
        `(read from all ${INSTANCES} instances: ${duringOutage.length - unshared.length}; ` +
        `the instances logged ${recoveredLogs.length} recoveries writing back ${writtenBack} sessions), ` +
        `outage ${restartedAt - killedAt} ms, every instance recovered ${recoveryMs} ms after the restart`,
    );

    expect(traffic.failures, traffic.failures.slice(0, 10).join('\n')).toEqual([]);
    expect(new Set(degradedDuringOutage.map((r) => r.instance)).size).toBe(INSTANCES);
    expect(degradedAfterRecovery).toEqual([]);
    expect(lost, lost.slice(0, 10).join('\n')).toEqual([]);
    expect(missingFromRedis.map((s) => s.id)).toEqual([]);
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(reconciled.length).toBe(duringOutage.length);
    expect(unshared, unshared.slice(0, 10).join('\n')).toEqual([]);
    // Every instance went degraded, so every instance reconciled at least once.
    expect(recoveredLogs.length).toBeGreaterThanOrEqual(INSTANCES);
    expect(recoveredLogs.every((r) => r.failed === 0)).toBe(true);
    if (outageIncrementsLost > 0 || belowAckedAtKill.length > 0)
      expect(conflicts, belowAckedAtKill.slice(0, 10).join('\n')).toBeGreaterThan(0);
    expect(writtenBack).toBeGreaterThanOrEqual(duringOutage.length);
  }, 60_000);
});
