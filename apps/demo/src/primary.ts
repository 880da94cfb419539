import { randomBytes } from 'node:crypto';
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { WORKER_CONFIG_ENV } from './demo-config.js';
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

function say(line: string): void {
  process.stdout.write(`${line}\n`);
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
    prefix: env['DEMO_PREFIX'] ?? 'demo',
    ttlMs: positiveInt(env, 'SESSION_TTL_MS', 30 * 60_000),
    secureCookie: env['COOKIE_SECURE'] === '1',
  };

  say('session-cluster demo');
  say(`  ${describeTarget(target)}`);
  if (memory)
    say(
      '  !!! MEMORY-ONLY MODE: install redis-server or set REDIS_URL for the shared-session cluster !!!',
    );
  if (env['SESSION_SECRET'] === undefined) {
    say(
      '  cookie secret: random for this run (set SESSION_SECRET to keep sessions across restarts)',
    );
  }

  const sweeper: DemoSweeper | undefined = memory
    ? undefined
    : startDemoSweeper(target.url, config.prefix, say);
  cluster.setupPrimary({ silent: false, execArgv: [...process.execArgv, ...telemetryExecArgv()] });
  const workers: Worker[] = [];
  let stopping = false;

  const stop = async (code: number): Promise<never> => {
    if (stopping) return new Promise<never>(() => undefined);
    stopping = true;
    say('\nstopping…');
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
    say('stopped');
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
        say(
          `instance-${worker.id} exited (code ${code}, signal ${signal}); the others keep serving`,
        );
    });
  }
  try {
    await Promise.all(listening);
  } catch (error) {
    say(`demo: ${error instanceof Error ? error.message : String(error)}`);
    await stop(1);
  }
  const shown = host === '0.0.0.0' || host === '127.0.0.1' ? 'localhost' : host;
  say(
    `  ${instances} instance${instances === 1 ? '' : 's'} (node:cluster) on one port, each page names the one that served it`,
  );
  say(`\n  open http://${shown}:${port}/   (Ctrl-C stops everything)\n`);
}
