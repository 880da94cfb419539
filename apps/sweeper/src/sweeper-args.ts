import { parseArgs } from 'node:util';

/** `node dist/main.js --help`. */
export const SWEEPER_USAGE = `Usage: node apps/sweeper/dist/main.js [--demo]
       npx -y pnpm@12.21.0 sweeper            (from the repository root: builds, then runs with --demo)

The expiry sweeper worker: sweeps expired sessions out of every index and
publishes one session.expired job per expiry. Configured by environment
variables; run as many as you like, BullMQ hands each bucket's job to one.

Options:
  --demo        defaults of the demo (pnpm start): REDIS_URL=redis://127.0.0.1:6379
                and SESSION_PREFIX=$DEMO_PREFIX or "demo"; variables you set still win
  -h, --help    print this and exit

Environment (see apps/sweeper/README.md for every variable):
  SESSION_REDIS_URL or REDIS_URL   redis://[:password@]host:port[/db] or rediss://…
  REDIS_CLUSTER_NODES              host:port,host:port (Redis Cluster seeds, instead of a URL)
  REDIS_SENTINELS                  host:port,host:port, with REDIS_SENTINEL_NAME
  SESSION_PREFIX                   your RedisStore's prefix (default "sc")
  SESSION_BUCKETS                  your RedisStore's buckets (default 64)
  SWEEP_INTERVAL_MS                each bucket is swept once per interval (default 5000)
  SWEEP_PUBLISH_EVENTS             false when nothing consumes session.expired
  LOG_LEVEL                        pino level (default info)

Exit codes: 0 after SIGTERM/SIGINT, 2 on bad configuration, 1 when Redis
cannot be reached at start-up or a shutdown overruns.
`;

/** What the command line asks for. */
export type SweeperCommand =
  | { readonly kind: 'run'; readonly demo: boolean }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** Read `argv` (without node and the script); never throws. */
export function parseSweeperArgs(argv: readonly string[]): SweeperCommand {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        demo: { type: 'boolean' },
      },
    });
    if (values.help === true) return { kind: 'help' };
    return { kind: 'run', demo: values.demo === true };
  } catch (error) {
    // node:util's ERR_PARSE_ARGS_* errors: an unknown option or a stray argument.
    return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Where the demo keeps its sessions by default: `REDIS_URL` falls back to
 * this address (where the demo also starts its private redis-server when
 * the port is free), and its key prefix is `DEMO_PREFIX`, default `demo`
 * (apps/demo `primary.ts`).
 */
export const DEMO_DEFAULTS = Object.freeze({
  redisUrl: 'redis://127.0.0.1:6379',
  prefix: 'demo',
});

const REDIS_VARIABLES = [
  'SESSION_REDIS_URL',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'REDIS_SENTINELS',
];

/**
 * `env` with the demo's defaults filled in where nothing is set (an empty
 * variable counts as unset, as in `readSweeperConfig`): a Redis address when
 * none of the Redis variables is given, and the demo's prefix.
 */
export function withDemoDefaults(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  const set = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const filled: Record<string, string | undefined> = { ...env };
  if (REDIS_VARIABLES.every((name) => set(name) === undefined)) {
    filled['REDIS_URL'] = DEMO_DEFAULTS.redisUrl;
  }
  filled['SESSION_PREFIX'] = set('SESSION_PREFIX') ?? set('DEMO_PREFIX') ?? DEMO_DEFAULTS.prefix;
  return filled;
}
