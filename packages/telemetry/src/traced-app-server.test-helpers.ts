import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import express from 'express';
import { createSessionCluster } from 'session-cluster';
import type { Telemetry } from './start-telemetry.js';

/**
 * An Express app whose routes call the session manager: `POST /sessions`
 * creates one, `POST /sessions/:id/increment` runs a locked update,
 * `POST /sessions/:id/reads` reads it twice outside any span (as a
 * background job would: a cache miss, then a hit) and once inside the
 * request (a hit);
 * `POST /outage` cuts the session layer off Redis (the fallback's breaker
 * isolated: calls are served from memory), `POST /recover` ends that and
 * answers once reconciliation wrote the degraded writes back. Prints
 * `{"port":…}` when listening; on SIGTERM closes everything, flushes
 * telemetry and exits 0. Log lines (pino JSON) go to stdout too.
 */
export async function runTracedApp(telemetry: Telemetry): Promise<void> {
  const { logger } = telemetry;
  const redisUrl = process.env['REDIS_URL'];
  if (redisUrl === undefined) throw new Error('REDIS_URL is required');
  const cluster = createSessionCluster({
    redis: { url: redisUrl },
    prefix: `e2e${process.pid}`,
    retry: { baseDelayMs: 5 },
  });
  const { manager } = cluster;

  const app = express();
  app.post('/sessions', async (_request, response) => {
    const session = await manager.create({ data: { n: 0 } });
    logger.info({ sessionId: session.id }, 'session created');
    response.json({ id: session.id });
  });
  app.post('/sessions/:id/increment', async (request, response) => {
    const id = request.params['id'];
    // lock: 'always', so the trace shows the lock spans too.
    const record = await manager.update(id, (data) => ({ ...data, n: Number(data['n']) + 1 }), {
      lock: 'always',
    });
    logger.info({ sessionId: id, version: record.version }, `incremented session ${id}`);
    response.json({ n: record.data['n'] });
  });

  app.post('/sessions/:id/reads', async (request, response) => {
    const id = request.params['id'];
    // The instance cache answers only once its invalidation feed is up.
    for (let waited = 0; cluster.redis.cacheStats()?.state !== 'ready'; waited += 5) {
      if (waited > 3_000) throw new Error('instance cache not ready within 3 s');
      await sleep(5);
    }
    const before = cluster.redis.cacheStats()?.hits ?? 0;
    await context.with(ROOT_CONTEXT, async () => {
      await manager.get(id);
      await manager.get(id);
    });
    await manager.get(id);
    response.json({ hits: (cluster.redis.cacheStats()?.hits ?? 0) - before });
  });

  let outage: { dispose(): void } | undefined;
  app.post('/outage', (_request, response) => {
    outage ??= cluster.fallback?.isolate();
    response.json({ degraded: manager.degraded });
  });
  app.post('/recover', async (_request, response) => {
    const fallback = cluster.fallback;
    if (outage !== undefined && fallback !== undefined) {
      const recovered = once(fallback, 'recovered');
      outage.dispose();
      outage = undefined;
      await recovered;
    }
    response.json({ degraded: manager.degraded });
  });

  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => {
      resolve();
    });
  });
  server.close();
  server.closeAllConnections();
  await cluster.close();
  await telemetry.shutdown();
  process.exit(0);
}
