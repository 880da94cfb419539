import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pingRedis } from './redis-ping.js';

/** A private `redis-server` the demo started (and stops). */
export interface EmbeddedRedis {
  readonly url: string;
  stop(): Promise<void>;
}

/** True when a `redis-server` binary is on PATH. */
export function redisServerOnPath(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Listen on `port` of 127.0.0.1 (0: any) and let go; resolves the port, or null when taken. */
function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(null);
    });
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => {
        resolve(bound);
      });
    });
  });
}

/**
 * Start `redis-server` on 127.0.0.1, persisting nothing, in a temporary
 * directory; resolves once it answers PING (10 s at most). On
 * `preferredPort` when that port is free — the demo asks for 6379, so other
 * tools (`pnpm sweeper`, `redis-cli`) find it at Redis's usual address —
 * else on any free port.
 */
export async function startEmbeddedRedis(preferredPort?: number): Promise<EmbeddedRedis> {
  if (preferredPort !== undefined && (await tryPort(preferredPort)) !== null) {
    try {
      return await startOn(preferredPort);
    } catch {
      // Taken between the check and redis-server's bind: any free port will do.
    }
  }
  const port = await tryPort(0);
  if (port === null) throw new Error('no free port on 127.0.0.1 for the embedded redis-server');
  return startOn(port);
}

async function startOn(port: number): Promise<EmbeddedRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'session-cluster-demo-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { cwd: dir, stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await pingRedis(url, 300))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`embedded redis-server on port ${port} did not start`);
    }
    await delay(50);
  }
  return { url, stop };
}
