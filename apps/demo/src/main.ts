/**
 * The main job, for now: three "instances" (each with its own Redis
 * connections, as separate processes would have) share sessions through one
 * Redis. It shows the two concurrency modes the project exists for and exits.
 * The Express cluster demo replaces this once the middleware lands.
 */
import { performance } from 'node:perf_hooks';
import {
  generateSessionId,
  lockedUpdate,
  type SessionLocker,
  type SessionStore,
} from '@session-cluster/core';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';
import { RedisStore, RedlockLocker } from '@session-cluster/store-redis';
import { resolveRedisTarget, type RedisTarget } from './redis-target.js';

interface Instance {
  readonly name: string;
  readonly store: SessionStore;
  readonly locker: SessionLocker;
}

const INSTANCES = 3;
const PARALLEL = 300;

function describeTarget(target: RedisTarget): string {
  switch (target.kind) {
    case 'external':
      return `Redis at ${target.url}`;
    case 'embedded':
      return `embedded redis-server at ${target.url} (set REDIS_URL to use your own)`;
    case 'memory':
      return `MEMORY-ONLY MODE: ${target.reason}; sessions are not shared between processes`;
  }
}

function makeInstances(target: RedisTarget, prefix: string): Instance[] {
  if (target.kind === 'memory') {
    // One process, one memory store: the instances share it directly.
    const store = new MemoryStore();
    const locker = new MemoryLocker();
    return Array.from({ length: INSTANCES }, (_, i) => ({
      name: `instance-${i + 1}`,
      store,
      locker,
    }));
  }
  return Array.from({ length: INSTANCES }, (_, i) => ({
    name: `instance-${i + 1}`,
    store: new RedisStore({ connection: { url: target.url }, prefix }),
    locker: new RedlockLocker({ nodes: [target.url], prefix }),
  }));
}

function pick(instances: readonly Instance[], i: number): Instance {
  const instance = instances[i % instances.length];
  if (instance === undefined) throw new Error('no instances');
  return instance;
}

async function main(): Promise<void> {
  const target = await resolveRedisTarget();
  console.log(`session-cluster demo: ${describeTarget(target)}`);
  const prefix = `demo:${process.pid}`;
  const instances = makeInstances(target, prefix);
  const [first, , last] = instances;
  if (first === undefined || last === undefined) throw new Error('no instances');

  try {
    const id = generateSessionId();
    await first.store.create({
      id,
      userId: 'demo-user',
      data: { counter: 0 },
      expiresAt: Date.now() + 60_000,
    });
    console.log(`${first.name}: created a session for demo-user`);

    let started = performance.now();
    await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => {
        const instance = pick(instances, i);
        return lockedUpdate(instance.store, instance.locker, id, (data) => ({
          ...data,
          counter: Number(data['counter']) + 1,
        }));
      }),
    );
    console.log(
      `${PARALLEL} parallel locked increments spread over ${INSTANCES} instances: ` +
        `${((performance.now() - started) / 1000).toFixed(2)} s`,
    );

    started = performance.now();
    await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        pick(instances, i).store.patch(id, { set: { [`item${i}`]: i } }),
      ),
    );
    console.log(
      `${PARALLEL} parallel field-level patches of distinct keys: ${((performance.now() - started) / 1000).toFixed(2)} s`,
    );

    const seen = await last.store.load(id);
    const items = Object.keys(seen?.data ?? {}).filter((k) => k.startsWith('item')).length;
    console.log(
      `${last.name} reads: counter=${JSON.stringify(seen?.data['counter'])} (expected ${PARALLEL}), items=${items} (expected ${PARALLEL}), version=${String(seen?.version)}`,
    );
    const sessions = await last.store.listByUser('demo-user');
    console.log(`${last.name} lists demo-user's sessions: ${sessions.length}`);
    await first.store.delete(id);
    const ok = seen?.data['counter'] === PARALLEL && items === PARALLEL;
    console.log(ok ? 'no update was lost' : 'LOST UPDATES');
    process.exitCode = ok ? 0 : 1;
  } finally {
    await Promise.all(instances.map(async (i) => Promise.all([i.store.close(), i.locker.close()])));
    if (target.kind === 'embedded') await target.server.stop();
  }
}

await main();
