/**
 * The application process of the end-to-end test, started as
 *
 *   node --import tsx --conditions=@session-cluster/source \
 *        --import @session-cluster/telemetry/register traced-app.test-helpers.ts
 *
 * with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at the test's receiver and
 * `REDIS_URL` at its redis-server. Telemetry starts first; the app (express,
 * the session cluster) is imported after it, as an entry point should do.
 */
import { startTelemetry } from './start-telemetry.js';

// Redis command spans on (off by default): the trace shows them under the operation spans.
const telemetry = startTelemetry({
  serviceName: 'traced-app',
  serviceVersion: '0.0.0-test',
  instrumentations: { ioredis: true },
});
const { runTracedApp } = await import('./traced-app-server.test-helpers.js');
await runTracedApp(telemetry);
