import { randomBytes } from 'node:crypto';
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { DEFAULT_DEMO_PREFIX, WORKER_CONFIG_ENV } from './demo-config.js';
import type { PrimaryMessage, WorkerConfig } from './demo-config.js';
import { startDemoSweeper } from './demo-sweeper.js';
import type { DemoSweeper } from './demo-sweeper.js';
import { telemetryExecArgv } from './demo-telemetry.js';
import { describeTarget, resolveRedisTarget } from './redis-target.js';

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

/**
 * The primary's log: pino JSON like the instances' (one format in the
 * demo's output). Always at `info`: where to open the demo and where its
 * sessions live are the lines a newcomer needs, whatever `LOG_LEVEL` asks
 * of the instances.
 */
function primaryLogger(): Logger {
  return pino({ name: 'primary', level: 'info' });
}

/**
 * The demo's primary process: finds Redis (or starts one, or falls back to
 * memory), forks the instances with `node:cluster` on one port, runs the
 * sweeper, and on SIGINT/SIGTERM stops everything in order and exits 0.
 */
export async function runPrimary(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const target = await resolveRedisTarget(env);
  const memory = target.kind === 'memory';
  const instances = memory ? 1 : Math.max(1, positiveInt(env, 'DEMO_INSTANCES', 3));
  const port = positiveInt(env, 'PORT', 3000);
  const host = env['HOST'] ?? '127.0.0.1';
  const config: WorkerConfig = {
    redisUrl: memory ? null : target.url,
    port,
    host,
    secret: env['SESSION_SECRET'] ?? randomBytes(32).toString('base64url'),
    prefix: env['DEMO_PREFIX'] ?? DEFAULT_DEMO_PREFIX,
    ttlMs: positiveInt(env, 'SESSION_TTL_MS', 30 * 60_000),
    secureCookie: env['COOKIE_SECURE'] === '1',
  };

  const log = primaryLogger();
  log.info(
    { redis: memory ? null : target.url, prefix: config.prefix },
    `session-cluster demo: ${describeTarget(target)}`,
  );
  if (memory)
    log.warn(
      'MEMORY-ONLY MODE: install redis-server or set REDIS_URL for the shared-session cluster',
    );
  if (env['SESSION_SECRET'] === undefined) {
    log.info(
      'cookie secret: random for this run (set SESSION_SECRET to keep sessions across restarts)',
    );
  }

  const sweeper: DemoSweeper | undefined = memory
    ? undefined
    : startDemoSweeper(target.url, config.prefix, log);
  cluster.setupPrimary({ silent: false, execArgv: [...process.execArgv, ...telemetryExecArgv()] });
  const workers: Worker[] = [];
  let stopping = false;

  const stop = async (code: number): Promise<never> => {
    if (stopping) return new Promise<never>(() => undefined);
    stopping = true;
    log.info('stopping…');
    const exits = workers.map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) {
            resolve();
            return;
          }
          worker.once('exit', () => {
            resolve();
          });
          const message: PrimaryMessage = { type: 'shutdown' };
          if (worker.isConnected()) worker.send(message);
          setTimeout(() => worker.process.kill('SIGKILL'), 10_000).unref();
        }),
    );
    await Promise.all(exits);
    await sweeper?.stop();
    if (target.kind === 'embedded') await target.server.stop();
    log.info('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  const listening: Promise<void>[] = [];
  for (let i = 0; i < instances; i++) {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    workers.push(worker);
    listening.push(
      new Promise<void>((resolve, reject) => {
        worker.once('listening', () => {
          resolve();
        });
        worker.once('exit', (code) => {
          reject(new Error(`instance-${worker.id} exited with ${code} while starting`));
        });
      }),
    );
    worker.on('exit', (code, signal) => {
      if (!stopping)
        log.warn(
          { instance: `instance-${worker.id}`, code, signal },
          `instance-${worker.id} exited; the others keep serving`,
        );
    });
  }
  try {
    await Promise.all(listening);
  } catch (error) {
    log.error({ err: error }, 'an instance did not start');
    await stop(1);
  }
  const shown = host === '0.0.0.0' || host === '127.0.0.1' ? 'localhost' : host;
  log.info(
    { instances, port },
    `${instances} instance${instances === 1 ? '' : 's'} (node:cluster) on one port, each page names the one that served it`,
  );
  log.info(
    { url: `http://${shown}:${port}/` },
    `open http://${shown}:${port}/ (Ctrl-C stops everything)`,
  );
}
