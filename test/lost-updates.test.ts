import { startRedisNodes, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  freshPrefix,
  loadExisting,
  openStore,
} from './fixtures/scenario-session.js';
import {
  OPERATIONS,
  PROCESSES,
  TOTAL,
  expectAllSucceeded,
  reportBatch,
  runIncrements,
  workerConfigs,
} from './fixtures/scenario-batch.js';
import { runWorkers } from './fixtures/worker-process.js';

/** Calls of Lua scripts (EVALSHA, EVAL) in an `INFO commandstats` reply. */
function scriptCalls(commandstats: string): number {
  let calls = 0;
  for (const match of commandstats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) {
    calls += Number(match[1]);
  }
  return calls;
}

describe(`lost updates: ${PROCESSES} processes × ${OPERATIONS} concurrent writes to one session`, () => {
  let storeNode: RedisServerHandle;
  let lockNodes: RedisServerHandle[];

  beforeAll(async () => {
    [storeNode, lockNodes] = await Promise.all([startRedisServer(), startRedisNodes(3)]);
  });
  afterAll(async () => {
    await Promise.all([storeNode, ...lockNodes].map((n) => n.stop()));
  });

  it('locked increments with one Redlock node (the store node) count exactly 300', async () => {
    const { outcome, counter, version } = await runIncrements({
      storeUrl: storeNode.url,
      lockUrls: [storeNode.url],
    });
    reportBatch('locked increments, 1 lock node, local queue', outcome);
    expectAllSucceeded(outcome);
    expect(counter).toBe(TOTAL);
    // One version per write: no write was lost and none needed a second try.
    expect(version).toBe(1 + TOTAL);
  });

  it('locked increments with three Redlock nodes count exactly 300', async () => {
    const { outcome, counter, version } = await runIncrements({
      storeUrl: storeNode.url,
      lockUrls: lockNodes.map((n) => n.url),
    });
    reportBatch('locked increments, 3 lock nodes, local queue', outcome);
    expectAllSucceeded(outcome);
    expect(counter).toBe(TOTAL);
    expect(version).toBe(1 + TOTAL);
  });

  it("manager.update on one hot session, 3 lock nodes: exactly 300 with lock 'on-conflict' and 'always' (times printed)", async () => {
    const lockUrls = lockNodes.map((n) => n.url);
    const elapsed: Record<string, number> = {};
    for (const updateLock of ['on-conflict', 'always'] as const) {
      const { outcome, counter, version } = await runIncrements({
        storeUrl: storeNode.url,
        lockUrls,
        updateLock,
      });
      reportBatch(`manager.update increments, lock: '${updateLock}', 3 lock nodes`, outcome);
      expectAllSucceeded(outcome);
      expect(counter).toBe(TOTAL);
      // A failed compare-and-set writes nothing: one version per increment in both modes.
      expect(version).toBe(1 + TOTAL);
      elapsed[updateLock] = outcome.elapsedMs;
    }
    console.info(
      `[scenario] one hot session, ${TOTAL} updates: on-conflict ` +
        `${elapsed['on-conflict']?.toFixed(0)} ms vs always ${elapsed['always']?.toFixed(0)} ms`,
    );
    // Two multi-process batches (six worker processes to start): more than
    // the default test timeout on a loaded machine.
  }, 120_000);

  it('the local queue cuts Redis polling: same result, measured with and without', async () => {
    // A lock node of its own, so its script calls are all lock traffic.
    const lockNode = lockNodes[0]!;
    const admin = new Redis(lockNode.url);
    try {
      const run = async (localQueue: boolean) => {
        await admin.config('RESETSTAT');
        const result = await runIncrements({
          storeUrl: storeNode.url,
          lockUrls: [lockNode.url],
          localQueue,
        });
        return { ...result, lockCalls: scriptCalls(await admin.info('commandstats')) };
      };
      const queued = await run(true);
      const unqueued = await run(false);
      reportBatch(
        `locked increments, 1 lock node, local queue, ${queued.lockCalls} lock script calls`,
        queued.outcome,
      );
      reportBatch(
        `locked increments, 1 lock node, NO local queue, ${unqueued.lockCalls} lock script calls`,
        unqueued.outcome,
      );
      for (const { outcome, counter, version } of [queued, unqueued]) {
        expectAllSucceeded(outcome);
        expect(counter).toBe(TOTAL);
        expect(version).toBe(1 + TOTAL);
      }
      // Without the queue all 300 waiters poll; with it, one per process does.
      expect(queued.lockCalls).toBeLessThan(unqueued.lockCalls);
    } finally {
      await admin.quit();
    }
  });

  it('field-level patches of 300 distinct keys keep all 300', async () => {
    const prefix = freshPrefix();
    const store = openStore(storeNode.url, prefix);
    try {
      const sessionId = await createSession(store, {});
      const outcome = await runWorkers(
        workerConfigs({
          storeUrl: storeNode.url,
          lockNodes: [storeNode.url],
          prefix,
          sessionId,
          job: 'patch',
          operations: OPERATIONS,
          localQueue: true,
          acquireTimeoutMs: 5_000,
        }),
      );
      reportBatch('patches of distinct keys, no lock', outcome);
      expectAllSucceeded(outcome);
      const record = await loadExisting(store, sessionId);
      const expected = Object.fromEntries(
        Array.from({ length: PROCESSES }, (_, w) =>
          Array.from({ length: OPERATIONS }, (_, k) => [`w${w}-k${k}`, k] as const),
        ).flat(),
      );
      expect(record.data).toEqual(expected);
      expect(record.version).toBe(1 + TOTAL);
    } finally {
      await store.close();
    }
  });
});
