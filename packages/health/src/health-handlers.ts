import type { IncomingMessage, ServerResponse } from 'node:http';
import { createOptionChecks, toSessionError } from '@session-cluster/core';
import type { HealthMonitor } from './health-monitor.js';

/** Options of {@link createHealthHandlers}. */
export interface HealthHandlersOptions {
  /** Answer `/readyz` with 200 while `degraded` (serving from the fallback). Default true. */
  readonly readyWhenDegraded?: boolean | undefined;
  /**
   * When set, `readiness` first runs {@link HealthMonitor.check} if the last
   * probe finished more than this many ms ago (or never ran). Concurrent
   * requests share one probe. Needs the monitor's `probe` option.
   * Default: never probe from the handler.
   */
  readonly probeMaxAgeMs?: number | undefined;
}

/** A handler for `node:http` that also works as an Express handler. */
export type HealthHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What {@link createHealthHandlers} returns. */
export interface HealthHandlers {
  /** `/healthz`: 200 `{"status":"ok"}` while the process can answer at all. */
  readonly liveness: HealthHandler;
  /**
   * `/readyz`: 200 with the {@link HealthReport} while healthy (or degraded,
   * with `readyWhenDegraded`), 503 with the report otherwise. Never rejects.
   */
  readonly readiness: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/**
 * Framework-neutral liveness and readiness handlers. Routing is the app's:
 * mount them where it wants (`/healthz`, `/readyz`). Bodies are JSON with
 * `Cache-Control: no-store`; a `HEAD` request gets the status and headers only.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the bad option
 * @example
 * ```ts
 * const { liveness, readiness } = createHealthHandlers(monitor, { probeMaxAgeMs: 10_000 });
 * http.createServer((req, res) => {
 *   if (req.url === '/healthz') return liveness(req, res);
 *   if (req.url === '/readyz') return void readiness(req, res);
 *   res.statusCode = 404; res.end();
 * });
 * // Express: app.get('/healthz', liveness); app.get('/readyz', readiness);
 * ```
 */
export function createHealthHandlers(
  monitor: HealthMonitor,
  options: HealthHandlersOptions = {},
): HealthHandlers {
  const { readyWhenDegraded, probeMaxAgeMs } = resolveHandlerOptions(monitor, options);

  const liveness: HealthHandler = (req, res) => {
    sendJson(req, res, 200, { status: 'ok' });
  };

  const readiness = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      if (probeMaxAgeMs !== undefined) {
        const age = monitor.lastProbeAgeMs;
        if (age === null || age > probeMaxAgeMs) {
          await monitor.check();
        }
      }
      const report = monitor.report();
      const ready =
        report.status === 'healthy' || (report.status === 'degraded' && readyWhenDegraded);
      sendJson(req, res, ready ? 200 : 503, report);
    } catch (error) {
      // Only a bug can get here; still answer, since a hanging readiness
      // request is worse for a load balancer than a 503.
      const { code } = toSessionError(error);
      sendJson(req, res, 503, { status: 'unhealthy', reasons: [`readiness failed: ${code}`] });
    }
  };

  return { liveness, readiness };
}

const check = createOptionChecks('createHealthHandlers');

function resolveHandlerOptions(
  monitor: HealthMonitor,
  options: HealthHandlersOptions,
): { readyWhenDegraded: boolean; probeMaxAgeMs: number | undefined } {
  const readyWhenDegraded = check.boolean(options.readyWhenDegraded, 'readyWhenDegraded') ?? true;
  const probeMaxAgeMs = check.integer(options.probeMaxAgeMs, 'probeMaxAgeMs', 0);
  if (probeMaxAgeMs !== undefined && !monitor.hasProbe) {
    throw check.refuse('probeMaxAgeMs', 'needs a monitor with the probe option');
  }
  return { readyWhenDegraded, probeMaxAgeMs };
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(req.method === 'HEAD' ? undefined : json);
}
