/**
 * What a one-key `patch` costs Redis, step by step: the store's batched
 * `patchSession` script as it ships, against variants of it with steps cut
 * out and against the replacing patch a `RedisStore` sends when it holds
 * the session's current copy, each run on a private redis-server over the
 * same sessions in batches of 32 calls (the most the store puts in one). Redis' own
 * `INFO commandstats` gives the µs per call. The write bars of the HTTP
 * suites sit where this cost counts (the app, Redis and the load generator
 * share two cores), so this says which step a cheaper write would have to
 * drop. A cut that no longer matches the script's text fails the run: the
 * variants follow the Lua in `packages/store-redis/src/lua`.
 */
import { readFileSync } from 'node:fs';
import { generateSessionId } from '@session-cluster/core';
import { RedisKeys, RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { median, rotated } from './load-runner.js';

/** Calls per batched script call, as the store sends them (store-redis `MAX_BATCH_CALLS`). */
const CALLS_PER_BATCH = 32;
const PREFIX = 'bench-script';
const BUCKETS = 64;

/** A variant: the shipped script with `cuts` applied (text → replacement; `BODY` replaces the whole script body). */
interface Variant {
  readonly name: string;
  readonly cuts: readonly (readonly [string, string])[];
  /**
   * Sent on a connection with `CLIENT TRACKING on … NOLOOP`, as the store's
   * is when the instance cache is on (the default of createSessionCluster).
   */
  readonly tracked?: boolean;
  /** Prefixed with this first line (a Redis 7 shebang: `#!lua`, flags). */
  readonly shebang?: string;
  /**
   * Not a cut: what a `RedisStore` with the instance cache sends for a
   * patch when each session's copy is current: the whole frame, which
   * Redis only compares and stores (lua/replaceSession-2.lua).
   */
  readonly viaStore?: boolean;
}

const ARG_SPLIT = `local packed, args, from = ARGV[call + 1], {}, 1
  while true do`;
// The split by gmatch, then the shipped loop kept but never entered.
const GMATCH_SPLIT = `local args, n = {}, 0
  for arg in string.gmatch(ARGV[call + 1] .. '\\0', '([^%z]*)%z') do
    n = n + 1
    args[n] = arg
  end
  local packed, from = ARGV[call + 1], 1
  while false do`;

const VARIANTS: readonly Variant[] = [
  { name: 'patchSession as shipped', cuts: [] },
  { name: 'replacing patch (the copy is current)', cuts: [], viaStore: true },
  {
    name: 'an empty call (batch loop, argument split, reply)',
    cuts: [['BODY', "return {1, 1, 1, ''}"]],
  },
  {
    name: 'an empty call without the argument split',
    cuts: [
      ['BODY', "return {1, 1, 1, ''}"],
      [ARG_SPLIT, 'local packed, args, from = ARGV[call + 1], {}, 1\n  while false do'],
    ],
  },
  {
    name: '+ GET',
    cuts: [['BODY', "redis.call('GET', KEYS[1])\nreturn {1, 1, 1, ''}"]],
  },
  {
    name: '+ GET, header read',
    cuts: [
      ['BODY', "frame_format(ARGV[6])\nframe_read(frame_get_raw(KEYS[1]))\nreturn {1, 1, 1, ''}"],
    ],
  },
  {
    name: '+ GET, header read, live and integrity checks',
    cuts: [
      [
        'BODY',
        "frame_format(ARGV[6])\nframe_get_live(KEYS[1], ARGV[1], tonumber(ARGV[2]))\nreturn {1, 1, 1, ''}",
      ],
    ],
  },
  {
    name: 'shipped, without the ZADD',
    cuts: [["redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])", '']],
  },
  {
    name: 'shipped, without checking the stored frame',
    cuts: [['if not frame_verify(sid, current, body) then', 'if false then']],
  },
  // A script's read-only command makes Redis remember, for a tracking
  // caller, every key of the whole batched call (see frame_get_raw in frame.lua).
  { name: 'shipped, caller tracked (instance cache on)', cuts: [], tracked: true },
  // Redis 7 refuses a flagged script under OOM before it runs (no allow-oom):
  // what the empty SETRANGE before the GETEX does for a script without flags.
  {
    name: 'shipped, #!lua instead of the empty SETRANGE',
    cuts: [["redis.call('SETRANGE', key, 0, '')", '']],
    shebang: '#!lua',
  },
  {
    name: 'shipped, arguments split by gmatch',
    cuts: [[ARG_SPLIT, GMATCH_SPLIT]],
  },
];

/** What {@link measurePatchScriptCost} measured: Redis µs per call of each variant (median of its passes). */
export interface PatchScriptCost {
  readonly sessions: number;
  readonly callsPerBatch: number;
  readonly variants: readonly { readonly name: string; readonly microsPerCall: number }[];
}

function luaSource(file: string): string {
  const dist = import.meta.resolve('@session-cluster/store-redis');
  return readFileSync(new URL(`./lua/${file}`, dist), 'utf8');
}

/** The batched script of `variant`, built as store-redis builds `sc_patchSession_<version>_batch`. */
function variantSource(variant: Variant): string {
  let body = luaSource('patchSession-2.lua');
  let source = `${luaSource('frame.lua')}\nlocal function sc_one(KEYS, ARGV)\nBODY\nend\n${luaSource('batch.lua')}`;
  for (const [text, replacement] of variant.cuts) {
    if (text === 'BODY') {
      body = replacement;
      continue;
    }
    if (!source.includes(text) && !body.includes(text)) {
      throw new Error(`patch script cost: "${variant.name}" no longer matches the Lua: ${text}`);
    }
    source = source.split(text).join(replacement);
    body = body.split(text).join(replacement);
  }
  const built = source.replace('BODY', () => body);
  return variant.shebang === undefined ? built : `${variant.shebang}\n${built}`;
}

/** EVALSHA µs per call since the last `CONFIG RESETSTAT`. */
async function microsPerCall(admin: Redis, calls: number): Promise<number> {
  const info = await admin.info('commandstats');
  const match = /cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(info);
  if (match?.[1] === undefined) throw new Error('patch script cost: no EVALSHA in commandstats');
  return Number(match[1]) / calls;
}

/**
 * Run every variant over `sessions` live sessions (4 small keys each),
 * `rounds` one-key patches per session, in `passes` alternating passes.
 */
export async function measurePatchScriptCost(options: {
  readonly sessions: number;
  readonly rounds: number;
  readonly passes: number;
}): Promise<PatchScriptCost> {
  const server = await startRedisServer();
  // The same key layout for the store that creates the sessions and the keys the batches name.
  const store = new RedisStore({
    connection: { url: server.url },
    prefix: PREFIX,
    buckets: BUCKETS,
    cache: true,
  });
  const admin = new Redis(server.url);
  // A caller with tracking on, its invalidations redirected to a subscriber, as the store's.
  const tracked = new Redis(server.url);
  const invalidations = new Redis(server.url);
  const invalidationsId = String(await invalidations.client('ID'));
  await invalidations.subscribe('__redis__:invalidate');
  await tracked.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', invalidationsId, 'NOLOOP');
  const keys = new RedisKeys(PREFIX, BUCKETS);
  try {
    const ids: string[] = [];
    for (let i = 0; i < options.sessions; i++) {
      const id = generateSessionId();
      await store.create({
        id,
        data: { a: 1, b: 'hello world', c: [1, 2, 3], slot: i },
        expiresAt: Date.now() + 3_600_000,
      });
      ids.push(id);
    }
    const shas = await Promise.all(
      VARIANTS.map((variant) => admin.script('LOAD', variantSource(variant)) as Promise<string>),
    );
    const runs = new Map<string, number[]>();
    for (let pass = 0; pass < options.passes; pass++) {
      // The order rotates from pass to pass: in a fixed order a variant's
      // place (after the same neighbour every time) moved its figure by a
      // tenth between runs.
      for (const variant of rotated(VARIANTS, pass)) {
        const i = VARIANTS.indexOf(variant);
        if (variant.viaStore === true) {
          // The other variants' writes made the store's copies stale: read
          // them again, and patch once so the script is loaded on its connection.
          await Promise.all(ids.map((id) => store.load(id)));
          await Promise.all(ids.map((id) => store.patch(id, { set: { slot: -1 } })));
        }
        await admin.config('RESETSTAT');
        let calls = 0;
        for (let round = 0; round < options.rounds; round++) {
          if (variant.viaStore === true) {
            const expiresAt = Date.now() + 3_600_000;
            // All at once: the store batches them as it batches a busy instance's writes.
            await Promise.all(
              ids.map((id) => store.patch(id, { set: { slot: round } }, { expiresAt })),
            );
            calls += ids.length;
            continue;
          }
          const pipeline = (variant.tracked === true ? tracked : admin).pipeline();
          for (let from = 0; from < ids.length; from += CALLS_PER_BATCH) {
            const batchKeys: string[] = [];
            // ARGV[1]: keys per call; then one NUL-joined argument list per call (lua/batch.lua).
            const args: string[] = ['2'];
            for (const id of ids.slice(from, from + CALLS_PER_BATCH)) {
              const now = Date.now();
              batchKeys.push(keys.session(id), keys.expiryBucketOf(id));
              args.push(
                [id, now, now + 3_600_000, now + 7_200_000, 4096, '2', '', 1, '"slot"', round].join(
                  '\0',
                ),
              );
              calls += 1;
            }
            pipeline.evalsha(shas[i] ?? '', batchKeys.length, ...batchKeys, ...args);
          }
          const replies = (await pipeline.exec()) ?? [];
          for (const [error, reply] of replies) {
            if (error !== null) throw error;
            for (const result of reply as unknown[]) {
              if (!Array.isArray(result) || result[0] !== 1) {
                throw new Error(`patch script cost: ${variant.name} answered ${String(result)}`);
              }
            }
          }
        }
        runs.set(variant.name, [
          ...(runs.get(variant.name) ?? []),
          await microsPerCall(admin, calls),
        ]);
      }
    }
    return {
      sessions: options.sessions,
      callsPerBatch: CALLS_PER_BATCH,
      variants: VARIANTS.map(({ name }) => ({
        name,
        microsPerCall: Math.round(median(runs.get(name) ?? []) * 100) / 100,
      })),
    };
  } finally {
    admin.disconnect();
    tracked.disconnect();
    invalidations.disconnect();
    await store.close();
    await server.stop();
  }
}
