/**
 * A process of the telemetry benchmark, with the shape it would have in
 * production. `BENCH_TELEMETRY_PROCESS`:
 * - `plain`: no SDK; two session clusters, variant `off` (`telemetry:
 *   false`) and `no-sdk` (telemetry on, no SDK registered: the API is a
 *   no-op), measured alternately in one process so their comparison is
 *   not blurred by differences between processes;
 * - `sdk`: `startTelemetry` with OTLP export through the batch processor
 *   and OTLP metrics, every trace sampled, the default instrumentations
 *   (http, express; ioredis off) and `cachedReadSpans` (`'in-trace'`, or
 *   `BENCH_CACHED_READ_SPANS`) (started with `--import
 *   @session-cluster/telemetry/register`); a `get` outside any span that the
 *   instance cache answers is then counted, not traced. It also runs
 *   variant `sdk-in-trace`: every operation inside one recording parent
 *   span (a traced request's situation), so every `get` is a recorded,
 *   exported span;
 * - `sdk-sampled`: the same with head sampling at `SAMPLED_RATIO`; it
 *   also runs variant `sdk-floor`: a cluster with `telemetry: false` whose
 *   every operation is wrapped by the least an OpenTelemetry
 *   instrumentation of it does (a span the sampler decides on, two
 *   attributes when it records, one histogram sample);
 * - `sdk-unsampled`: the same with no trace sampled (`OTEL_TRACES_SAMPLER=always_off`,
 *   set by the benchmark): the floor of the `sdk` variants, what the SDK costs
 *   before a single span is recorded (its AsyncLocalStorage context manager,
 *   the ioredis instrumentation's wrappers, metrics); it also runs variant
 *   `sdk-bare`, a cluster with `telemetry: false` under that SDK: what the
 *   SDK and the ioredis instrumentation cost with none of our telemetry.
 *
 * Talks to the benchmark over IPC: `{ type: 'run', variant, scenario, ops,
 * lanes }` → `{ type: 'result', … }`; `{ type: 'exit' }` closes everything
 * (flushing telemetry) and exits.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import type { CachedReadSpans, Telemetry } from '@session-cluster/telemetry';
import { SAMPLED_RATIO } from './telemetry-protocol.js';
import type {
  TelemetryProcess,
  TelemetryVariant,
  WorkerCommand,
  WorkerReply,
} from './telemetry-protocol.js';

const kind = process.env['BENCH_TELEMETRY_PROCESS'] as TelemetryProcess | undefined;
const redisUrl = process.env['REDIS_URL'];
const sinkUrl = process.env['BENCH_OTLP_SINK'];
if (kind === undefined || redisUrl === undefined || sinkUrl === undefined) {
  throw new Error('BENCH_TELEMETRY_PROCESS, REDIS_URL and BENCH_OTLP_SINK are required');
}

const cachedReadSpans = process.env['BENCH_CACHED_READ_SPANS'] as CachedReadSpans | undefined;
let spansEnded = 0;
let telemetry: Telemetry | undefined;
if (kind !== 'plain') {
  // Telemetry first: ioredis must be patched before session-cluster loads it.
  const { startTelemetry } = await import('@session-cluster/telemetry');
  telemetry = startTelemetry({
    serviceName: 'bench',
    otlpEndpoint: sinkUrl,
    otlpMetrics: true,
    metricIntervalMs: 5_000,
    logLevel: 'warn',
    ...(kind === 'sdk-sampled' ? { sampleRatio: SAMPLED_RATIO } : {}),
    ...(cachedReadSpans === undefined ? {} : { cachedReadSpans }),
    spanProcessors: [
      {
        onStart: () => undefined,
        onEnd: () => {
          spansEnded += 1;
        },
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
    ],
  });
}

const { createSessionCluster } = await import('session-cluster');
const { runLoad } = await import('./load-runner.js');
const { sessionFixture } = await import('./session-fixture.js');

const VARIANTS_OF: Readonly<Record<TelemetryProcess, readonly TelemetryVariant[]>> = {
  plain: ['off', 'no-sdk'],
  sdk: ['sdk', 'sdk-in-trace'],
  'sdk-sampled': ['sdk-sampled', 'sdk-floor'],
  'sdk-unsampled': ['sdk-unsampled', 'sdk-bare'],
};
const variants = VARIANTS_OF[kind];
const clusters = new Map(
  variants.map((variant) => [
    variant,
    createSessionCluster({
      redis: { url: redisUrl },
      prefix: `bt${process.pid}${variant}`,
      telemetry:
        variant === 'off' || variant === 'sdk-bare' || variant === 'sdk-floor' ? false : {},
    }),
  ]),
);

const floorTracer = trace.getTracer('bench-floor');
const floorDuration = metrics
  .getMeter('bench-floor')
  .createHistogram('bench.floor.duration', { unit: 's' });

/**
 * `sdk-floor`: `work` inside the least an instrumentation of one session
 * operation does with the SDK: a root span (sampled or not), its operation
 * and outcome when it records, and the latency histogram.
 */
async function instrumented<T>(operation: 'get' | 'update', work: () => Promise<T>): Promise<T> {
  const span = floorTracer.startSpan(operation === 'get' ? 'session.get' : 'session.update');
  const started = performance.now();
  const result = await work();
  const attributes = FLOOR_ATTRIBUTES[operation];
  floorDuration.record((performance.now() - started) / 1000, attributes);
  if (span.isRecording()) {
    span.setAttribute('session.operation', operation);
    span.setAttribute('session.outcome', 'ok');
  }
  span.end();
  return result;
}
const FLOOR_ATTRIBUTES = {
  get: Object.freeze({ 'session.operation': 'get', 'session.outcome': 'ok' }),
  update: Object.freeze({ 'session.operation': 'update', 'session.outcome': 'ok' }),
};

/** Export the spans the tracer provider holds (none without the SDK). */
async function flushSpans(): Promise<void> {
  const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const delegate = provider.getDelegate?.() as { forceFlush?: () => Promise<void> } | undefined;
  await delegate?.forceFlush?.();
}

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

async function run(
  variant: TelemetryVariant,
  scenario: 'get' | 'update',
  ops: number,
  lanes: number,
): Promise<void> {
  const cluster = clusters.get(variant);
  if (cluster === undefined) throw new Error(`no ${variant} cluster in a ${kind} process`);
  const { manager } = cluster;
  const ids = await Promise.all(
    Array.from(
      { length: lanes },
      async (_, i) => (await manager.create({ data: sessionFixture(i) })).id,
    ),
  );
  const id = (slot: number): string => ids[slot % ids.length] ?? '';
  const operation =
    scenario === 'get'
      ? (slot: number) => manager.get(id(slot))
      : (slot: number) =>
          manager.update(id(slot), (data) => {
            data['visits'] = Number(data['visits']) + 1;
            return data;
          });
  // A fifth more first, thrown away: the process sat idle while the others
  // ran, and runLoad's default (at most 2 000, ~2 ms of cached gets) leaves
  // its first milliseconds in the window.
  const warmupOps = Math.ceil(ops / 5);
  const load = (): ReturnType<typeof runLoad> =>
    runLoad(
      variant === 'sdk-floor' ? (slot) => instrumented(scenario, () => operation(slot)) : operation,
      { ops, concurrency: lanes, warmupOps },
    );
  const cpu = process.cpuUsage();
  let result: Awaited<ReturnType<typeof runLoad>>;
  if (variant === 'sdk-in-trace') {
    // One parent for the whole run: its own cost is not in the figures; the
    // lanes start inside it, so every operation is its child.
    const parent = trace.getTracer('bench').startSpan('bench.request');
    result = await context.with(trace.setSpan(context.active(), parent), load);
    parent.end();
  } else {
    result = await load();
  }
  // Export the spans this run left queued now, charged to this run: its
  // time and CPU count, so a variant pays for the spans it made (a batch
  // left queued would otherwise be exported in this process's next
  // variant's window or never timed at all, and the SDK variants would read
  // cheaper than an app that exports what it records). The metrics' export,
  // every 5 s in an app (metricIntervalMs), is flushed after the timing.
  const flushStarted = performance.now();
  await flushSpans();
  const flushMs = performance.now() - flushStarted;
  const used = process.cpuUsage(cpu);
  await telemetry?.flush();
  // The flush exports the warm-up's spans too: the measured operations' share of it.
  const measuredFlushMs = (flushMs * ops) / (ops + warmupOps);
  send({
    type: 'result',
    opsPerSec: (ops / (result.durationMs + measuredFlushMs)) * 1_000,
    // The warm-up's fifth is in the CPU time too.
    cpuMicrosPerOp: (used.user + used.system) / (ops + warmupOps),
    errors: result.errors,
    spansEnded,
  });
}

process.on('message', (message: WorkerCommand) => {
  if (message.type === 'run') {
    run(message.variant, message.scenario, message.ops, message.lanes).catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
    return;
  }
  void (async () => {
    await Promise.all([...clusters.values()].map((cluster) => cluster.close()));
    await telemetry?.shutdown();
    send({ type: 'closed', spansEnded });
    process.disconnect();
  })();
});

send({ type: 'ready' });
