/** What the primary hands every worker (as JSON in `SC_DEMO_WORKER`). */
export interface WorkerConfig {
  /** Redis URL, or `null` for memory-only mode. */
  readonly redisUrl: string | null;
  readonly port: number;
  readonly host: string;
  /** Signs session cookies; the same for every instance. */
  readonly secret: string;
  /** Key prefix of this demo's sessions. */
  readonly prefix: string;
  /** Session lifetime, ms. */
  readonly ttlMs: number;
  /** Set the cookie's `Secure` flag (serve over HTTPS, or browse `localhost`). */
  readonly secureCookie: boolean;
}

/**
 * Key prefix of the demo's sessions unless `DEMO_PREFIX` says otherwise.
 * `pnpm sweeper` (apps/sweeper `--demo`) sweeps this prefix by default.
 */
export const DEFAULT_DEMO_PREFIX = 'demo';

/** Environment variable carrying {@link WorkerConfig}. */
export const WORKER_CONFIG_ENV = 'SC_DEMO_WORKER';

/** Read the worker's config from its environment. */
export function readWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const raw = env[WORKER_CONFIG_ENV];
  if (raw === undefined)
    throw new Error(`${WORKER_CONFIG_ENV} is not set (started outside the demo primary?)`);
  return JSON.parse(raw) as WorkerConfig;
}

/** Messages from the primary to a worker. */
export type PrimaryMessage = { readonly type: 'shutdown' };
