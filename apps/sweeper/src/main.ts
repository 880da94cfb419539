/**
 * The expiry sweeper worker: `node dist/main.js [--demo] [--help]`
 * (configured by environment variables, see `sweeper-config.ts` and the
 * README; `--demo` fills in the demo's Redis and prefix). Runs any number of
 * times side by side; BullMQ hands each bucket's sweep job to one of them.
 *
 * Exit codes: 0 after a graceful SIGTERM/SIGINT, 2 on bad configuration
 * (with a message naming each bad variable on stderr), 1 when it cannot
 * start (Redis unreachable) or a shutdown overruns SWEEP_SHUTDOWN_TIMEOUT_MS.
 * A second SIGTERM/SIGINT during shutdown kills it at once.
 */
import { isSessionError, toSessionError } from '@session-cluster/core';
import { ExpirySweeper } from '@session-cluster/sweeper';
import type { SweeperStats } from '@session-cluster/sweeper';
import { startTelemetryIfConfigured } from '@session-cluster/telemetry';
import { pino } from 'pino';
import { LogThrottle } from './log-throttle.js';
import { SWEEPER_USAGE, parseSweeperArgs, withDemoDefaults } from './sweeper-args.js';
import { ENV_OF_OPTION, readSweeperConfig } from './sweeper-config.js';

const EXIT_BAD_CONFIG = 2;

function exitBadConfig(problems: readonly string[]): never {
  process.stderr.write(
    `session sweeper: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
  );
  process.exit(EXIT_BAD_CONFIG);
}

const command = parseSweeperArgs(process.argv.slice(2));
if (command.kind === 'help') {
  process.stdout.write(SWEEPER_USAGE);
  process.exit(0);
}
if (command.kind === 'error') {
  process.stderr.write(`session sweeper: ${command.message}\n\n${SWEEPER_USAGE}`);
  process.exit(EXIT_BAD_CONFIG);
}

const result = readSweeperConfig(command.demo ? withDemoDefaults(process.env) : process.env);
if (!result.ok) exitBadConfig(result.problems);
const { config } = result;

// Before the sweeper exists: its tracer and meters bind to the SDK's
// providers. Sweep jobs become `session.sweep` spans linked to the trace that
// scheduled them. (Redis command spans also need
// `--import @session-cluster/telemetry/register`.)
const telemetry = startTelemetryIfConfigured({
  serviceName: 'session-sweeper',
  resourceAttributes: { 'service.instance.id': `sweeper-${process.pid}` },
});

let sweeper: ExpirySweeper;
try {
  sweeper = new ExpirySweeper(config.sweeper);
} catch (error) {
  if (isSessionError(error) && error.code === 'INVALID_CONFIG') {
    const field = typeof error.details?.['field'] === 'string' ? error.details['field'] : '';
    exitBadConfig([`${ENV_OF_OPTION[field] ?? field}: ${error.message}`]);
  }
  throw error;
}

const logger = pino({ name: 'session-sweeper', level: config.logLevel });
const options = sweeper.options;

sweeper.on('sweepFailed', ({ bucket, error }) => {
  logger.warn(
    { bucket, error: error.toJSON() },
    'sweep job failed; the next job of the bucket retries',
  );
});
const queueErrors = new LogThrottle(30_000);
sweeper.on('schedulersRestored', (changes) => {
  logger.warn(changes, 'job schedulers were missing after a reconnect (Redis lost them): put back');
});
sweeper.on('queueError', ({ source, error }) => {
  const suppressed = queueErrors.admit(`${source}:${error.code}`);
  if (suppressed === undefined) return;
  logger.warn({ source, error: error.toJSON(), suppressed }, 'BullMQ reported an error');
});

// One progress line per interval: what this process swept since the last one.
let last: SweeperStats = sweeper.stats;
const progress = setInterval(() => {
  const now = sweeper.stats;
  logger.info(
    {
      swept: now.expired - last.expired,
      orphans: now.orphans - last.orphans,
      published: now.published - last.published,
      republished: now.republished - last.republished,
      jobs: now.jobs - last.jobs,
      failedJobs: now.failedJobs - last.failedJobs,
      totalSwept: now.expired,
    },
    'progress',
  );
  last = now;
}, options.intervalMs);
progress.unref();

// An object, not a `let`: the flag is flipped by a signal handler while `start()` is awaited.
const lifecycle = { shuttingDown: false };
function shutdown(signal: NodeJS.Signals): void {
  if (lifecycle.shuttingDown) return;
  lifecycle.shuttingDown = true;
  clearInterval(progress);
  logger.info({ signal }, 'stopping: no new jobs, finishing the batch in hand');
  const deadline = setTimeout(() => {
    logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful shutdown timed out');
    process.exit(1);
  }, config.shutdownTimeoutMs);
  deadline.unref();
  sweeper
    .close()
    .then(() => telemetry?.shutdown())
    .then(
      () => {
        logger.info({ totals: sweeper.stats }, 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ error: toSessionError(error).toJSON() }, 'shutdown failed');
        process.exit(1);
      },
    );
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

try {
  const schedulers = await sweeper.start();
  logger.info(
    {
      redis: config.redisDescription,
      prefix: sweeper.store.prefix,
      buckets: sweeper.store.bucketCount,
      queuePrefix: options.queuePrefix,
      sweepQueue: options.sweepQueueName,
      eventsQueue: options.publishEvents ? options.eventsQueueName : null,
      intervalMs: options.intervalMs,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      schedulers,
    },
    'sweeper started',
  );
} catch (error) {
  if (!lifecycle.shuttingDown) {
    logger.fatal({ error: toSessionError(error).toJSON() }, 'sweeper could not start');
    await sweeper.close().catch(() => undefined);
    process.exit(1);
  }
}
