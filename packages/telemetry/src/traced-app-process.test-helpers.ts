import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const APP = fileURLToPath(new URL('./traced-app.test-helpers.ts', import.meta.url));

/** The traced app (`traced-app.test-helpers.ts`) running in a process of its own. */
export interface TracedAppProcess {
  readonly child: ChildProcess;
  /** Base URL of its HTTP server (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Its stdout lines (pino JSON), so far. */
  readonly lines: string[];
  /** The end of its stderr, for failure messages. */
  stderr(): string;
}

/**
 * Start the traced app as an application is started (`--import
 * @session-cluster/telemetry/register`) with `env` added to this process's
 * environment; resolves once it listens.
 */
export async function startTracedApp(env: Record<string, string>): Promise<TracedAppProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@session-cluster/source',
      '--import',
      '@session-cluster/telemetry/register',
      APP,
    ],
    { cwd: PACKAGE_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8_000);
  });
  let pending = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`app did not start in 20 s: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited with ${String(code)}: ${stderr}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        lines.push(line);
        const parsed = JSON.parse(line) as { port?: number };
        if (parsed.port !== undefined) {
          clearTimeout(timer);
          resolve(parsed.port);
        }
        newline = pending.indexOf('\n');
      }
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, lines, stderr: () => stderr };
}

/** SIGTERM the app (it flushes its telemetry and exits 0); SIGKILL after 15 s. */
export async function stopTracedApp(app: TracedAppProcess): Promise<void> {
  if (app.child.exitCode !== null) return;
  const exited = once(app.child, 'exit');
  app.child.kill('SIGTERM');
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/**
 * The environment of a traced app exporting to `receiverUrl` (OTLP/HTTP
 * JSON, a 200 ms batch delay, no metrics) over the Redis at `redisUrl`.
 */
export function otlpAppEnv(receiverUrl: string, redisUrl: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_METRICS_EXPORTER: 'none',
    REDIS_URL: redisUrl,
  };
}

/** SIGTERM `app` and check it exited 0 (its shutdown flushed the batch processor). */
export async function stopTracedAppCleanly(app: TracedAppProcess): Promise<void> {
  await stopTracedApp(app);
  expect(app.child.exitCode, app.stderr()).toBe(0);
}
