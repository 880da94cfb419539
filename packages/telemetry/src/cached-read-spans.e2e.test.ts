import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId } from '@session-cluster/core';
import { startOtlpReceiver, startRedisServer } from '@session-cluster/testkit';
import type { OtlpReceiver, OtlpSpan, RedisServerHandle } from '@session-cluster/testkit';
import type { CachedReadSpans } from './operation-tracing.js';
import {
  otlpAppEnv,
  startTracedApp,
  stopTracedApp,
  stopTracedAppCleanly,
} from './traced-app-process.test-helpers.js';
import type { TracedAppProcess } from './traced-app-process.test-helpers.js';

/** SpanKind in OTLP: 2 = server. */
const SERVER = 2;

/**
 * What each `cachedReadSpans` setting exports for reads the instance cache
 * answers: the app reads a session twice outside any span (a miss, then a
 * hit, as a background job would) and once inside an HTTP request (a hit).
 */
describe.each<CachedReadSpans>(['in-trace', 'always'])(
  'cachedReadSpans: %s (real process → real OTLP/HTTP receiver)',
  (setting) => {
    let receiver: OtlpReceiver;
    let redis: RedisServerHandle;
    let app: TracedAppProcess | undefined;
    let sessionId: string;
    let hits: number;

    beforeAll(async () => {
      [receiver, redis] = await Promise.all([startOtlpReceiver(), startRedisServer()]);
      const started = await startTracedApp({
        ...otlpAppEnv(receiver.url, redis.url),
        CACHED_READ_SPANS: setting,
      });
      app = started;
      const created = (await (
        await fetch(`${started.url}/sessions`, { method: 'POST' })
      ).json()) as { id: string };
      sessionId = created.id;
      const reads = await fetch(`${started.url}/sessions/${sessionId}/reads`, { method: 'POST' });
      expect(reads.status, started.stderr()).toBe(200);
      ({ hits } = (await reads.json()) as { hits: number });
      await stopTracedAppCleanly(started);
    }, 60_000);

    afterAll(async () => {
      if (app !== undefined) await stopTracedApp(app);
      await receiver.close();
      await redis.stop();
    });

    /** The `session.get` spans, in the order the reads were made. */
    function gets(): OtlpSpan[] {
      return receiver.spans
        .filter((span) => span.name === 'session.get')
        .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    }

    it('the second read outside a span and the read inside the request were cache hits', () => {
      expect(hits).toBe(2);
    });

    it('a read inside a traced request has its span under the request, with session.cache.hit', () => {
      const server = receiver.spans.find(
        (span) =>
          span.kind === SERVER && span.name.startsWith('POST') && span.name.includes('reads'),
      );
      expect(server, receiver.spans.map((span) => span.name).join(', ')).toBeDefined();
      const inRequest = gets().filter((span) => span.traceId === server!.traceId);
      expect(inRequest).toHaveLength(1);
      expect(inRequest[0]!.attributes).toMatchObject({
        'session.operation': 'get',
        'session.id_hash': hashSessionId(sessionId),
        'session.outcome': 'ok',
        'session.cache.hit': true,
      });
    });

    it('a read outside any span that misses the cache is a root span of its own, with its load time', () => {
      const [miss] = gets().filter((span) => span.parentSpanId === undefined);
      expect(miss?.attributes).toMatchObject({
        'session.id_hash': hashSessionId(sessionId),
        'session.outcome': 'ok',
        'session.found': true,
        'session.cache.hit': false,
        'session.fallback.route': 'primary',
        'session.store.load.duration_ms': expect.any(Number) as unknown,
      });
      // Redis answered the load: a number on the span, not an event.
      expect(miss!.events).toEqual([]);
      // Backdated to the read's start: it spans the load.
      expect(BigInt(miss!.endTimeUnixNano)).toBeGreaterThan(BigInt(miss!.startTimeUnixNano));
    });

    it(
      setting === 'in-trace'
        ? 'a read outside any span that the cache answers starts no trace'
        : 'a read outside any span that the cache answers is a root span too',
      () => {
        const roots = gets().filter((span) => span.parentSpanId === undefined);
        expect(roots.map((span) => span.attributes['session.cache.hit'])).toEqual(
          setting === 'in-trace' ? [false] : [false, true],
        );
      },
    );
  },
);
