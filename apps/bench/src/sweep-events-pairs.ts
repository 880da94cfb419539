/**
 * Diagnostic: the two scenarios of `events ÷ sweep without events`, full
 * size, in alternating pairs (fresh redis-server and worker each), every
 * figure printed. `node apps/bench/dist/sweep-events-pairs.js [sessions] [pairs]`.
 */
import { loadavg } from 'node:os';
import { measureSweepThroughput } from './sweep-scenarios.js';

const sessions = Number(process.argv[2] ?? 1_000_000);
const pairs = Number(process.argv[3] ?? 3);
const users = Math.round(sessions / 4);
for (let i = 0; i < pairs; i += 1) {
  const order = i % 2 === 0 ? ['plain', 'events'] : ['events', 'plain'];
  const out: Record<string, { rate: number; cpu: number }> = {};
  for (const kind of order) {
    const events = kind === 'events';
    const r = await measureSweepThroughput({
      sessions,
      users,
      publishEvents: events,
      consume: events,
      telemetry: true,
    });
    const rate = events ? (r.deliveredPerSec ?? 0) : r.sweptPerSec;
    out[kind] = { rate, cpu: r.redisCpuUsPerSession };
    console.log(
      JSON.stringify({
        pair: i + 1,
        kind,
        load: loadavg()
          .map((n) => n.toFixed(2))
          .join(' '),
        rate,
        sweptPerSec: r.sweptPerSec,
        durationMs: r.durationMs,
        wallMs: r.wallMs,
        redisCpu: r.redisCpuUsPerSession,
        waiting: r.redisWaitingPercent,
        workerCpu: r.workerCpuUsPerSession,
        workerPct: r.workerCpuPercent,
        benchCpu: r.benchCpuUsPerSession,
        script: r.redis.scriptUsPerSession,
        top: r.redis.topCommands,
        loadMs: r.loadMs,
      }),
    );
  }
  const { plain, events } = out as Record<'plain' | 'events', { rate: number; cpu: number }>;
  console.log(
    `pair ${i + 1} (${order.join(', ')}): ratio ${(events.rate / plain.rate).toFixed(3)}, by CPU ${(plain.cpu / events.cpu).toFixed(3)}`,
  );
}
