import { ROOT_CONTEXT, context, propagation, trace } from '@opentelemetry/api';
import type {
  Context,
  Span,
  TextMapGetter,
  TextMapPropagator,
  TextMapSetter,
} from '@opentelemetry/api';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ManualClock, SESSION_CHANNELS } from '@session-cluster/core';
import type { SweepMessage, SweepOutcome } from '@session-cluster/core';
import { RedisKeys, RedisStore } from '@session-cluster/store-redis';
import { AsyncLocalContextManager, startRedisServer } from '@session-cluster/testkit';
import type { RedisServerHandle } from '@session-cluster/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeExpiredSessions } from './expired-sessions-consumer.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { createSessions, testClient, testPrefix, waitFor } from './sweeper-harness.test-helpers.js';

/**
 * W3C `traceparent` only: what an SDK's default propagator does for this
 * test (the sweeper package does not depend on @opentelemetry/core).
 */
class TraceparentPropagator implements TextMapPropagator {
  public inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpanContext(ctx);
    if (span === undefined) return;
    const flags = span.traceFlags.toString(16).padStart(2, '0');
    setter.set(carrier, 'traceparent', `00-${span.traceId}-${span.spanId}-${flags}`);
  }

  public extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = getter.get(carrier, 'traceparent');
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(
      typeof header === 'string' ? header : '',
    );
    if (match === null) return ctx;
    return trace.setSpanContext(ctx, {
      traceId: match[1]!,
      spanId: match[2]!,
      traceFlags: Number.parseInt(match[3]!, 16),
      isRemote: true,
    });
  }

  public fields(): string[] {
    return ['traceparent'];
  }
}

describe('ExpirySweeper publishes each job on session-cluster:sweep (real SDK, real BullMQ)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('test');
  const contextManager = new AsyncLocalContextManager(ROOT_CONTEXT);
  const ended: SweepMessage[] = [];
  const spans = new Map<SweepMessage, Span>();
  // What a subscriber such as @session-cluster/telemetry does: a span per
  // job, active while the job runs (so BullMQOtel carries it into the event jobs).
  const onEnd = (message: unknown): void => {
    ended.push(message as SweepMessage);
    spans.get(message as SweepMessage)?.end();
  };
  let server: RedisServerHandle;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager);
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new TraceparentPropagator());
    SESSION_CHANNELS.sweep.start.bindStore(contextManager.storage, (message) => {
      const span = tracer.startSpan('sweep-job');
      spans.set(message, span);
      return trace.setSpan(context.active(), span);
    });
    SESSION_CHANNELS.sweep.asyncEnd.subscribe(onEnd);
    server = await startRedisServer();
  });
  afterAll(async () => {
    SESSION_CHANNELS.sweep.start.unbindStore(contextManager.storage);
    SESSION_CHANNELS.sweep.asyncEnd.unsubscribe(onEnd);
    await server.stop();
    await provider.shutdown();
    context.disable();
    trace.disable();
    propagation.disable();
  });

  it('publishes a traced call per job (bucket, queue, report) and a span made active there reaches the batch job and its handler calls', async () => {
    const store = new RedisStore({
      connection: { url: server.url },
      prefix: testPrefix(),
      buckets: 2,
    });
    const sweeper = new ExpirySweeper({ store, clock: new ManualClock(Date.now() + 120_000) });
    const client = testClient({ kind: 'standalone', url: server.url }, { blocking: true });
    // The consumer helper's handler runs inside BullMQOtel's consumer span.
    const consumerTraces: string[] = [];
    const consumer = consumeExpiredSessions(
      client,
      () => {
        consumerTraces.push(trace.getActiveSpan()?.spanContext().traceId ?? 'none');
      },
      { queuePrefix: sweeper.options.queuePrefix, queueName: sweeper.options.eventsQueueName },
    );
    try {
      const ids = await createSessions(store, 5, { expiresAt: Date.now() + 60_000 });
      const bucket = new RedisKeys(store.prefix, 2).bucketOf(ids[0]!);
      const expiredHere = ids.filter(
        (id) => new RedisKeys(store.prefix, 2).bucketOf(id) === bucket,
      );
      exporter.reset();
      await sweeper.sweepBucket(bucket);

      expect(ended).toHaveLength(1);
      const [job] = ended;
      expect(job).toMatchObject({
        bucket,
        queueName: sweeper.options.sweepQueueName,
        jobId: undefined,
      });
      expect(job?.result as SweepOutcome).toMatchObject({
        expired: expiredHere.length,
        orphans: 0,
      });
      const sweep = exporter.getFinishedSpans().find((s) => s.name === 'sweep-job');
      // One batch job carried them all, in the sweep's trace.
      await waitFor('the events', () => consumerTraces.length === expiredHere.length);
      expect(new Set(consumerTraces)).toEqual(new Set([sweep!.spanContext().traceId]));
    } finally {
      await consumer.close();
      client.disconnect();
      await sweeper.close();
      await store.close();
    }
  });
});
