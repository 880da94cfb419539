import { hashSessionId } from '@session-cluster/core';
import { cookieClient, startOtlpReceiver, startRedisServer } from '@session-cluster/testkit';
import type { OtlpReceiver, OtlpSpan, RedisServerHandle } from '@session-cluster/testkit';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo } from './demo-process.test-helpers.js';
import type { DemoProcess } from './demo-process.test-helpers.js';

describe('the demo with OTEL_EXPORTER_OTLP_ENDPOINT set and 3 s sessions', () => {
  let redis: RedisServerHandle;
  let receiver: OtlpReceiver;
  let demo: DemoProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    receiver = await startOtlpReceiver();
    demo = await startDemo(redis.url, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      DEMO_INSTANCES: '1',
      SESSION_TTL_MS: '3000',
    });
  });
  afterAll(async () => {
    if (demo.child.exitCode === null) await demo.interrupt();
    await receiver.close();
    await redis.stop();
  });

  it('exports one trace per request: HTTP server span → session.update (optimistic, its store calls as events) → Redis spans', async () => {
    const tab = cookieClient('sc.sid');
    // The first write creates the session; the second is an update, which
    // takes no lock while nobody else writes the session (lock mode on-conflict).
    expect((await tab.request('POST', `${demo.url}/counter`)).status).toBe(303);
    expect((await tab.request('POST', `${demo.url}/counter`)).status).toBe(303);

    const isUpdate = (span: OtlpSpan): boolean => span.name === 'session.update';
    const spans = await receiver.waitForSpans((all) => {
      const update = all.find(isUpdate);
      return (
        update !== undefined &&
        all.some((s) => s.traceId === update.traceId && s.scope?.includes('ioredis') === true)
      );
    }, 20_000);
    const update = spans.find(isUpdate)!;
    const trace = spans.filter((s) => s.traceId === update.traceId);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    // The operation hangs under the HTTP server span of the request.
    let root: OtlpSpan = update;
    while (root.parentSpanId !== undefined && byId.has(root.parentSpanId)) {
      root = byId.get(root.parentSpanId)!;
    }
    expect(root.kind).toBe(2);
    expect(update.serviceName).toBe('session-cluster-demo');
    expect(update.attributes['session.lock.mode']).toBe('optimistic');
    expect(trace.map((s) => s.name)).not.toContain('session.lock.acquire');
    // One span per operation: its store calls are its attributes, not child spans.
    expect(update.attributes['session.store.load.duration_ms']).toEqual(expect.any(Number));
    expect(update.attributes['session.store.save.duration_ms']).toEqual(expect.any(Number));
    expect(update.events.map((e) => e.name)).not.toContain('session.lock.acquire');
    expect(trace.map((s) => s.name)).not.toContain('session.store.load');
    // The demo opts in to ioredis spans: the save's command hangs under the operation.
    expect(
      trace.some((s) => s.parentSpanId === update.spanId && s.scope?.includes('ioredis') === true),
    ).toBe(true);
    // The session id never leaves the process raw: only its hash.
    const sid = tab.cookie!.split('.')[0]!;
    expect(receiver.requests.some((r) => r.text.includes(sid))).toBe(false);
    expect(update.attributes['session.id_hash']).toMatch(/^[0-9a-f]{12}$/);
  });

  it('runs the BullMQ sweeper and consumes its expiry events: the expired session is reported by its hash', async () => {
    const sid = await (async () => {
      const tab = cookieClient('sc.sid');
      await tab.request('POST', `${demo.url}/counter`);
      return tab.cookie!.split('.')[0]!;
    })();
    const deadline = Date.now() + 20_000;
    const consumed = `sweeper: session ${hashSessionId(sid)} expired (expiry event consumed)`;
    while (!demo.output().includes(consumed)) {
      if (Date.now() > deadline) throw new Error(`no expiry reported:\n${demo.output()}`);
      await delay(200);
    }
    expect(demo.output()).not.toContain(sid);
  });
});
