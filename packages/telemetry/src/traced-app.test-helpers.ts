/**
 * The application process of the end-to-end test, started as
 *
 *   node --import tsx --conditions=@session-cluster/source \
 *        --import @session-cluster/telemetry/register traced-app.test-helpers.ts
 *
 * with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at the test's receiver and
 * `REDIS_URL` at its redis-server (`CACHED_READ_SPANS`: the
 * `cachedReadSpans` option, default unset). Telemetry starts first; the app
 * (express, the session cluster) is imported after it, as an entry point
 * should do.
 */
import type { CachedReadSpans } from './operation-tracing.js';
import { startTelemetry } from './start-telemetry.js';

const cachedReadSpans = process.env['CACHED_READ_SPANS'] as CachedReadSpans | undefined;

// Redis command spans on (off by default): the trace shows them under the operation spans.
const telemetry = startTelemetry({
  serviceName: 'traced-app',
  serviceVersion: '0.0.0-test',
  instrumentations: { ioredis: true },
  ...(cachedReadSpans === undefined ? {} : { cachedReadSpans }),
});
const { runTracedApp } = await import('./traced-app-server.test-helpers.js');
await runTracedApp(telemetry);
