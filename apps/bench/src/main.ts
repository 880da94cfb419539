/**
 * Side-by-side benchmarks. Every figure is measured in the same run against
 * the same redis-server and printed as a ratio against a baseline from that
 * run (raw ioredis, express-session + connect-redis): these machines are
 * shared and noisy, so absolute numbers travel badly and ratios travel well.
 *
 *   pnpm bench [--suite all|store|cluster|resilience|http|telemetry|sweep|script] [--ops 20000] [--lanes 64] [--rounds 3]
 *              [--http-seconds 4] [--connections 50] [--sweep-sessions 1000000]
 *              [--only <substring>] [--json <file>] [-h|--help]
 *
 * Suites: `store` — stores side by side (Redis store issue bars); `cluster` —
 * the instance cache and the write path on a 3-master Redis Cluster beside raw
 * ioredis on it (no bars: what Cluster changes); `resilience`
 * — manager overhead, failover latency, reconciliation (manager/fallback issue bars);
 * `http` — one Express route behind no session layer, ours, express-session +
 * connect-redis and raw ioredis (the floor of a Redis-backed layer), over HTTP
 * with autocannon, each case in one-second slices its servers take in turns (Express
 * issue bars, lost updates); and two Fastify routes (read-only,
 * write-one-key, one session per connection) behind the Fastify plugin and behind
 * @fastify/session + connect-redis 11 (Fastify issue bars, lost writes);
 * `telemetry` — manager get/update with telemetry off, on without an SDK, and with
 * the SDK exporting over OTLP (all traces, all inside a recording parent span, 10 % sampled,
 * none sampled), in worker processes (OpenTelemetry issue bars);
 * `sweep` — one expiry-sweeper worker over a backlog of expired sessions against the
 * store's raw sweep and BullMQ's own `addBulk` rate, its memory, and event latency
 * (sweeper issue bars); `script` — what a one-key patch costs Redis, step by
 * step (the shipped patch script against variants with steps cut out).
 *
 * Uses REDIS_URL when set, else starts private redis-servers on free ports.
 */
import { writeFileSync } from 'node:fs';
import {
  startRedisCluster,
  startRedisNodes,
  startRedisServer,
  type RedisServerHandle,
} from '@session-cluster/testkit';
import { CLUSTER_RATIOS, createClusterStoreBench } from './cluster-scenarios.js';
import { runHttpSuite } from './http-scenarios.js';
import { median, runLoad, type LoadResult } from './load-runner.js';
import { fixtureBytes } from './session-fixture.js';
import { createStoreBench, type Scenario } from './store-scenarios.js';
import { measureTelemetryOverhead } from './telemetry-scenarios.js';
import { runSweepSuite } from './sweep-scenarios.js';
import { measurePatchScriptCost } from './patch-script-cost.js';
import {
  measureFailover,
  measureManagerOverhead,
  measureReconcile,
} from './resilience-scenarios.js';
import { BARS, reportRatios, type Bar } from './ratios.js';
import { BENCH_USAGE, parseBenchArgs } from './bench-args.js';

const command = parseBenchArgs(process.argv.slice(2));
if (command.kind === 'help') {
  process.stdout.write(BENCH_USAGE);
  process.exit(0);
}
if (command.kind === 'error') {
  process.stderr.write(`bench: ${command.message}\n\n${BENCH_USAGE}`);
  process.exit(2);
}
const { args } = command;

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`bench: --${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const ops = positiveInt('ops', args.ops);
const lanes = positiveInt('lanes', args.lanes);
const rounds = positiveInt('rounds', args.rounds);
const suite = args.suite;
const SUITES = ['all', 'store', 'cluster', 'resilience', 'http', 'telemetry', 'sweep', 'script'];
if (!SUITES.includes(suite)) {
  console.error(`bench: --suite must be one of ${SUITES.join(', ')}, got ${JSON.stringify(suite)}`);
  process.exit(2);
}

async function storeSuite(): Promise<Record<string, unknown>> {
  let servers: RedisServerHandle[];
  let url = process.env['REDIS_URL'];
  let lockUrls: string[];
  if (url === undefined) {
    servers = await startRedisNodes(3);
    const [main, ...locks] = servers;
    if (main === undefined) throw new Error('no redis-server');
    url = main.url;
    lockUrls = locks.map((s) => s.url);
  } else {
    const extra = await startRedisNodes(2);
    servers = extra;
    lockUrls = extra.map((s) => s.url);
  }
  console.log(
    `bench: ${ops} ops per scenario per round, ${lanes} in flight, ${rounds} rounds (median), ` +
      `session ≈ ${fixtureBytes()} B JSON, Redis ${url}; Node ${process.version}`,
  );
  console.log(
    'bench: connect-redis 11 supports only node-redis, so its client here is node-redis 5 (`redis`).',
  );

  const bench = await createStoreBench({ url, lockUrls, lanes });
  try {
    return await runScenarioRounds(bench.scenarios, BARS);
  } finally {
    await bench.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/**
 * Run the scenarios `--only` selects, rounds interleaved (drift in machine
 * load hits all of them alike), then print and return the medians and the
 * ratios of `bars`.
 */
async function runScenarioRounds(
  scenarios: readonly Scenario[],
  bars: readonly Bar[],
): Promise<Record<string, unknown>> {
  const selected = scenarios.filter((s) => args.only === undefined || s.name.includes(args.only));
  const results = new Map<string, LoadResult[]>();
  for (let round = 1; round <= rounds; round += 1) {
    for (const scenario of selected) {
      const n = Math.max(200, Math.round(ops * (scenario.opsFactor ?? 1)));
      const result = await runLoad(scenario.op, { ops: n, concurrency: lanes });
      results.set(scenario.name, [...(results.get(scenario.name) ?? []), result]);
      process.stderr.write(
        `  round ${round}/${rounds} ${scenario.name}: ${Math.round(result.opsPerSec)} ops/s` +
          `${result.errors > 0 ? ` (${result.errors} errors: ${result.firstError ?? ''})` : ''}\n`,
      );
    }
  }
  const summary = [...results].map(([name, runs]) => ({
    scenario: name,
    opsPerSec: Math.round(median(runs.map((r) => r.opsPerSec))),
    p50Ms: Number(median(runs.map((r) => r.p50Ms)).toFixed(3)),
    p99Ms: Number(median(runs.map((r) => r.p99Ms)).toFixed(3)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  }));
  console.log('\nThroughput (median of rounds)');
  console.table(summary);
  const rates = new Map([...results].map(([name, runs]) => [name, runs.map((r) => r.opsPerSec)]));
  return { summary, ratios: reportRatios('Ratios', rates, bars), bars };
}

/** The instance cache and the write path on a 3-master Redis Cluster of private redis-servers. */
async function clusterSuite(): Promise<Record<string, unknown>> {
  const cluster = await startRedisCluster({ masters: 3 });
  console.log(
    `\nCluster: ${ops} ops per scenario per round, ${lanes} in flight, ${rounds} rounds (median), ` +
      `3 masters (ports ${cluster.startupNodes.map((n) => n.port).join(', ')}); Node ${process.version}`,
  );
  try {
    const bench = await createClusterStoreBench({ startupNodes: cluster.startupNodes, lanes });
    try {
      return await runScenarioRounds(bench.scenarios, CLUSTER_RATIOS);
    } finally {
      await bench.close();
    }
  } finally {
    await cluster.stop();
  }
}

async function resilienceSuite(): Promise<Record<string, unknown>> {
  console.log('\nResilience (each on its own private redis-server)');
  const overhead = await measureManagerOverhead({ ops, lanes, rounds: Math.max(rounds, 9) });
  console.log(`  manager.get ÷ RedisStore.load: ${overhead.ratio} (bar ≥ 0.9)`, overhead);
  const failover = await measureFailover({ lanes: 16 });
  console.log('  failover, first second after SIGKILL (bar: p99 ≤ 250 ms, 0 failures):', failover);
  const reconcile = await measureReconcile({ sessions: 10_000, rounds: 3 });
  console.log('  reconcile 10 000 degraded sessions (bar ≤ 2000 ms):', reconcile);
  return { overhead, failover, reconcile };
}

/** Express + session middleware over HTTP (Express issue bars), on a private redis-server. */
async function httpSuite(): Promise<Record<string, unknown>> {
  const server = process.env['REDIS_URL'] === undefined ? await startRedisServer() : undefined;
  try {
    return await runHttpSuite({
      redisUrl: server?.url ?? process.env['REDIS_URL'] ?? '',
      seconds: positiveInt('http-seconds', args['http-seconds']),
      connections: positiveInt('connections', args.connections),
      rounds,
      only: args.only,
    });
  } finally {
    await server?.stop();
  }
}

/** Cost of OpenTelemetry on manager get/update: off vs on without an SDK vs SDK exporting. */
async function telemetrySuite(): Promise<Record<string, unknown>> {
  console.log('\nTelemetry (worker processes on one private redis-server, local OTLP endpoint)');
  // Half a second of `off` per measured get run, 1.5 s per update run: at
  // ~2 µs a cached get, the 20 000 operations of `--ops` alone last ~50 ms,
  // a window where one export or GC pause moves a ratio by 0.2; an update
  // waits on Redis, and its rate swings more from window to window.
  // Nine rounds at least: a round's ratio swings by 5–10 % (an A/A pair
  // read 0.91–1.20 round by round on 2026-12-07), and the bars sit 2–10 %
  // from 1; the median of five left the A/A pair 0.96–1.04 run to run.
  const result = await measureTelemetryOverhead({
    ops,
    lanes,
    rounds: Math.max(rounds, 9),
    windowMs: { get: 500, update: 1_500 },
  });
  for (const scenario of ['get', 'update'] as const) {
    console.log(
      `  manager.${scenario} (ratios ÷ telemetry off, same run; bars: no SDK ≥ 0.98, ` +
        `10 % sampled ≥ 0.9, every trace ≥ ${scenario === 'get' ? '0.5' : '0.7'})`,
    );
    if (scenario === 'get' && result.cachedReadSpans === 'in-trace') {
      console.log(
        "  (cachedReadSpans 'in-trace': these gets, outside any span and answered by the " +
          'instance cache, make no span in sdk / sdk-sampled; sdk-in-trace makes one per get)',
      );
    }
    const figures = result[scenario];
    // The per-round ratios as their spread: the JSON keeps them whole.
    console.table(
      Object.fromEntries(
        Object.entries(figures).map(([variant, { perRound, ...rest }]) => [
          variant,
          { ...rest, rounds: `${Math.min(...perRound)}–${Math.max(...perRound)}` },
        ]),
      ),
    );
    const spans = Object.entries(result.spansByVariant[scenario])
      .filter(([, counts]) => counts.ended > 0)
      .map(([variant, counts]) => `${variant} ${counts.exported} of ${counts.ended}`);
    console.log(`  spans exported of those ended, measured rounds: ${spans.join(', ')}`);
    console.log(
      `  10 % sampled: ours ${figures['sdk-sampled'].throughputRatio}, the floor of any ` +
        `instrumentation (one span + one histogram sample per operation, sdk-floor) ` +
        `${figures['sdk-floor'].throughputRatio}`,
    );
  }
  console.log(
    `  operations per measured run: get ${result.opsPerRun.get}, update ${result.opsPerRun.update} ` +
      '(as many as off does in 500 ms / 1.5 s, after a warm-up round that is not counted)',
  );
  console.log(
    `  spans ended ${result.spans.ended}, exported ${result.spans.exported} ` +
      `(${result.exportRequests} OTLP requests, ${result.exportedBytes} bytes, ${result.otlpProtocol})`,
  );
  return { ...result };
}

/** Redis µs per one-key patch, the shipped script against variants with steps cut out. */
async function scriptSuite(): Promise<Record<string, unknown>> {
  console.log('\nPatch script cost (one private redis-server, INFO commandstats)');
  const result = await measurePatchScriptCost({ sessions: 400, rounds: 30, passes: rounds });
  const [shipped] = result.variants;
  console.log(
    `  ${result.sessions} sessions of 4 keys, one-key patches in batches of ${result.callsPerBatch}, ` +
      `median of ${rounds} alternating passes; Redis µs per call:`,
  );
  console.table(
    result.variants.map(({ name, microsPerCall }) => ({
      variant: name,
      microsPerCall,
      '÷ shipped':
        shipped === undefined
          ? 1
          : Math.round((microsPerCall / shipped.microsPerCall) * 1000) / 1000,
    })),
  );
  return { ...result };
}

async function main(): Promise<void> {
  const json: Record<string, unknown> = { node: process.version, ops, lanes, rounds };
  if (suite === 'all' || suite === 'store') json['store'] = await storeSuite();
  if (suite === 'all' || suite === 'cluster') json['cluster'] = await clusterSuite();
  if (suite === 'all' || suite === 'resilience') json['resilience'] = await resilienceSuite();
  if (suite === 'all' || suite === 'http') json['http'] = await httpSuite();
  if (suite === 'all' || suite === 'telemetry') json['telemetry'] = await telemetrySuite();
  if (suite === 'all' || suite === 'sweep') {
    json['sweep'] = await runSweepSuite({
      sessions: positiveInt('sweep-sessions', args['sweep-sessions']),
    });
  }
  if (suite === 'all' || suite === 'script') json['script'] = await scriptSuite();
  console.log(JSON.stringify(json));
  if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify(json, null, 2)}\n`);
}

await main();
