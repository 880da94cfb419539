import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId } from '@session-cluster/core';
import { startOtlpReceiver, startRedisServer } from '@session-cluster/testkit';
import type { OtlpReceiver, OtlpSpan, RedisServerHandle } from '@session-cluster/testkit';
import {
  otlpAppEnv,
  startTracedApp,
  stopTracedApp,
  stopTracedAppCleanly,
} from './traced-app-process.test-helpers.js';
import type { TracedAppProcess } from './traced-app-process.test-helpers.js';

/** SpanKind in OTLP: 2 = server, 3 = client. */
const SERVER = 2;
const CLIENT = 3;

describe('startTelemetry end to end (real process → real OTLP/HTTP receiver)', () => {
  let receiver: OtlpReceiver;
  let redis: RedisServerHandle;
  let app: TracedAppProcess | undefined;
  let sessionId: string;

  beforeAll(async () => {
    [receiver, redis] = await Promise.all([startOtlpReceiver(), startRedisServer()]);
    const started = await startTracedApp({
      ...otlpAppEnv(receiver.url, redis.url),
    });
    app = started;
    const base = started.url;
    const created = (await (await fetch(`${base}/sessions`, { method: 'POST' })).json()) as {
      id: string;
    };
    sessionId = created.id;
    const incremented = await fetch(`${base}/sessions/${sessionId}/increment`, { method: 'POST' });
    expect(await incremented.json()).toEqual({ n: 1 });
    // Redis cut off: the next update is served from memory, then written back.
    expect(await (await fetch(`${base}/outage`, { method: 'POST' })).json()).toEqual({
      degraded: true,
    });
    const degraded = await fetch(`${base}/sessions/${sessionId}/increment`, { method: 'POST' });
    expect(await degraded.json()).toEqual({ n: 2 });
    expect(await (await fetch(`${base}/recover`, { method: 'POST' })).json()).toEqual({
      degraded: false,
    });
    await stopTracedAppCleanly(started);
  }, 60_000);

  afterAll(async () => {
    if (app !== undefined) await stopTracedApp(app);
    await receiver.close();
    await redis.stop();
  });

  function spanById(spans: readonly OtlpSpan[], id: string | undefined): OtlpSpan | undefined {
    return id === undefined ? undefined : spans.find((span) => span.spanId === id);
  }

  function ancestors(spans: readonly OtlpSpan[], span: OtlpSpan): OtlpSpan[] {
    const chain: OtlpSpan[] = [];
    for (let at = spanById(spans, span.parentSpanId); at !== undefined;) {
      chain.push(at);
      at = spanById(spans, at.parentSpanId);
    }
    return chain;
  }

  /** The `session.update` spans, in the order the requests were made. */
  async function updates(): Promise<{
    spans: readonly OtlpSpan[];
    healthy: OtlpSpan;
    degraded: OtlpSpan;
  }> {
    const spans = await receiver.waitForSpans(
      (all) =>
        all.filter((span) => span.name === 'session.update').length >= 2 &&
        all.some((span) => span.name === 'session.reconcile'),
    );
    const [healthy, degraded] = spans
      .filter((span) => span.name === 'session.update')
      .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    return { spans, healthy: healthy!, degraded: degraded! };
  }

  /** The HTTP server span `span` descends from (through the Express spans), checked to be the root. */
  function serverSpanOf(spans: readonly OtlpSpan[], span: OtlpSpan): OtlpSpan {
    const chain = ancestors(spans, span);
    const server = chain.find((at) => at.kind === SERVER);
    expect(server, chain.map((at) => at.name).join(' ← ')).toBeDefined();
    expect(server!.name).toMatch(/^POST/);
    expect(server!.traceId).toBe(span.traceId);
    expect(chain.at(-1)).toBe(server);
    return server!;
  }

  it('HTTP server span → session.update → its phases (lock wait and release as events, store calls as their time), Redis commands as children', async () => {
    const { spans, healthy: update } = await updates();
    expect(update.serviceName).toBe('traced-app');
    expect(update.attributes).toMatchObject({
      'session.operation': 'update',
      'session.id_hash': hashSessionId(sessionId),
      'session.outcome': 'ok',
      'session.degraded': false,
      'session.lock.mode': 'always',
      'session.fallback.route': 'primary',
      'session.lock.wait_ms': expect.any(Number) as unknown,
      'session.store.load.duration_ms': expect.any(Number) as unknown,
      'session.store.save.duration_ms': expect.any(Number) as unknown,
    });
    serverSpanOf(spans, update);

    // Down the tree: one span for the operation, its lock phases as events on
    // it; the store calls Redis answered are their time on it.
    expect(update.events.map((event) => event.name)).toEqual([
      'session.lock.acquire',
      'session.lock.release',
    ]);
    // ioredis's own instrumentation (enabled by the app) nests its command spans under it.
    const children = spans.filter((span) => span.parentSpanId === update.spanId);
    expect(children.length).toBeGreaterThan(0);
    for (const command of children) {
      expect(command.kind).toBe(CLIENT);
      expect(command.scope).toBe('@opentelemetry/instrumentation-ioredis');
      expect(command.traceId).toBe(update.traceId);
    }
  });

  it('a degraded call: HTTP server span → session.update served from memory, its store calls routed to the secondary', async () => {
    const { spans, degraded: update } = await updates();
    expect(update.attributes).toMatchObject({
      'session.operation': 'update',
      'session.outcome': 'ok',
      'session.degraded': true,
      'session.fallback.route': 'secondary',
    });
    serverSpanOf(spans, update);
    const stores = update.events.filter((event) => event.name.startsWith('session.store.'));
    expect(stores.map((event) => [event.name, event.attributes['session.fallback.route']])).toEqual(
      [
        ['session.store.load', 'secondary'],
        ['session.store.save', 'secondary'],
      ],
    );
    // Memory answered: no Redis command under it.
    expect(spans.filter((span) => span.parentSpanId === update.spanId)).toEqual([]);
  });

  it('a reconciliation: a root session.reconcile span with its counts, linked to the request that brought Redis back', async () => {
    const { spans } = await updates();
    const reconcile = spans.find((span) => span.name === 'session.reconcile')!;
    expect(reconcile.parentSpanId).toBeUndefined();
    expect(reconcile.attributes).toMatchObject({
      'session.reconcile.entries': 1,
      'session.reconcile.written': 1,
      'session.reconcile.result': 'drained',
    });
    expect(reconcile.events.map((event) => event.name)).toContain('session.reconcile.batch');
    expect(reconcile.links).toHaveLength(1);
    const trigger = spanById(spans, reconcile.links[0]!.spanId);
    expect(trigger?.traceId).toBe(reconcile.links[0]!.traceId);
    const server = trigger!.kind === SERVER ? trigger! : serverSpanOf(spans, trigger!);
    expect(server.name).toMatch(/^POST/);
    expect(server.attributes['http.route'] ?? server.name).toMatch(/recover/);
  });

  it('no exported byte carries the raw session id; Redis statements show keys with the hash', async () => {
    await receiver.waitForSpans((all) => all.some((span) => span.name === 'session.update'));
    expect(receiver.refused).toEqual([]);
    for (const request of receiver.requests) expect(request.text).not.toContain(sessionId);
    const statements = receiver.spans
      .map((span) => span.attributes['db.query.text'] ?? span.attributes['db.statement'])
      .filter((text): text is string => typeof text === 'string');
    expect(statements.some((text) => text.includes(`<sid:${hashSessionId(sessionId)}>`))).toBe(
      true,
    );
  });

  it('log lines are JSON with the trace_id/span_id of the request and no raw session id', () => {
    const logs = app!.lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['msg'] !== undefined);
    const incremented = logs.find((line) => String(line['msg']).startsWith('incremented session'));
    expect(incremented).toBeDefined();
    expect(incremented!['service']).toBe('traced-app');
    expect(incremented!['sessionId']).toBe(`<sid:${hashSessionId(sessionId)}>`);
    const update = receiver.spans.find(
      (span) => span.name === 'session.update' && span.attributes['session.degraded'] === false,
    )!;
    expect(incremented!['trace_id']).toBe(update.traceId);
    expect(incremented!['span_id']).toMatch(/^[0-9a-f]{16}$/);
    for (const line of app!.lines) expect(line).not.toContain(sessionId);
  });
});
