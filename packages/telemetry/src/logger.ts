import { isSpanContextValid, trace } from '@opentelemetry/api';
import { maskSessionIds } from '@session-cluster/core';
import { pino } from 'pino';
import type { DestinationStream, Level, Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** `service` field of every line (the `service.name` of the process). */
  readonly serviceName: string;
  /** Lowest level written. Default `LOG_LEVEL` from the environment, else `info`. */
  readonly level?: Level | undefined;
  /** Where lines go. Default stdout. */
  readonly destination?: DestinationStream | undefined;
}

/** Deep copy of `value` with every string's session-id-shaped tokens masked. */
function maskDeep(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskSessionIds(value);
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => maskDeep(item, depth + 1));
  if (value instanceof Error) {
    return { type: value.name, message: maskSessionIds(value.message) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = maskDeep(item, depth + 1);
  return out;
}

/**
 * Structured JSON logs (pino) that line up with traces: every line written
 * while a span is active carries its `trace_id`, `span_id` and
 * `trace_flags` (the field names OpenTelemetry's log data model and Jaeger
 * use), so a log line leads to its trace. Session ids never appear raw:
 * anything shaped like one — in the message or in any field, however deep
 * — is written as `<sid:hash>`, the hash spans use.
 *
 * @example
 * ```ts
 * const log = createLogger({ serviceName: 'shop' });
 * log.info({ sessionId: sid }, 'cart updated'); // {"sessionId":"<sid:1f2e…>","trace_id":"…",…}
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const envLevel = process.env['LOG_LEVEL'];
  const level =
    options.level ??
    (envLevel !== undefined && envLevel in pino.levels.values ? (envLevel as Level) : 'info');
  return pino(
    {
      level,
      base: { service: options.serviceName, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin() {
        const span = trace.getActiveSpan();
        if (span === undefined) return {};
        const spanContext = span.spanContext();
        if (!isSpanContextValid(spanContext)) return {};
        return {
          trace_id: spanContext.traceId,
          span_id: spanContext.spanId,
          trace_flags: `0${spanContext.traceFlags.toString(16)}`,
        };
      },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => maskDeep(object, 0) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const masked = args.map((arg) => (typeof arg === 'string' ? maskSessionIds(arg) : arg));
          method.apply(this, masked as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination(1),
  );
}
