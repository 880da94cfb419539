import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@session-cluster/testkit';
import { median, rotated } from './load-runner.js';
import { PROCESS_OF } from './telemetry-protocol.js';
import type {
  TelemetryProcess,
  TelemetryVariant,
  WorkerCommand,
  WorkerReply,
} from './telemetry-protocol.js';

/** What an OTLP sink received. */
interface SinkCounts {
  requests: number;
  bytes: number;
  /**
   * Spans, counted by their `"spanId":"` keys (links add a few; close enough
   * to see drops); OTLP/JSON only (0 with protobuf).
   */
  spans: number;
}

/**
 * Spans in an OTLP/protobuf export, without decoding it: a Span opens with
 * its trace_id (field 1, 16 bytes: 0x0a 0x10 …) then its span_id (field 2,
 * 8 bytes: 0x12 0x08 …). (A link has the same two fields; the benchmarked
 * operations make none.)
 */
function protobufSpans(body: Buffer): number {
  let spans = 0;
  for (let i = body.indexOf(0x0a); i >= 0 && i + 19 < body.length; i = body.indexOf(0x0a, i + 1)) {
    if (body[i + 1] === 0x10 && body[i + 18] === 0x12 && body[i + 19] === 0x08) {
      spans += 1;
      i += 27;
    }
  }
  return spans;
}

/**
 * The cheapest OTLP/HTTP endpoint that still takes every export (reads the
 * body, answers 200): it stands in for Jaeger without competing with the
 * measured process for CPU the way a decoding receiver would.
 */
async function startOtlpSink(): Promise<{
  url: string;
  counts: SinkCounts;
  close(): Promise<void>;
}> {
  const counts: SinkCounts = { requests: 0, bytes: 0, spans: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      counts.requests += 1;
      counts.bytes += body.length;
      if (request.url === '/v1/traces') {
        counts.spans += (request.headers['content-type'] ?? '').includes('protobuf')
          ? protobufSpans(body)
          : body.toString('latin1').split('"spanId":"').length - 1;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('sink has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

interface Worker {
  readonly kind: TelemetryProcess;
  readonly child: ChildProcess;
  next(): Promise<WorkerReply>;
  send(command: WorkerCommand): void;
}

async function startWorker(kind: TelemetryProcess, env: Record<string, string>): Promise<Worker> {
  const script = fileURLToPath(new URL('./telemetry-worker.js', import.meta.url));
  const child = fork(script, [], {
    execArgv: kind === 'plain' ? [] : ['--import', '@session-cluster/telemetry/register'],
    cwd: fileURLToPath(new URL('../', import.meta.url)),
    env: { ...process.env, ...env, BENCH_TELEMETRY_PROCESS: kind },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: WorkerReply[] = [];
  const waiting: ((reply: WorkerReply) => void)[] = [];
  child.on('message', (reply: WorkerReply) => {
    const waiter = waiting.shift();
    if (waiter === undefined) inbox.push(reply);
    else waiter(reply);
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`telemetry worker ${kind} exited with ${String(code)}`);
  });
  exited.catch(() => undefined);
  const worker: Worker = {
    kind,
    child,
    next: () => {
      const queued = inbox.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return Promise.race([new Promise<WorkerReply>((resolve) => waiting.push(resolve)), exited]);
    },
    send: (command) => {
      child.send(command);
    },
  };
  const ready = await worker.next();
  if (ready.type !== 'ready') throw new Error(`worker ${kind}: expected ready`);
  return worker;
}

/** One variant's figures in one scenario: medians over rounds. */
export interface VariantFigures {
  readonly opsPerSec: number;
  /** Process CPU time per operation, µs (less sensitive to a busy machine than throughput). */
  readonly cpuMicrosPerOp: number;
  /** Median of per-round `ops/s ÷ off's ops/s`: the figure the bars are about. */
  readonly throughputRatio: number;
  /** Those per-round ratios, in round order: their spread is the run's noise (`no-sdk` is an A/A pair). */
  readonly perRound: readonly number[];
  /** Median of per-round `off's CPU per op ÷ this CPU per op` (same direction as throughput). */
  readonly cpuRatio: number;
}

/** Spans a variant's runs ended, and how many of them reached the OTLP endpoint. */
export interface SpanCounts {
  readonly ended: number;
  readonly exported: number;
}

/** What {@link measureTelemetryOverhead} reports. */
export interface TelemetryOverheadResult {
  readonly get: Readonly<Record<TelemetryVariant, VariantFigures>>;
  readonly update: Readonly<Record<TelemetryVariant, VariantFigures>>;
  /** Operations in each measured run, per scenario (sized from the warm-up round's `off` rate). */
  readonly opsPerRun: { readonly get: number; readonly update: number };
  /** Spans the `sdk` worker ended (`sdk` and `sdk-in-trace`), and spans that reached the OTLP endpoint (all variants). */
  readonly spans: { readonly ended: number; readonly exported: number };
  /**
   * Per scenario and variant, over the measured rounds: spans the SDK
   * recorded (ended) and spans that reached the OTLP endpoint. A variant
   * that ended more than it exported had its batch processor drop spans
   * (queue full), so its figure leaves that export cost out.
   */
  readonly spansByVariant: Readonly<
    Record<'get' | 'update', Partial<Record<TelemetryVariant, SpanCounts>>>
  >;
  readonly exportRequests: number;
  readonly exportedBytes: number;
  /** The OTLP encoding the SDK processes exported in. */
  readonly otlpProtocol: string;
  /**
   * The SDK processes' `cachedReadSpans`: with `in-trace` (default) the
   * `get` scenario's cached reads, made outside any span, get no span in
   * `sdk` and `sdk-sampled`; `sdk-in-trace` is what a span per cached read
   * costs.
   */
  readonly cachedReadSpans: string;
  /**
   * Bars (throughput ÷ off): `no-sdk` ≥ 0.98, `sdk-sampled` ≥ 0.9, `sdk` ≥ 0.5
   * for get and ≥ 0.7 for update.
   */
  readonly bars: {
    readonly noSdk: number;
    readonly sdkSampled: number;
    readonly sdkGet: number;
    readonly sdkUpdate: number;
  };
}

const VARIANTS: readonly TelemetryVariant[] = [
  'off',
  'no-sdk',
  'sdk',
  'sdk-in-trace',
  'sdk-sampled',
  'sdk-floor',
  'sdk-unsampled',
  'sdk-bare',
];

/** The variants run in one worker process, compared in alternating slices (see the round loop). */
type Pair = readonly [TelemetryVariant, TelemetryVariant];
const PAIRS: readonly Pair[] = [
  ['off', 'no-sdk'],
  ['sdk', 'sdk-in-trace'],
  ['sdk-sampled', 'sdk-floor'],
  ['sdk-unsampled', 'sdk-bare'],
];
/** Slices of each variant per visit of its pair: each does a `1/SLICES` share of a run's operations. */
const SLICES = 4;
/** Rounds one set of worker processes measures before a fresh set replaces it. */
const ROUNDS_PER_GENERATION = 3;

interface Run {
  readonly opsPerSec: number;
  readonly cpuMicrosPerOp: number;
}

/**
 * A round's runs of one variant as one run: they did the same number of
 * operations each, so its rate is their total over their total time (the
 * harmonic mean of the rates) and its CPU per operation their mean.
 */
function meanRun(runs: readonly Run[]): Run {
  const sum = (pick: (run: Run) => number): number =>
    runs.reduce((total, run) => total + pick(run), 0);
  return {
    opsPerSec: runs.length / sum((run) => 1 / run.opsPerSec),
    cpuMicrosPerOp: sum((run) => run.cpuMicrosPerOp) / runs.length,
  };
}

/**
 * Cost of telemetry on `manager.get` and `manager.update` through the full
 * stack (`createSessionCluster`: Redis store, Redlock, fallback, health),
 * four processes on one private redis-server: telemetry off; on with no
 * SDK; on with the SDK exporting every trace (batch processor) and metrics
 * over OTLP/HTTP to a local endpoint, the operations made outside any span
 * (`sdk`: with `cachedReadSpans: 'in-trace'` a cached `get` is then counted,
 * not traced) and inside one recording parent span (`sdk-in-trace`: every
 * `get` a recorded, exported span); the same with 10 % head sampling, and
 * in that process the floor of any instrumentation at that sampling
 * (`sdk-floor`: our telemetry off, one hand-made span and histogram sample
 * per operation); the
 * same with no trace sampled; and in that process, a cluster with
 * `telemetry: false` (the SDK's own floor: its context manager and
 * metrics, none of our spans or metrics). A warm-up round of every variant is
 * thrown away and sizes the runs; every three rounds the four processes are
 * replaced by fresh ones (warmed up again); a round visits each process twice, in a
 * rotating order and its mirror, and runs its two variants in alternating
 * slices, so machine load hits all alike; ratios are taken per round.
 */
export async function measureTelemetryOverhead(options: {
  readonly ops: number;
  readonly lanes: number;
  readonly rounds: number;
  /** Target length of one measured run of `off`, ms, per scenario; every variant does as many operations. */
  readonly windowMs: Readonly<Record<'get' | 'update', number>>;
}): Promise<TelemetryOverheadResult> {
  const [server, sink] = await Promise.all([startRedisServer(), startOtlpSink()]);
  const workers = new Map<TelemetryProcess, Worker>();
  try {
    const results = {} as Record<'get' | 'update', Record<TelemetryVariant, Run[]>>;
    let spansEnded = 0;
    const measuredOps = { get: 0, update: 0 };
    const spansByVariant = { get: {}, update: {} } as Record<
      'get' | 'update',
      Partial<Record<TelemetryVariant, SpanCounts>>
    >;
    /** Each worker's `spansEnded` at its last reply (the count is per process, cumulative). */
    const endedSoFar = new Map<TelemetryProcess, number>();
    // Fresh worker processes for each scenario: one scenario must not leave
    // its state to the next. Alternating sdk-sampled and sdk-floor in one
    // process, the two ran updates at the same cost, unless the `get`
    // scenario had run there first (then 77.9 against 63.6 µs).
    const startWorkers = async (): Promise<void> => {
      endedSoFar.clear();
      for (const kind of ['plain', 'sdk', 'sdk-sampled', 'sdk-unsampled'] as const) {
        workers.set(
          kind,
          await startWorker(kind, {
            REDIS_URL: server.url,
            BENCH_OTLP_SINK: sink.url,
            // Compare encodings and batch sizes with BENCH_OTLP_PROTOCOL / OTEL_BSP_* (README).
            OTEL_EXPORTER_OTLP_PROTOCOL: process.env['BENCH_OTLP_PROTOCOL'] ?? 'http/protobuf',
            ...(kind === 'sdk-unsampled' ? { OTEL_TRACES_SAMPLER: 'always_off' } : {}),
          }),
        );
      }
    };
    const stopWorkers = async (): Promise<void> => {
      for (const worker of workers.values()) {
        worker.send({ type: 'exit' });
        const closed = await worker.next();
        if (closed.type === 'closed' && worker.kind === 'sdk') spansEnded += closed.spansEnded;
      }
      workers.clear();
    };
    for (const scenario of ['get', 'update'] as const) {
      await startWorkers();
      const perVariant: Record<TelemetryVariant, Run[]> = {
        off: [],
        'no-sdk': [],
        sdk: [],
        'sdk-in-trace': [],
        'sdk-sampled': [],
        'sdk-floor': [],
        'sdk-unsampled': [],
        'sdk-bare': [],
      };
      results[scenario] = perVariant;
      const runVariant = async (
        variant: TelemetryVariant,
        ops: number,
        label: string,
      ): Promise<WorkerReply & { type: 'result' }> => {
        const worker = workers.get(PROCESS_OF[variant]);
        if (worker === undefined) throw new Error(`no worker for ${variant}`);
        const exportedBefore = sink.counts.spans;
        worker.send({ type: 'run', variant, scenario, ops, lanes: options.lanes });
        const reply = await worker.next();
        if (reply.type !== 'result') throw new Error(`worker ${variant}: expected result`);
        // The worker flushed before it replied, and runs are one at a time:
        // what the endpoint got meanwhile is this run's.
        const ended = reply.spansEnded - (endedSoFar.get(worker.kind) ?? 0);
        endedSoFar.set(worker.kind, reply.spansEnded);
        if (label !== 'warm-up') {
          const counts = spansByVariant[scenario][variant] ?? { ended: 0, exported: 0 };
          spansByVariant[scenario][variant] = {
            ended: counts.ended + ended,
            exported: counts.exported + sink.counts.spans - exportedBefore,
          };
        }
        if (reply.errors > 0) throw new Error(`worker ${variant}: ${reply.errors} errors`);
        process.stderr.write(
          `  ${label} ${scenario} telemetry ${variant}: ${ops} ops, ` +
            `${Math.round(reply.opsPerSec)} ops/s, ${reply.cpuMicrosPerOp.toFixed(1)} µs CPU/op\n`,
        );
        return reply;
      };
      // Warm-up round, thrown away: a process's first runs of a scenario
      // measure its JIT and its SDK's first exports (10–15 µs per cached read
      // against 3–4 later), not its steady state. It also sizes the measured
      // runs: every variant then does the same number of operations, as many
      // as `off` does in `windowMs`, so a window is long enough for the
      // sampler's 10 % and the batch processor's exports to average out.
      const warmupOps =
        scenario === 'get' ? options.ops : Math.max(500, Math.round(options.ops / 4));
      const warmUp = async (): Promise<number> => {
        let offRate = 0;
        for (const variant of VARIANTS) {
          const reply = await runVariant(variant, warmupOps, 'warm-up');
          if (variant === 'off') offRate = reply.opsPerSec;
        }
        return offRate;
      };
      const offRate = await warmUp();
      const ops = Math.max(warmupOps, Math.round((offRate * options.windowMs[scenario]) / 1_000));
      measuredOps[scenario] = ops;
      for (let round = 1; round <= options.rounds; round += 1) {
        // A new set of processes every ROUNDS_PER_GENERATION rounds. A
        // process keeps a speed of its own for its whole life: two variants
        // sharing one moved together while the other processes held (run 3
        // of 2026-12-07 12:32: sdk-bare, telemetry off, read 0.897 of off
        // at 47.0 µs per update against 36.4, beside its process mate
        // sdk-unsampled at 0.841), so with one process per pair for all
        // rounds, a slow process sank its variant in every round. Fresh
        // processes make that draw once per generation, and the median
        // over rounds sees it as the noise it is.
        if (round > 1 && (round - 1) % ROUNDS_PER_GENERATION === 0) {
          await stopWorkers();
          await startWorkers();
          await warmUp();
        }
        // A round visits each process's pair of variants in an order and then
        // in its mirror (P1 P2 P3 P4 P4 P3 P2 P1), the order rotating from
        // round to round, so each pair's two visits fall early and late
        // alike. In a visit the pair's two variants run in alternating
        // slices (ABBAAB…, B first in the mirror): two variants compared in
        // one process (no-sdk and off run the same code when nothing
        // subscribes) then share the machine's drift, which moved whole
        // runs seconds apart by up to a quarter (A/A pairs read 0.90 with
        // equal median rates). Each variant's figure in a round is over all
        // its slices.
        const order = rotated(PAIRS, round);
        const slices = new Map<TelemetryVariant, Run[]>();
        const label = `round ${round}/${options.rounds}`;
        for (const [visit, [first, second]] of [...order, ...[...order].reverse()].entries()) {
          const pair = visit < order.length ? [first, second] : [second, first];
          for (let slice = 0; slice < SLICES; slice += 1) {
            const turn = slice % 2 === 0 ? pair : [...pair].reverse();
            for (const variant of turn) {
              const run = await runVariant(variant, Math.ceil(ops / SLICES), label);
              slices.set(variant, [...(slices.get(variant) ?? []), run]);
            }
          }
        }
        for (const [variant, runs] of slices) perVariant[variant].push(meanRun(runs));
      }
      await stopWorkers();
    }
    const summarise = (
      runs: Record<TelemetryVariant, Run[]>,
    ): Record<TelemetryVariant, VariantFigures> => {
      const figures = {} as Record<TelemetryVariant, VariantFigures>;
      for (const variant of VARIANTS) {
        const mine = runs[variant];
        const perRound = (pick: (run: Run, off: Run) => number): number[] =>
          mine.map((run, i) => {
            const off = runs.off[i];
            return Number((off === undefined ? Number.NaN : pick(run, off)).toFixed(3));
          });
        const throughput = perRound((run, off) => run.opsPerSec / off.opsPerSec);
        figures[variant] = {
          opsPerSec: Math.round(median(mine.map((run) => run.opsPerSec))),
          cpuMicrosPerOp: Number(median(mine.map((run) => run.cpuMicrosPerOp)).toFixed(1)),
          throughputRatio: Number(median(throughput).toFixed(3)),
          perRound: throughput,
          cpuRatio: Number(
            median(perRound((run, off) => off.cpuMicrosPerOp / run.cpuMicrosPerOp)).toFixed(3),
          ),
        };
      }
      return figures;
    };
    return {
      get: summarise(results.get),
      update: summarise(results.update),
      opsPerRun: measuredOps,
      spans: { ended: spansEnded, exported: sink.counts.spans },
      spansByVariant,
      exportRequests: sink.counts.requests,
      exportedBytes: sink.counts.bytes,
      otlpProtocol: process.env['BENCH_OTLP_PROTOCOL'] ?? 'http/protobuf',
      cachedReadSpans: process.env['BENCH_CACHED_READ_SPANS'] ?? 'in-trace',
      bars: { noSdk: 0.98, sdkSampled: 0.9, sdkGet: 0.5, sdkUpdate: 0.7 },
    };
  } finally {
    for (const worker of workers.values()) if (worker.child.exitCode === null) worker.child.kill();
    await sink.close();
    await server.stop();
  }
}
