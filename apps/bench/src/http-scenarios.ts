import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import type { FastifyBenchMode, FastifyBenchState } from './fastify-bench-server.js';
import type { HttpBenchMode, HttpBenchState } from './http-bench-server.js';
import { combinedSlices } from './case-slices.js';
import type { CaseResult } from './case-slices.js';
import { median, rotated } from './load-runner.js';
import { processCpuMicros, redisCpuMicros } from './process-cpu.js';
import { reportRatios } from './ratios.js';
import type { Bar } from './ratios.js';

/** Options of {@link runHttpSuite}. */
export interface HttpSuiteOptions {
  readonly redisUrl: string;
  /** Measured seconds per case per round. */
  readonly seconds: number;
  readonly connections: number;
  readonly rounds: number;
  /** Run only the cases whose name (`<mode> <case>`, e.g. `ours own-set`) contains it. */
  readonly only?: string | undefined;
}

/** A ratio the HTTP issue commits to. */
const MODES: readonly HttpBenchMode[] = [
  'none',
  'ours',
  'ours-always',
  'express-session',
  'raw-ioredis',
];
const CASES = ['shared-cookie', 'fresh-session', 'own-session', 'own-read', 'own-set'] as const;
/** Route of each case. */
const PATHS: Readonly<Record<HttpCase, string>> = {
  'shared-cookie': '/hit',
  'fresh-session': '/hit',
  'own-session': '/own/update',
  'own-read': '/own/read',
  'own-set': '/own/set',
};
type HttpCase = (typeof CASES)[number];

/** The bars of the Express issue, measured in every run. */
export const HTTP_BARS: readonly Bar[] = [
  { ours: 'ours shared-cookie', baseline: 'express-session shared-cookie', min: 1.3 },
  { ours: 'ours fresh-session', baseline: 'express-session fresh-session', min: 1.3 },
  { ours: 'ours shared-cookie', baseline: 'none shared-cookie', min: 0.75 },
  { ours: 'ours fresh-session', baseline: 'none fresh-session', min: 0.75 },
  { ours: 'express-session shared-cookie', baseline: 'none shared-cookie', min: 0 },
  { ours: 'express-session fresh-session', baseline: 'none fresh-session', min: 0 },
  // The floor: what any layer that reads and writes Redis per request can reach.
  { ours: 'raw-ioredis shared-cookie', baseline: 'none shared-cookie', min: 0 },
  { ours: 'raw-ioredis fresh-session', baseline: 'none fresh-session', min: 0 },
  { ours: 'raw-ioredis shared-cookie', baseline: 'express-session shared-cookie', min: 0 },
  { ours: 'raw-ioredis fresh-session', baseline: 'express-session fresh-session', min: 0 },
  { ours: 'ours shared-cookie', baseline: 'raw-ioredis shared-cookie', min: 0 },
  { ours: 'ours fresh-session', baseline: 'raw-ioredis fresh-session', min: 0 },
  // One session per connection: ours does req.session.update (lossless),
  // express-session its read-then-write (lossy when requests overlap).
  { ours: 'ours own-session', baseline: 'express-session own-session', min: 1.0 },
  { ours: 'ours own-session', baseline: 'raw-ioredis own-session', min: 0 },
  { ours: 'ours-always own-session', baseline: 'express-session own-session', min: 0 },
  // Instance cache issue, one session per connection: a read-only route is
  // served from the instance cache; a write of one key is one patch.
  { ours: 'ours own-read', baseline: 'express-session own-read', min: 1.25 },
  { ours: 'ours own-read', baseline: 'none own-read', min: 0.85 },
  { ours: 'ours own-set', baseline: 'express-session own-set', min: 1.1 },
  { ours: 'raw-ioredis own-read', baseline: 'none own-read', min: 0 },
  { ours: 'ours own-set', baseline: 'raw-ioredis own-set', min: 0 },
  // A/A: `ours-always` differs from `ours` only in `update`'s lock mode, which
  // neither a read nor a one-key patch uses: the same code in two processes,
  // so these two say how far apart this run reads identical servers.
  { ours: 'ours-always own-read', baseline: 'ours own-read', min: 0 },
  { ours: 'ours-always own-set', baseline: 'ours own-set', min: 0 },
  // Fastify issue, one session per connection: the plugin against
  // @fastify/session + connect-redis 11 (node-redis).
  { ours: 'fastify-ours own-read', baseline: 'fastify-session own-read', min: 1.05 },
  { ours: 'fastify-ours own-set', baseline: 'fastify-session own-set', min: 1.1 },
  // The Fastify floor: raw ioredis behind the same routes (no signing, no checks).
  { ours: 'fastify-raw-ioredis own-read', baseline: 'fastify-session own-read', min: 0 },
  { ours: 'fastify-raw-ioredis own-set', baseline: 'fastify-session own-set', min: 0 },
  { ours: 'fastify-ours own-set', baseline: 'fastify-raw-ioredis own-set', min: 0 },
];

/** The Fastify servers ({@link ./fastify-bench-server.ts}) and the cases they serve. */
const FASTIFY_MODES: readonly FastifyBenchMode[] = [
  'fastify-ours',
  'fastify-session',
  'fastify-raw-ioredis',
];
const FASTIFY_CASES = ['own-read', 'own-set'] as const;

interface ServerHandle {
  readonly mode: HttpBenchMode | FastifyBenchMode;
  readonly url: string;
  /** The server process, for its CPU time. */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

async function startServer(
  mode: HttpBenchMode | FastifyBenchMode,
  redisUrl: string,
): Promise<ServerHandle> {
  const fromSource = import.meta.url.endsWith('.ts');
  const server = mode.startsWith('fastify-') ? 'fastify-bench-server' : 'http-bench-server';
  const script = fileURLToPath(
    new URL(fromSource ? `./${server}.ts` : `./${server}.js`, import.meta.url),
  );
  const config = { mode, redisUrl, prefix: `bench-http-${mode}` };
  const child: ChildProcess = spawn(
    process.execPath,
    [...(fromSource ? ['--import', 'tsx', '--conditions=@session-cluster/source'] : []), script],
    {
      env: { ...process.env, SC_HTTP_BENCH: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message: { type: string; url: string }) => {
      resolve(message.url);
    });
    child.once('exit', (code) => {
      reject(new Error(`bench server (${mode}) exited with ${code}`));
    });
  });
  return {
    mode,
    url,
    pid: child.pid,
    stop: async () => {
      const exited = new Promise<void>((resolve) =>
        child.once('exit', () => {
          resolve();
        }),
      );
      child.send({ type: 'exit' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** One request without a cookie; the session cookie it sets (none for mode `none`). */
async function sessionCookie(url: string): Promise<string | undefined> {
  const res = await fetch(`${url}/hit`);
  await res.text();
  return res.headers.getSetCookie()[0]?.split(';')[0];
}

async function runCase(
  server: ServerHandle,
  kind: HttpCase,
  options: HttpSuiteOptions,
  seconds: number,
  redis: Redis,
): Promise<CaseResult> {
  await (await fetch(`${server.url}/reset`, { method: 'POST' })).text();
  const cookie = kind === 'shared-cookie' ? await sessionCookie(server.url) : undefined;
  const path = PATHS[kind];
  const appBefore = processCpuMicros(server.pid);
  const redisBefore = await redisCpuMicros(redis);
  const result = await autocannon({
    url: `${server.url}${path}`,
    connections: options.connections,
    duration: seconds,
    headers: cookie === undefined ? {} : { cookie },
  });
  const perRequest = (before: number | undefined, after: number | undefined): number | null =>
    before === undefined || after === undefined || result.requests.total === 0
      ? null
      : Math.round(((after - before) / result.requests.total) * 10) / 10;
  const appCpu = perRequest(appBefore, processCpuMicros(server.pid));
  const redisCpu = perRequest(redisBefore, await redisCpuMicros(redis));
  let lostUpdates: number | null = null;
  let slots: number | null = null;
  if (kind === 'shared-cookie' && server.mode !== 'none' && cookie !== undefined) {
    const state = (await (
      await fetch(`${server.url}/state`, { headers: { cookie } })
    ).json()) as HttpBenchState;
    lostUpdates = 0;
    slots = Object.keys(state.served).length;
    for (const [slot, count] of Object.entries(state.served)) {
      lostUpdates += Math.max(0, count - (state.stored[slot] ?? 0));
    }
  }
  if (kind === 'own-set' && server.mode.startsWith('fastify-')) {
    // Each connection wrote its own session, one request at a time: what it
    // holds must be the last value answered.
    const state = (await (await fetch(`${server.url}/state`)).json()) as FastifyBenchState;
    lostUpdates = 0;
    slots = state.connections.length;
    for (const c of state.connections) lostUpdates += Math.max(0, c.served - c.stored);
  }
  const ran = (result.finish.getTime() - result.start.getTime()) / 1_000;
  return {
    reqPerSec: ran > 0 ? result.requests.total / ran : 0,
    requests: result.requests.total,
    seconds: ran,
    appCpuMicros: appCpu,
    redisCpuMicros: redisCpu,
    non2xx: result.non2xx,
    errors: result.errors,
    lostUpdates,
    slots,
  };
}

/**
 * HTTP requests per second of one Express route behind four session
 * layers — none (the limit), ours, express-session + connect-redis, and
 * raw ioredis (the floor of any layer that reads and writes Redis per
 * request: one `HGET`, one script call, `HSET` + `PEXPIRE`) — with
 * 50 connections, for a shared session cookie (every request reads and
 * writes one session; lost updates counted) and fresh sessions (every
 * request creates one). Same redis-server, same run, rounds interleaved.
 * Beside each rate: the CPU the app's process and Redis spent per request
 * (medians of the rounds), where a layer's cost goes.
 */
export async function runHttpSuite(options: HttpSuiteOptions): Promise<Record<string, unknown>> {
  console.log(
    `\nHTTP (Express 5, autocannon): ${options.connections} connections, ${options.seconds} s per case (1 s slices in turns), ` +
      `${options.rounds} rounds (median); each server in its own process; Redis ${options.redisUrl}`,
  );
  const servers: ServerHandle[] = [];
  // Only reads INFO cpu between cases.
  const redis = new Redis(options.redisUrl);
  try {
    const casesOfMode = (mode: HttpBenchMode | FastifyBenchMode): readonly HttpCase[] =>
      (mode.startsWith('fastify-') ? FASTIFY_CASES : CASES).filter(
        (kind) => options.only === undefined || `${mode} ${kind}`.includes(options.only),
      );
    // A server none of whose cases is selected is not started.
    for (const mode of [...MODES, ...FASTIFY_MODES]) {
      if (casesOfMode(mode).length > 0) servers.push(await startServer(mode, options.redisUrl));
    }
    if (servers.length === 0) {
      console.log(`  --only ${JSON.stringify(options.only)} selects no HTTP case`);
      return { summary: [], ratios: [] };
    }
    const casesOf = (server: ServerHandle): readonly HttpCase[] => casesOfMode(server.mode);
    const runs = new Map<string, CaseResult[]>();
    // Warm JIT, connections and scripts.
    for (const server of servers) {
      for (const kind of casesOf(server)) await runCase(server, kind, options, 1, redis);
    }
    for (let round = 1; round <= options.rounds; round += 1) {
      // The servers' order rotates from round to round: in a fixed order the
      // first server of every round (no middleware) ran right after the last
      // one's load ended, every time.
      const order = rotated(servers, round);
      for (const kind of CASES) {
        const group = order.filter((s) => casesOf(s).includes(kind));
        // Each server's figure is over one-second slices, the servers of the
        // case taking turns (forward, then backward): the layers a ratio
        // compares then share the machine's drift, which moved whole
        // four-second runs a few seconds apart by up to half (raw ioredis ÷
        // no middleware read 0.41 and 1.07 in two rounds of one run).
        const slices = new Map<ServerHandle, CaseResult[]>();
        for (let slice = 0; slice < options.seconds; slice += 1) {
          for (const server of slice % 2 === 0 ? group : [...group].reverse()) {
            const result = await runCase(server, kind, options, 1, redis);
            slices.set(server, [...(slices.get(server) ?? []), result]);
          }
        }
        for (const server of group) {
          const result = combinedSlices(slices.get(server) ?? []);
          const name = `${server.mode} ${kind}`;
          runs.set(name, [...(runs.get(name) ?? []), result]);
          process.stderr.write(
            `  round ${round}/${options.rounds} ${name}: ${Math.round(result.reqPerSec)} req/s` +
              (result.lostUpdates === null
                ? ''
                : `, lost updates ${result.lostUpdates} (${result.slots} slots)`) +
              `${result.non2xx + result.errors > 0 ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : ''}\n`,
          );
        }
      }
    }
    const summary = [...runs].map(([scenario, results]) => ({
      scenario,
      reqPerSec: Math.round(median(results.map((r) => r.reqPerSec))),
      appCpuMicros: medianOrDash(results.map((r) => r.appCpuMicros)),
      redisCpuMicros: medianOrDash(results.map((r) => r.redisCpuMicros)),
      lostUpdates: results.some((r) => r.lostUpdates !== null)
        ? results.reduce((sum, r) => sum + (r.lostUpdates ?? 0), 0)
        : '—',
      non2xx: results.reduce((sum, r) => sum + r.non2xx + r.errors, 0),
    }));
    console.log(
      '\nHTTP throughput (median of rounds; lost updates summed over rounds; ' +
        'app and Redis CPU per request, µs)',
    );
    console.table(summary);
    const rates = new Map(
      [...runs].map(([name, results]) => [name, results.map((r) => r.reqPerSec)]),
    );
    return { summary, ratios: reportRatios('HTTP ratios', rates, HTTP_BARS) };
  } finally {
    redis.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** The median of the figures measured, `'—'` when none was. */
function medianOrDash(values: readonly (number | null)[]): number | '—' {
  const measured = values.filter((value): value is number => value !== null);
  return measured.length === 0 ? '—' : Math.round(median(measured) * 10) / 10;
}
