import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { generateSessionId, isSessionError } from '@session-cluster/core';
import type { SessionError } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix } from './fixtures/scenario-session.js';
import {
  HEADER_FIELD,
  joinFrameWithValidCheck,
  sessionKeyOf,
  splitFrame,
} from './fixtures/redis-inspection.js';

/*
 * Errors never carry a raw session id or session data, however deep:
 * whatever the store raises — a Redis error reply to a script whose
 * arguments hold the id and the data, a refused command, a stored value
 * that does not parse — prints (util.inspect, as console.error does), logs
 * (pino's err serializer) and serialises (toJSON) without them.
 */

// pino is the telemetry package's dependency, not this one's: resolve it from there.
type PinoFactory = (options: object, stream: Writable) => { error(obj: object, msg: string): void };
const { pino } = createRequire(import.meta.resolve('@session-cluster/telemetry'))('pino') as {
  pino: PinoFactory;
};

/** Everything a log or console would show of `error`. */
function renderings(error: SessionError): string[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  pino({}, sink).error({ err: error }, 'store call failed');
  return [
    inspect(error, { depth: Infinity, showHidden: true }),
    lines.join(''),
    JSON.stringify(error),
    String(error.stack),
  ];
}

/** A session value nobody would print by accident: easy to spot in any text. */
const secretValue = fc
  .string({
    unit: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyz0123456789')),
    minLength: 12,
    maxLength: 24,
  })
  .map((s) => `secret-${s}`);

describe('store errors carry no raw session id and no session data', () => {
  let redis: RedisServerHandle;
  let admin: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  it('in util.inspect, pino and toJSON of every error raised (property)', async () => {
    const store = new RedisStore({ connection: { url: redis.url }, prefix: freshPrefix() });
    try {
      await fc.assert(
        fc.asyncProperty(
          secretValue,
          fc.constantFrom('load', 'patch', 'save', 'create', 'touch', 'delete', 'parse'),
          async (secret, operation) => {
            const id = generateSessionId();
            const key = sessionKeyOf(store, id);
            const data = { note: secret };
            let call: Promise<unknown>;
            if (operation === 'parse') {
              // A stored value that is not JSON, under a valid check: the
              // parser's own error quotes the text.
              await store.create({ id, data: { note: 'x' }, expiresAt: Date.now() + 60_000 });
              const { header } = splitFrame((await admin.get(key))!);
              header[HEADER_FIELD.z] = String(6 + secret.length + 2);
              await admin.set(key, joinFrameWithValidCheck(id, header, `\x1e"note"\x1f{${secret}`));
              call = store.load(id);
            } else {
              // The session key holds the wrong type: Redis refuses the call,
              // and ioredis attaches the command (key and arguments) to its error.
              await admin.hset(key, 'note', secret);
              const expiresAt = Date.now() + 60_000;
              call = {
                load: () => store.load(id),
                patch: () => store.patch(id, { set: data }),
                save: () => store.save(id, { data, expiresAt }, 1),
                create: () => store.create({ id, data, expiresAt }),
                touch: () => store.touch(id, expiresAt),
                delete: () => store.delete(id),
              }[operation]();
            }
            const error: unknown = await call.then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(isSessionError(error)).toBe(true);
            for (const text of renderings(error as SessionError)) {
              expect(text).not.toContain(id);
              expect(text).not.toContain(secret);
            }
            await admin.del(key);
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      await store.close();
    }
  });
});
