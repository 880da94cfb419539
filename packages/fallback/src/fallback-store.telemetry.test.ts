import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ROOT_CONTEXT, SpanStatusCode, context } from '@opentelemetry/api';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { CONTEXT_KEY_FALLBACK_NOTE, generateSessionId, hashSessionId } from '@session-cluster/core';
import type { FallbackNote } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { AsyncLocalContextManager } from '@session-cluster/testkit';
import type { ReconcileConflictEvent, RecoveredEvent } from './fallback-events.js';
import { FallbackStore } from './fallback-store.js';
import { OutageStore } from './outage-store.test-helpers.js';

const HALF_OPEN_AFTER = 1_000;

describe('FallbackStore telemetry (real SDK, InMemorySpanExporter)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('test');
  let primary: OutageStore;
  let store: FallbackStore;

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
  });
  afterAll(async () => {
    context.disable();
    await provider.shutdown();
  });
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    primary = new OutageStore();
    store = new FallbackStore({
      primary,
      secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
      breaker: { kind: 'consecutive', threshold: 2, halfOpenAfterMs: HALF_OPEN_AFTER },
      timeoutMs: 200,
      telemetry: { tracerProvider: provider },
    });
    exporter.reset();
  });
  afterEach(async () => {
    primary.heal();
    await store.close();
    vi.useRealTimers();
  });

  /**
   * Run `call` in a span standing in for the manager's store span, with a
   * fallback note in the context as the manager puts there.
   */
  async function storeCall<T>(
    name: string,
    call: () => Promise<T>,
  ): Promise<{ span: ReadableSpan; note: FallbackNote; result: T }> {
    const note: FallbackNote = { servedDegraded: false };
    const result = await tracer.startActiveSpan(name, async (span) => {
      try {
        return await context.with(
          context.active().setValue(Symbol.for(CONTEXT_KEY_FALLBACK_NOTE), note),
          call,
        );
      } finally {
        span.end();
      }
    });
    const span = exporter.getFinishedSpans().find((s) => s.name === name);
    if (span === undefined) throw new Error(`no span ${name}`);
    return { span, note, result };
  }

  it('marks the route on the caller span: primary, failed over (with the code), then secondary', async () => {
    const id = generateSessionId();
    const created = await storeCall('create', () =>
      store.create({ id, data: {}, expiresAt: Date.now() + 60_000 }),
    );
    expect(created.span.attributes).toMatchObject({
      'session.fallback.route': 'primary',
      'session.degraded': false,
    });
    expect(created.note.servedDegraded).toBe(false);

    primary.fail();
    // Creates, not loads: a load that misses in the secondary while the
    // breaker is closed asks the primary once more (tested apart).
    const newSession = () => ({
      id: generateSessionId(),
      data: {},
      expiresAt: Date.now() + 60_000,
    });
    const first = await storeCall('create-1', () => store.create(newSession()));
    expect(first.span.attributes).toMatchObject({
      'session.fallback.route': 'primary_failed_over',
      'session.degraded': true,
    });
    expect(first.span.events.map((e) => [e.name, e.attributes])).toEqual([
      ['session.fallback.failover', { 'error.type': 'STORAGE_UNAVAILABLE' }],
    ]);
    expect(first.note.servedDegraded).toBe(true);

    // The second failure opens the breaker: an event on the call that opened it.
    const second = await storeCall('create-2', () => store.create(newSession()));
    expect(second.span.events.map((e) => e.name)).toEqual([
      'session.fallback.breaker_state_change',
      'session.fallback.failover',
    ]);
    expect(second.span.events[0]?.attributes).toEqual({ 'session.fallback.breaker_state': 'open' });

    const third = await storeCall('load-3', () => store.load(generateSessionId()));
    expect(third.span.attributes).toMatchObject({
      'session.fallback.route': 'secondary',
      'session.degraded': true,
    });
    expect(third.span.events).toEqual([]);
  });

  it('a call timing out in the primary names STORAGE_TIMEOUT', async () => {
    primary.stall();
    const creating = storeCall('create', () =>
      store.create({ id: generateSessionId(), data: {}, expiresAt: Date.now() + 60_000 }),
    );
    await vi.advanceTimersByTimeAsync(200);
    const { span } = await creating;
    expect(span.events[0]?.attributes).toEqual({ 'error.type': 'STORAGE_TIMEOUT' });
  });

  it('traces reconciliation as a root span linked to the call that brought the primary back', async () => {
    primary.fail();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = generateSessionId();
      ids.push(id);
      await store.create({ id, data: { i }, expiresAt: Date.now() + 60_000 });
    }
    exporter.reset();
    const recovered = once(store, 'recovered') as Promise<[RecoveredEvent]>;
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    primary.heal();
    const probe = await storeCall('probe', () => store.load(generateSessionId()));
    await recovered;
    const reconcile = exporter.getFinishedSpans().find((s) => s.name === 'session.reconcile');
    expect(reconcile).toBeDefined();
    expect(reconcile!.parentSpanContext).toBeUndefined();
    expect(reconcile!.links.map((l) => l.context.spanId)).toEqual([
      probe.span.spanContext().spanId,
    ]);
    expect(reconcile!.attributes).toMatchObject({
      'session.reconcile.entries': 3,
      'session.reconcile.written': 3,
      'session.reconcile.conflicts': 0,
      'session.reconcile.result': 'drained',
    });
    expect(reconcile!.status.code).toBe(SpanStatusCode.UNSET);
    expect(reconcile!.events.map((e) => e.name)).toContain('session.reconcile.batch');
    const text = JSON.stringify(
      exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status]),
    );
    for (const id of ids) expect(text).not.toContain(id);
  });

  it('a conflict is a span event on the reconciliation span (hashed id, keys, outcome) and a reconcileConflict event', async () => {
    primary.fail();
    const id = generateSessionId();
    await store.create({ id, data: { mine: 1 }, expiresAt: Date.now() + 60_000 });
    await store.create({ id: generateSessionId(), data: {}, expiresAt: Date.now() + 60_000 });
    // Another instance created the same id in the primary meanwhile.
    await primary.backing.create({ id, data: { theirs: 1 }, expiresAt: Date.now() + 60_000 });
    const conflicts: ReconcileConflictEvent[] = [];
    store.on('reconcileConflict', (event) => conflicts.push(event));
    exporter.reset();
    const recovered = once(store, 'recovered') as Promise<[RecoveredEvent]>;
    vi.advanceTimersByTime(HALF_OPEN_AFTER);
    primary.heal();
    await store.load(generateSessionId());
    const [event] = await recovered;
    expect(event.conflicts).toBe(1);
    expect(conflicts).toEqual([{ sessionIdHash: hashSessionId(id), keys: [], deleted: false }]);
    const reconcile = exporter.getFinishedSpans().find((s) => s.name === 'session.reconcile');
    const conflict = reconcile?.events.find((e) => e.name === 'session.reconcile.conflict');
    expect(conflict?.attributes).toEqual({
      'session.id_hash': hashSessionId(id),
      'session.reconcile.conflict_keys': [],
      'session.outcome': 'primary_kept',
    });
    expect((await primary.backing.load(id))?.data).toEqual({ theirs: 1 });
  });

  it('telemetry: false leaves the caller span untouched', async () => {
    const quiet = new FallbackStore({
      primary: new OutageStore(),
      secondary: new MemoryStore({ cleanupIntervalMs: 0 }),
      telemetry: false,
    });
    const { span } = await storeCall('load', () => quiet.load(generateSessionId()));
    expect(span.attributes).toEqual({});
    await quiet.close();
  });
});
