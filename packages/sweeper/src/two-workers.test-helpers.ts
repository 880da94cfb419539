import { hashSessionId } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import type { RedisConnectionOptions } from '@session-cluster/store-redis';
import { expect } from 'vitest';
import { startIpcChild } from './ipc-child.test-helpers.js';
import type { IpcChild } from './ipc-child.test-helpers.js';
import {
  collectEvents,
  createSessions,
  indexSizes,
  testClient,
  testPrefix,
  userIndexSize,
  waitFor,
} from './sweeper-harness.test-helpers.js';
import type { RedisTarget } from './sweeper-harness.test-helpers.js';
import type { SweeperChildConfig, SweeperChildMessage } from './sweeper-process.test-helpers.js';
import { SWEEPER_DEFAULTS } from './sweeper-options.js';

/** Options of {@link runTwoWorkerSweep}. */
export interface TwoWorkerScenario {
  readonly target: RedisTarget;
  readonly sessions: number;
  /** SIGKILL the first worker once it has swept this many sessions. */
  readonly killFirstAfter?: number;
  readonly batchSize?: number;
}

/** What happened, for the test's own assertions. */
export interface TwoWorkerOutcome {
  /** Sessions each worker reported swept (the killed one: until its death). */
  readonly sweptBy: readonly [number, number];
  /** Outbox entries the surviving (second) worker republished. */
  readonly republishedBySecond: number;
  /** The killed worker's exit (signal) when one was killed. */
  readonly killed: string | number | null | undefined;
}

const USERS = 500;

/**
 * Two sweeper processes, `sessions` sessions (each owned by one of 500
 * users) due for them, a real consumer (`consumeExpiredSessions`) counting
 * expiries. Asserts the invariants every variant shares: exactly one event
 * per session (no loss, no duplicate, none for a stranger), each expiry in
 * exactly one batch job on the queue, every expiry index, outbox and user
 * index empty.
 */
export async function runTwoWorkerSweep(scenario: TwoWorkerScenario): Promise<TwoWorkerOutcome> {
  const { target } = scenario;
  const connection: RedisConnectionOptions =
    target.kind === 'standalone' ? { url: target.url } : { cluster: { nodes: [...target.nodes] } };
  const prefix = testPrefix();
  const store = new RedisStore({ connection, prefix, commandTimeoutMs: 5_000 });
  const admin = testClient(target);
  const events = await collectEvents(
    target,
    `{${prefix}:sweeper}`,
    SWEEPER_DEFAULTS.eventsQueueName,
  );
  const config: SweeperChildConfig = {
    connection,
    prefix,
    clockOffsetMs: 120_000,
    intervalMs: 300,
    batchSize: scenario.batchSize ?? 500,
    concurrency: 2,
    lockDurationMs: 1_500,
    stalledIntervalMs: 500,
    // Both workers run before any session is due to them: otherwise the one
    // that started first could sweep everything while the other still boots
    // (seen under load: one worker took every bucket job).
    holdClock: true,
  };
  const children: IpcChild<SweeperChildMessage>[] = [];
  try {
    // Due for the workers (their clocks run 2 min ahead), live for everyone else.
    // Created before the workers start: a session swept between its write and
    // its user-index ZADD (only possible when it is due at birth) would leave
    // a stale user-index member for listByUser to drop.
    const ids = await createSessions(store, scenario.sessions, {
      expiresAt: Date.now() + 60_000,
      userOf: (i) => `user-${i % USERS}`,
    });
    children.push(
      ...(await Promise.all(
        [0, 1].map(() =>
          startIpcChild<SweeperChildMessage>('./sweeper-process.test-helpers.ts', {
            SWEEPER_CHILD_CONFIG: JSON.stringify(config),
          }),
        ),
      )),
    );
    const [first, second] = children as [
      IpcChild<SweeperChildMessage>,
      IpcChild<SweeperChildMessage>,
    ];
    for (const child of children) child.child.send({ type: 'advance' });
    const sweptBy = (child: IpcChild<SweeperChildMessage>): number =>
      child.inbox.reduce((n, m) => (m.type === 'swept' ? n + m.report.expired : n), 0);

    let killed: string | number | null | undefined;
    const killAfter = scenario.killFirstAfter;
    if (killAfter !== undefined) {
      await waitFor(
        `the first worker to sweep ${killAfter}`,
        () => sweptBy(first) >= killAfter,
        60_000,
      );
      first.child.kill('SIGKILL');
      killed = await first.exited;
    }

    await waitFor(
      `${scenario.sessions} events`,
      () => events.events.length >= scenario.sessions,
      90_000,
    );
    await waitFor('empty expiry indexes and outboxes', async () => {
      const sizes = await indexSizes(admin, store);
      return sizes.expiry === 0 && sizes.outbox === 0;
    });
    // Let a few more intervals pass: a duplicate would show up now.
    await new Promise((resolve) => setTimeout(resolve, 4 * config.intervalMs));

    expect(events.events).toHaveLength(scenario.sessions);
    expect(events.distinct()).toBe(scenario.sessions);
    expect(new Set(events.events.map((e) => e.sessionIdHash))).toEqual(
      new Set(ids.map((id) => hashSessionId(id))),
    );
    // None twice to the queue: the batch jobs the queue holds add up to one
    // expiry per session (a republished batch met its own job id), and no
    // job was handed to the consumer twice.
    expect(await events.queued()).toBe(scenario.sessions);
    expect(new Set(events.jobIds).size).toBe(events.jobIds.length);
    // The sweep leaves the user indexes to their readers: once read, empty.
    const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
    for (const userId of users) expect(await store.listByUser(userId)).toEqual([]);
    expect(await userIndexSize(admin, store, users)).toBe(0);
    for (const child of children) {
      const failed = child.inbox.filter((m) => m.type === 'failed');
      // A failure is allowed only as the fallout of the kill (none without one).
      if (killAfter === undefined) expect(failed).toEqual([]);
    }
    const republishedBySecond = second.inbox.reduce(
      (n, m) => (m.type === 'swept' ? n + m.report.republished : n),
      0,
    );
    return { sweptBy: [sweptBy(first), sweptBy(second)], republishedBySecond, killed };
  } finally {
    await Promise.all(
      children.map(async (child) => {
        if (child.child.exitCode === null && child.child.signalCode === null) {
          child.child.send({ type: 'exit' });
          const killer = setTimeout(() => child.child.kill('SIGKILL'), 10_000);
          await child.exited;
          clearTimeout(killer);
        }
      }),
    );
    await events.close();
    await store.close();
    admin.disconnect();
  }
}
