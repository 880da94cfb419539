import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, SESSION_CHANNELS, StorageUnavailableError } from '@session-cluster/core';
import type { HealthProbeMessage, ProbeOutcome } from '@session-cluster/core';
import { HealthMonitor } from './health-monitor.js';
import { SwitchableStore } from './switchable-store.test-helpers.js';

describe('HealthMonitor publishes each probe on session-cluster:health.probe', () => {
  const ended: HealthProbeMessage[] = [];
  const onEnd = (message: unknown): void => {
    ended.push(message as HealthProbeMessage);
  };
  beforeEach(() => {
    SESSION_CHANNELS.healthProbe.asyncEnd.subscribe(onEnd);
  });
  afterEach(() => {
    SESSION_CHANNELS.healthProbe.asyncEnd.unsubscribe(onEnd);
    ended.length = 0;
  });

  function setup(telemetry?: boolean): { monitor: HealthMonitor; store: SwitchableStore } {
    const clock = new ManualClock(1_700_000_000_000);
    const store = new SwitchableStore(clock);
    store.stepMs = 3;
    return { monitor: new HealthMonitor({ clock, probe: { store }, telemetry }), store };
  }

  it('a passing probe: one traced call whose result has the latency, and the status after it', async () => {
    const { monitor } = setup();
    await monitor.check();
    expect(ended).toHaveLength(1);
    const [probe] = ended;
    expect(probe?.result).toMatchObject({ ok: true, latencyMs: expect.any(Number) as unknown });
    expect(probe?.status()).toBe('healthy');
  });

  it('a failing probe: its result carries the error, the status reads unhealthy', async () => {
    const { monitor, store } = setup();
    store.createError = new StorageUnavailableError('redis down');
    const result = await monitor.check();
    expect(result.ok).toBe(false);
    const outcome = ended[0]?.result as ProbeOutcome | undefined;
    expect(outcome?.ok).toBe(false);
    expect(outcome?.error).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(ended[0]?.status()).toBe('unhealthy');
  });

  it('telemetry: false probes without publishing', async () => {
    const { monitor } = setup(false);
    await monitor.check();
    expect(ended).toEqual([]);
  });
});
