import type { HealthReport } from '@session-cluster/health';
import type { SessionMiddlewareStats } from '@session-cluster/express';

function labels(values: Readonly<Record<string, string>>): string {
  const inner = Object.entries(values)
    .map(
      ([k, v]) =>
        `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`,
    )
    .join(',');
  return `{${inner}}`;
}

/**
 * This instance's health figures in the Prometheus text format (0.0.4),
 * served on `/metrics` until the OpenTelemetry metrics of
 * `@session-cluster/telemetry` are wired in. Every series carries the
 * instance label: each scrape reaches one instance of the cluster.
 */
export function metricsText(
  instance: string,
  report: HealthReport,
  stats: SessionMiddlewareStats,
): string {
  const base = { instance };
  const lines: string[] = [
    '# HELP session_cluster_healthy 1 when the health status is healthy.',
    '# TYPE session_cluster_healthy gauge',
    `session_cluster_healthy${labels(base)} ${report.status === 'healthy' ? 1 : 0}`,
    '# HELP session_cluster_degraded 1 while sessions are served from the in-memory fallback.',
    '# TYPE session_cluster_degraded gauge',
    `session_cluster_degraded${labels(base)} ${report.degraded ? 1 : 0}`,
    '# HELP session_cluster_breaker_open 1 unless the circuit breaker in front of Redis is closed.',
    '# TYPE session_cluster_breaker_open gauge',
    `session_cluster_breaker_open${labels(base)} ${report.breaker === 'closed' ? 0 : 1}`,
    '# HELP session_cluster_http_sessions_created_total Sessions stored by a first write on this instance.',
    '# TYPE session_cluster_http_sessions_created_total counter',
    `session_cluster_http_sessions_created_total${labels(base)} ${stats.sessionsCreated}`,
    '# HELP session_cluster_http_rejected_cookies_total Tampered, unsigned or malformed session cookies.',
    '# TYPE session_cluster_http_rejected_cookies_total counter',
    `session_cluster_http_rejected_cookies_total${labels(base)} ${stats.rejectedCookies}`,
    '# HELP session_cluster_http_commit_failures_total Session commits that reached the error handler.',
    '# TYPE session_cluster_http_commit_failures_total counter',
    `session_cluster_http_commit_failures_total${labels(base)} ${stats.commitFailures}`,
    '# HELP session_cluster_operation_window_count Manager operations in the health window.',
    '# TYPE session_cluster_operation_window_count gauge',
    '# HELP session_cluster_operation_success_ratio Success rate over the health window.',
    '# TYPE session_cluster_operation_success_ratio gauge',
    '# HELP session_cluster_operation_latency_ms Latency quantiles over the health window, ms.',
    '# TYPE session_cluster_operation_latency_ms gauge',
  ];
  for (const [operation, op] of Object.entries(report.operations)) {
    const at = { instance, operation };
    lines.push(`session_cluster_operation_window_count${labels(at)} ${op.count}`);
    if (op.successRate !== null) {
      lines.push(`session_cluster_operation_success_ratio${labels(at)} ${op.successRate}`);
    }
    for (const [quantile, value] of [
      ['0.5', op.latencyMs.p50],
      ['0.95', op.latencyMs.p95],
      ['0.99', op.latencyMs.p99],
    ] as const) {
      if (value !== null)
        lines.push(`session_cluster_operation_latency_ms${labels({ ...at, quantile })} ${value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
