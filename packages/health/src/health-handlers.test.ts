import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  SessionValidationError,
  StorageUnavailableError,
} from '@session-cluster/core';
import { createHealthHandlers } from './health-handlers.js';
import type { HealthHandlersOptions } from './health-handlers.js';
import { HealthMonitor } from './health-monitor.js';
import type { HealthReport } from './health-report.js';
import { SwitchableStore } from './switchable-store.test-helpers.js';

const T0 = 1_700_000_000_000;
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

/** A real HTTP server routing /healthz and /readyz to the handlers; returns its base URL. */
async function serve(monitor: HealthMonitor, options?: HealthHandlersOptions): Promise<string> {
  const { liveness, readiness } = createHealthHandlers(monitor, options);
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      liveness(req, res);
      return;
    }
    if (req.url === '/readyz') {
      void readiness(req, res);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function getJson(url: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, headers: response.headers, body: await response.json() };
}

function failLoads(monitor: HealthMonitor, n: number): void {
  for (let i = 0; i < n; i += 1) {
    monitor.record({
      operation: 'load',
      durationMs: 1,
      ok: false,
      error: new StorageUnavailableError(),
    });
  }
}

describe('createHealthHandlers', () => {
  it('answers /healthz with 200 {"status":"ok"} as JSON, not cached, even while unhealthy', async () => {
    const monitor = new HealthMonitor({ clock: new ManualClock(T0) });
    failLoads(monitor, 10);
    const base = await serve(monitor);
    const { status, headers, body } = await getJson(`${base}/healthz`);
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('cache-control')).toBe('no-store');
  });

  it('answers /readyz with 200 and the report while healthy', async () => {
    const monitor = new HealthMonitor({ clock: new ManualClock(T0) });
    monitor.record({ operation: 'load', durationMs: 2, ok: true });
    const base = await serve(monitor);
    const { status, headers, body } = await getJson(`${base}/readyz`);
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('cache-control')).toBe('no-store');
    expect(body).toEqual(monitor.report());
    expect((body as HealthReport).operations['load']?.count).toBe(1);
  });

  it('answers /readyz with 503 and the reasons while unhealthy', async () => {
    const monitor = new HealthMonitor({ clock: new ManualClock(T0) });
    failLoads(monitor, 10);
    const base = await serve(monitor);
    const { status, body } = await getJson(`${base}/readyz`);
    expect(status).toBe(503);
    expect(body).toMatchObject({
      status: 'unhealthy',
      reasons: [
        'overall success rate 0.000 below 0.8 (0 of 10 ok)',
        'operation load: success rate 0.000 below 0.8 (0 of 10 ok)',
      ],
      overall: { failuresByCode: { STORAGE_UNAVAILABLE: 10 } },
    });
  });

  it('is ready while degraded by default, and not with readyWhenDegraded: false', async () => {
    const monitor = new HealthMonitor({ clock: new ManualClock(T0) });
    monitor.setBreakerState('open');
    monitor.setDegraded(true, 'serving from memory');
    const lenient = await serve(monitor);
    const strict = await serve(monitor, { readyWhenDegraded: false });
    const a = await getJson(`${lenient}/readyz`);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ status: 'degraded', degraded: true, breaker: 'open' });
    const b = await getJson(`${strict}/readyz`);
    expect(b.status).toBe(503);
    expect(b.body).toMatchObject({ status: 'degraded' });
  });

  it('answers HEAD with status and headers only', async () => {
    const monitor = new HealthMonitor({ clock: new ManualClock(T0) });
    failLoads(monitor, 10);
    const base = await serve(monitor);
    const ready = await fetch(`${base}/readyz`, { method: 'HEAD' });
    expect(ready.status).toBe(503);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.text()).toBe('');
    expect((await fetch(`${base}/healthz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('probes on readiness when the last probe is older than probeMaxAgeMs', async () => {
    const clock = new ManualClock(T0);
    const store = new SwitchableStore(clock);
    const monitor = new HealthMonitor({ clock, probe: { store } });
    const base = await serve(monitor, { probeMaxAgeMs: 5_000 });

    const first = await getJson(`${base}/readyz`); // never probed: probes now
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ probe: { ok: true, at: T0 } });
    expect(store.created).toHaveLength(1);

    clock.advance(5_000); // exactly probeMaxAgeMs old: still fresh
    await getJson(`${base}/readyz`);
    expect(store.created).toHaveLength(1);

    clock.advance(1);
    store.createError = new StorageUnavailableError();
    const stale = await getJson(`${base}/readyz`);
    expect(store.created).toHaveLength(2);
    expect(stale.status).toBe(503);
    expect(stale.body).toMatchObject({
      status: 'unhealthy',
      reasons: ['probe failed: STORAGE_UNAVAILABLE'],
      probe: { ok: false, at: T0 + 5_001, error: { code: 'STORAGE_UNAVAILABLE' } },
    });
    expect(store.memory.stats().total).toBe(0);
  });

  it('never probes from the handler without probeMaxAgeMs', async () => {
    const clock = new ManualClock(T0);
    const store = new SwitchableStore(clock);
    const monitor = new HealthMonitor({ clock, probe: { store } });
    const base = await serve(monitor);
    const { body } = await getJson(`${base}/readyz`);
    expect(body).toMatchObject({ probe: null });
    expect(store.created).toHaveLength(0);
  });

  it.each([
    ['readyWhenDegraded', { readyWhenDegraded: 'yes' }],
    ['probeMaxAgeMs', { probeMaxAgeMs: -1 }],
    ['probeMaxAgeMs', { probeMaxAgeMs: 1.5 }],
    ['probeMaxAgeMs', { probeMaxAgeMs: 1_000 }], // the monitor has no probe store
  ])('rejects a bad %s with INVALID_CONFIG', (field, options) => {
    const monitor = new HealthMonitor();
    let error: unknown;
    try {
      createHealthHandlers(monitor, options as HealthHandlersOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    expect((error as SessionValidationError).field).toBe(field);
  });
});
