import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { findFreePort } from './free-port.js';
import { respCommand } from './resp-command.js';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Port to listen on; a free one when absent. */
  readonly port?: number;
  /** Extra `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  readonly args?: readonly string[];
  /** Must port + 10000 be free too (Cluster bus)? */
  readonly clusterBus?: boolean;
  /** How long to wait for PONG. Default 10 s. */
  readonly readyTimeoutMs?: number;
  /**
   * A config file's text, written into the server's directory and passed as
   * the first argument (Sentinel needs a file it can rewrite).
   */
  readonly configText?: string;
}

/** A real `redis-server` child process owned by a test. */
export interface RedisServerHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The current process id (changes on restart), undefined while down. */
  readonly pid: number | undefined;
  /** True while the process runs. */
  readonly running: boolean;
  /** Kill the process (default SIGKILL: no chance to flush or say goodbye) and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start a fresh process on the same port and directory; waits for PONG. */
  restart(): Promise<void>;
  /** Freeze (SIGSTOP) / thaw (SIGCONT) the process: a stalled node, not a dead one. */
  pause(): void;
  resume(): void;
  /** Stop the process and remove its directory. Idempotent. */
  stop(): Promise<void>;
}

/** The `redis-server` binary: `$REDIS_SERVER_BIN` or `redis-server` on PATH. */
export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

// A test runner that dies must not leave redis-servers behind: kill every
// child synchronously on exit (the only thing an 'exit' handler may do).
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

async function waitForPong(
  port: number,
  child: ChildProcess,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited during start-up:\n${log()}`);
    }
    try {
      if ((await respCommand(port, ['PING'], { timeoutMs: 500 })) === 'PONG') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n${log()}`,
      );
    }
    await delay(20);
  }
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
}

/**
 * Start a real `redis-server` on 127.0.0.1 (a free port unless one is given),
 * persisting nothing, in its own temporary directory. Resolves once it answers PING.
 *
 * @example
 * ```ts
 * const redis = await startRedisServer();
 * const client = new Redis(redis.port);
 * // …
 * await redis.stop();
 * ```
 */
export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RedisServerHandle> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'sc-redis-'));
  const configFile = join(dir, 'redis.conf');
  if (options.configText !== undefined) writeFileSync(configFile, options.configText);
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  let port =
    options.port ?? (await findFreePort(options.clusterBus === true ? { busOffset: 10_000 } : {}));
  let child: ChildProcess | undefined;
  let output = '';

  const spawnOnce = async (): Promise<void> => {
    output = '';
    const proc = spawn(
      REDIS_SERVER_BIN,
      [
        ...(options.configText === undefined ? [] : [configFile]),
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--protected-mode',
        'no',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    proc.stderr.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    proc.on('error', (error) => {
      output += `\nspawn error: ${error.message}`;
    });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    child = proc;
    await waitForPong(port, proc, readyTimeoutMs, () => output);
  };

  // Another process may grab the port between the free-port probe and bind:
  // retry on a new port unless the caller pinned one.
  for (let attempt = 0; ; attempt += 1) {
    try {
      await spawnOnce();
      break;
    } catch (error) {
      child?.kill('SIGKILL');
      if (child !== undefined) await waitForExit(child);
      if (options.port !== undefined || attempt >= 3 || !/Address already in use/.test(output)) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      port = await findFreePort(options.clusterBus === true ? { busOffset: 10_000 } : {});
    }
  }

  let stopped = false;
  const handle: RedisServerHandle = {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get pid() {
      return child !== undefined && child.exitCode === null && child.signalCode === null
        ? child.pid
        : undefined;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child === undefined) return;
      const current = child;
      current.kill('SIGCONT'); // a paused process cannot act on SIGTERM
      current.kill(signal);
      await waitForExit(current);
    },
    async restart() {
      if (handle.running) await handle.kill();
      await spawnOnce();
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await handle.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/**
 * Start `count` independent redis-servers (e.g. 3 Redlock voters). All or
 * nothing: if one fails, the others are stopped.
 */
export async function startRedisNodes(
  count: number,
  options: RedisServerOptions = {},
): Promise<RedisServerHandle[]> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, () => startRedisServer(options)),
  );
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  return started;
}

/** Options of {@link startRedisSentinel}. */
export interface RedisSentinelOptions {
  /** The master group name clients ask for. */
  readonly name: string;
  /** The master to monitor (its replicas are discovered through it). */
  readonly master: { readonly host: string; readonly port: number };
  /** `down-after-milliseconds`: how long a silent master takes to count as down. Default 1 000. */
  readonly downAfterMs?: number;
}

/**
 * Start a real Redis Sentinel (`redis-server --sentinel`) on a free port,
 * monitoring one master with quorum 1: enough for a test to run a failover
 * (`SENTINEL FAILOVER <name>`) or to let it happen by killing the master.
 * The handle is a {@link RedisServerHandle} (PING works on a Sentinel).
 */
export function startRedisSentinel(options: RedisSentinelOptions): Promise<RedisServerHandle> {
  const { name, master } = options;
  const downAfterMs = options.downAfterMs ?? 1_000;
  return startRedisServer({
    configText: [
      `sentinel monitor ${name} ${master.host} ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} ${Math.max(5_000, 3 * downAfterMs)}`,
      '',
    ].join('\n'),
    args: ['--sentinel'],
  });
}
