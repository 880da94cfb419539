import { startTelemetry } from './start-telemetry.js';
import type { Telemetry } from './start-telemetry.js';
import type { TelemetryOptions } from './telemetry-options.js';

/** Whether `env` asks for telemetry: `OTEL_EXPORTER_OTLP_ENDPOINT` is set and not empty. */
export function telemetryRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  return endpoint !== undefined && endpoint !== '';
}

/**
 * {@link startTelemetry} for a process that exports only when its operator
 * asked for it: started when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (then the
 * standard `OTEL_*` variables apply, `OTEL_SERVICE_NAME` over
 * `options.serviceName`), else nothing is started and the API stays a no-op.
 *
 * @returns the running telemetry, or `undefined` when not asked for
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 * @example
 * ```ts
 * const telemetry = startTelemetryIfConfigured({ serviceName: 'session-sweeper' });
 * // … on shutdown:
 * await telemetry?.shutdown();
 * ```
 */
export function startTelemetryIfConfigured(
  options: TelemetryOptions,
  env: NodeJS.ProcessEnv = process.env,
): Telemetry | undefined {
  if (!telemetryRequested(env)) return undefined;
  const serviceName = env['OTEL_SERVICE_NAME'];
  return startTelemetry({
    ...options,
    serviceName:
      serviceName === undefined || serviceName === '' ? options.serviceName : serviceName,
  });
}
