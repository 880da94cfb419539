import type { ExpirySweeperOptions } from '@session-cluster/sweeper';
import type { RedisConnectionOptions } from '@session-cluster/store-redis';

/** pino levels the app accepts in `LOG_LEVEL`. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The worker's configuration, read from the environment. */
export interface SweeperAppConfig {
  /** Options handed to `ExpirySweeper` (ranges are checked there). */
  readonly sweeper: ExpirySweeperOptions;
  readonly logLevel: LogLevel;
  /** Longest graceful shutdown before the process gives up and exits 1, ms. */
  readonly shutdownTimeoutMs: number;
  /** Where the sessions live, without the password, for the start-up log line. */
  readonly redisDescription: string;
}

/** `readSweeperConfig` outcome: a config, or every problem found (one per variable). */
export type ConfigResult =
  | { readonly ok: true; readonly config: SweeperAppConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * The environment variable behind each `ExpirySweeper` option, so a range
 * error raised by the sweeper names what the operator actually set.
 */
export const ENV_OF_OPTION: Readonly<Record<string, string>> = {
  prefix: 'SESSION_PREFIX',
  buckets: 'SESSION_BUCKETS',
  queuePrefix: 'SWEEP_QUEUE_PREFIX',
  intervalMs: 'SWEEP_INTERVAL_MS',
  batchSize: 'SWEEP_BATCH',
  maxBatchesPerJob: 'SWEEP_MAX_BATCHES',
  concurrency: 'SWEEP_CONCURRENCY',
  publishEvents: 'SWEEP_PUBLISH_EVENTS',
  dedupeWindowMs: 'SWEEP_DEDUPE_WINDOW_MS',
  lockDurationMs: 'SWEEP_LOCK_DURATION_MS',
  stalledIntervalMs: 'SWEEP_STALLED_INTERVAL_MS',
  telemetry: 'SWEEP_TELEMETRY',
  startTimeoutMs: 'SWEEP_START_TIMEOUT_MS',
  connection: 'SESSION_REDIS_URL / REDIS_URL / REDIS_CLUSTER_NODES / REDIS_SENTINELS',
  'connection.url': 'SESSION_REDIS_URL / REDIS_URL',
  'connection.cluster.nodes': 'REDIS_CLUSTER_NODES',
  'connection.sentinels': 'REDIS_SENTINELS',
  'connection.name': 'REDIS_SENTINEL_NAME',
};

/**
 * Read and check the environment. Every variable is checked and every
 * problem reported at once; numeric ranges are left to `ExpirySweeper`,
 * whose `INVALID_CONFIG` error the caller maps back with {@link ENV_OF_OPTION}.
 *
 * | variable | meaning |
 * | --- | --- |
 * | `SESSION_REDIS_URL` or `REDIS_URL` | standalone Redis (`redis://…`, `rediss://…`) |
 * | `REDIS_CLUSTER_NODES` | Cluster seed nodes `host:port,host:port` (instead of a URL) |
 * | `REDIS_SENTINELS`, `REDIS_SENTINEL_NAME` | Sentinels `host:port,host:port` and the master's name (instead of a URL) |
 * | `REDIS_PASSWORD` | password of the Cluster nodes or of the Sentinel's master (a URL carries its own) |
 * | `SESSION_PREFIX`, `SESSION_BUCKETS` | the application's store `prefix` and `buckets` |
 * | `SWEEP_INTERVAL_MS`, `SWEEP_BATCH`, `SWEEP_CONCURRENCY`, `SWEEP_MAX_BATCHES` | sweep cadence and size |
 * | `SWEEP_QUEUE_PREFIX`, `SWEEP_PUBLISH_EVENTS`, `SWEEP_DEDUPE_WINDOW_MS` | queues and events |
 * | `SWEEP_LOCK_DURATION_MS`, `SWEEP_STALLED_INTERVAL_MS`, `SWEEP_TELEMETRY` | BullMQ tuning |
 * | `LOG_LEVEL`, `SWEEP_START_TIMEOUT_MS`, `SWEEP_SHUTDOWN_TIMEOUT_MS` | logging, start-up and shutdown bounds |
 */
export function readSweeperConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const integer = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^\d{1,15}$/.test(value)) {
      problems.push(`${name}: expected a whole number, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return Number(value);
  };
  const flag = (name: string): boolean | undefined => {
    const value = text(name)?.toLowerCase();
    if (value === undefined) return undefined;
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    problems.push(`${name}: expected true or false, got ${JSON.stringify(env[name])}`);
    return undefined;
  };

  const url = text('SESSION_REDIS_URL') ?? text('REDIS_URL');
  const clusterNodes = text('REDIS_CLUSTER_NODES');
  const sentinels = text('REDIS_SENTINELS');
  const sentinelName = text('REDIS_SENTINEL_NAME');
  const password = text('REDIS_PASSWORD');
  const withPassword = password === undefined ? {} : { password };
  /** `host:port[,host:port…]`, or undefined (and a problem) when malformed. */
  const addresses = (name: string, value: string): { host: string; port: number }[] | undefined => {
    const parsed = value.split(',').map((node) => {
      const match = /^\s*([^\s:]+):(\d{1,5})\s*$/.exec(node);
      const port = Number(match?.[2]);
      return match === null || port < 1 || port > 65_535
        ? undefined
        : { host: match[1] ?? '', port };
    });
    if (parsed.every((node) => node !== undefined)) return parsed;
    problems.push(`${name}: expected host:port[,host:port…], got ${JSON.stringify(value)}`);
    return undefined;
  };
  const describe = (nodes: readonly { host: string; port: number }[]): string =>
    nodes.map((n) => `${n.host}:${n.port}`).join(',');
  let connection: RedisConnectionOptions | undefined;
  let redisDescription = '';
  const topologies = [url, clusterNodes, sentinels].filter((value) => value !== undefined).length;
  if (topologies > 1) {
    problems.push(
      'set one of SESSION_REDIS_URL/REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS, not several',
    );
  } else if (url !== undefined) {
    if (!/^rediss?:\/\/[^\s]+$/.test(url)) {
      problems.push(`SESSION_REDIS_URL/REDIS_URL: expected redis://host:port or rediss://…`);
    } else if (password !== undefined) {
      problems.push('REDIS_PASSWORD: a URL carries its own (redis://:password@host:port)');
    } else {
      connection = { url };
      redisDescription = url.replace(/\/\/[^@/]*@/, '//***@');
    }
  } else if (clusterNodes !== undefined) {
    const nodes = addresses('REDIS_CLUSTER_NODES', clusterNodes);
    if (nodes !== undefined) {
      connection = { cluster: { nodes }, ...withPassword };
      redisDescription = `cluster ${describe(nodes)}`;
    }
  } else if (sentinels !== undefined) {
    const nodes = addresses('REDIS_SENTINELS', sentinels);
    if (sentinelName === undefined) {
      problems.push("REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the master's name)");
    } else if (nodes !== undefined) {
      connection = { sentinels: nodes, name: sentinelName, ...withPassword };
      redisDescription = `sentinel ${describe(nodes)} master ${sentinelName}`;
    }
  } else {
    problems.push(
      'no Redis: set SESSION_REDIS_URL (or REDIS_URL), REDIS_CLUSTER_NODES or REDIS_SENTINELS',
    );
  }
  if (sentinelName !== undefined && sentinels === undefined) {
    problems.push('REDIS_SENTINEL_NAME: only valid with REDIS_SENTINELS');
  }

  const logLevel = (text('LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(
      `LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  const shutdownTimeoutMs = integer('SWEEP_SHUTDOWN_TIMEOUT_MS') ?? 30_000;

  const sweeper: ExpirySweeperOptions = {
    connection,
    prefix: text('SESSION_PREFIX'),
    buckets: integer('SESSION_BUCKETS'),
    queuePrefix: text('SWEEP_QUEUE_PREFIX'),
    intervalMs: integer('SWEEP_INTERVAL_MS'),
    batchSize: integer('SWEEP_BATCH'),
    maxBatchesPerJob: integer('SWEEP_MAX_BATCHES'),
    concurrency: integer('SWEEP_CONCURRENCY'),
    publishEvents: flag('SWEEP_PUBLISH_EVENTS'),
    dedupeWindowMs: integer('SWEEP_DEDUPE_WINDOW_MS'),
    lockDurationMs: integer('SWEEP_LOCK_DURATION_MS'),
    stalledIntervalMs: integer('SWEEP_STALLED_INTERVAL_MS'),
    telemetry: flag('SWEEP_TELEMETRY'),
    startTimeoutMs: integer('SWEEP_START_TIMEOUT_MS'),
  };
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { sweeper, logLevel, shutdownTimeoutMs, redisDescription } };
}
