import cluster from 'node:cluster';
import {
  SESSION_MIDDLEWARE_DEFAULTS,
  SessionCookieSigner,
  sessionMiddleware,
} from '@session-cluster/express';
import type { HealthMonitor } from '@session-cluster/health';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createSessionCluster } from 'session-cluster';
import { createDemoApp } from './demo-app.js';
import { readWorkerConfig } from './demo-config.js';
import { EndedSessionCheck } from './ended-session.js';
import type { PrimaryMessage, WorkerConfig } from './demo-config.js';
import { createMemoryManager } from './memory-manager.js';
import type { SessionManager } from '@session-cluster/manager';

interface SessionLayer {
  readonly manager: SessionManager;
  readonly health: HealthMonitor;
  readonly mode: string;
  close(): Promise<void>;
}

function sessionLayer(config: WorkerConfig, logger: Logger): SessionLayer {
  if (config.redisUrl === null) {
    const { manager, health } = createMemoryManager(config.ttlMs);
    return { manager, health, mode: 'memory-only (one instance)', close: () => manager.close() };
  }
  const sessions = createSessionCluster({
    redis: { url: config.redisUrl },
    prefix: config.prefix,
    session: { ttlMs: config.ttlMs },
  });
  // What an operator wants in the log: when this instance started serving
  // from memory, and what it wrote back to Redis when that ended.
  sessions.fallback?.on('degraded', (event) => {
    logger.warn(
      { reason: event.reason },
      'degraded: Redis unreachable, serving sessions from memory',
    );
  });
  sessions.fallback?.on('recovered', (event) => {
    logger.warn({ ...event }, 'recovered: degraded-mode writes reconciled into Redis');
  });
  sessions.fallback?.on('writeBacksLost', (event) => {
    logger.error({ ...event }, 'closed with degraded-mode writes never written back to Redis');
  });
  return {
    manager: sessions.manager,
    health: sessions.health,
    mode: `Redis ${config.redisUrl}`,
    close: () => sessions.close(),
  };
}

/**
 * One instance of the demo (a `node:cluster` worker): the session layer,
 * the Express app, and a clean shutdown when the primary says so.
 * `stopTelemetry` flushes the telemetry main.ts started, if any.
 */
export function runWorker(stopTelemetry?: () => Promise<void>): void {
  const config = readWorkerConfig();
  const instance = `instance-${cluster.worker?.id ?? 1}`;
  const logger = pino({ name: instance, level: process.env['LOG_LEVEL'] ?? 'info' });
  const layer = sessionLayer(config, logger);
  const sessions = sessionMiddleware(layer.manager, {
    secrets: [config.secret],
    cookie: { secure: config.secureCookie, maxAgeMs: config.ttlMs },
    logger: {
      warn: (details, message) => {
        logger.warn(details, message);
      },
    },
  });
  const app = createDemoApp({
    instance,
    mode: layer.mode,
    manager: layer.manager,
    health: layer.health,
    sessions,
    logger,
    endedSessions: new EndedSessionCheck({
      signer: new SessionCookieSigner([config.secret]),
      cookieName: SESSION_MIDDLEWARE_DEFAULTS.managedCookieName,
      ttlMs: config.ttlMs,
    }),
  });
  const server = app.listen(config.port, config.host);
  server.on('error', (error) => {
    logger.error({ err: error }, 'cannot listen');
    process.exit(1);
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      // Finish what is in flight, drop idle keep-alive sockets, then close sessions.
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      server.closeIdleConnections();
      const force = setTimeout(() => {
        server.closeAllConnections();
      }, 3_000);
      await closed;
      clearTimeout(force);
      await layer.close();
      await stopTelemetry?.();
      process.exit(0);
    })();
    return stopping;
  };
  process.on('message', (message: unknown) => {
    if ((message as Partial<PrimaryMessage> | null)?.type === 'shutdown') void shutdown();
  });
  // Ctrl-C reaches the whole process group: the primary coordinates the stop.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => void shutdown());
  process.on('disconnect', () => void shutdown());
}
