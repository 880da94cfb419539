import { startTelemetryIfConfigured, telemetryRequested } from '@session-cluster/telemetry';

/**
 * Node flags a demo instance needs for telemetry: the ESM loader hook that
 * lets the ioredis/express/http instrumentations patch modules loaded with
 * `import` (see `@session-cluster/telemetry/register`). Empty when off.
 */
export function telemetryExecArgv(env: NodeJS.ProcessEnv = process.env): string[] {
  // Resolved here (not by Node from the working directory, where pnpm's
  // strict layout has no such package).
  const hook = import.meta.resolve('@session-cluster/telemetry/register');
  return telemetryRequested(env) ? ['--import', hook] : [];
}

/**
 * Start OpenTelemetry in this instance when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * is set: traces (and OTLP metrics) to Jaeger or any OTLP/HTTP collector,
 * standard `OTEL_*` variables honoured. Call it before the session layer is
 * created, so its meters bind to the SDK's provider.
 *
 * @returns a stopper (flushes and shuts the SDK down), or `undefined` when off
 */
export function maybeStartTelemetry(
  instance: string,
  env: NodeJS.ProcessEnv = process.env,
): (() => Promise<void>) | undefined {
  const telemetry = startTelemetryIfConfigured(
    {
      serviceName: 'session-cluster-demo',
      resourceAttributes: { 'service.instance.id': `${instance}-${process.pid}` },
      otlpMetrics: true,
      // The Jaeger walk-through (docs/tracing.md) shows each Redis command
      // under its operation span: opt in, as the library leaves it off.
      instrumentations: { ioredis: true },
    },
    env,
  );
  return telemetry === undefined ? undefined : () => telemetry.shutdown();
}
