import { performance } from 'node:perf_hooks';

/** One operation under load; `slot` is the in-flight lane (0 … concurrency-1), `i` the lane's iteration. */
export type LoadOperation = (slot: number, i: number) => Promise<unknown>;

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Operations in the measured phase. */
  readonly ops: number;
  /** Operations kept in flight. */
  readonly concurrency: number;
  /** Operations run (and thrown away) first, to warm JIT, connections and scripts. */
  readonly warmupOps?: number;
}

/** What {@link runLoad} measured. */
export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly durationMs: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** The q-quantile (0…1) of an ascending-sorted array (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

async function drive(
  op: LoadOperation,
  ops: number,
  concurrency: number,
  latencies: number[] | undefined,
): Promise<{ errors: number; firstError: string | undefined }> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const lanes = Array.from({ length: Math.min(concurrency, ops) }, async (_, slot) => {
    let i = 0;
    while (next < ops) {
      next += 1;
      const started = performance.now();
      try {
        await op(slot, i);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      latencies?.push(performance.now() - started);
      i += 1;
    }
  });
  await Promise.all(lanes);
  return { errors, firstError };
}

/**
 * Run `op` `ops` times with `concurrency` in flight (closed loop: each lane
 * starts its next operation when the previous one settles) and report
 * throughput and latency quantiles. Errors are counted, not thrown.
 */
export async function runLoad(op: LoadOperation, options: LoadOptions): Promise<LoadResult> {
  const warmup = options.warmupOps ?? Math.min(2_000, Math.ceil(options.ops / 5));
  if (warmup > 0) await drive(op, warmup, options.concurrency, undefined);
  const latencies: number[] = [];
  const started = performance.now();
  const { errors, firstError } = await drive(op, options.ops, options.concurrency, latencies);
  const durationMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    ops: options.ops,
    errors,
    firstError,
    durationMs,
    opsPerSec: (options.ops / durationMs) * 1_000,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
}

/**
 * `items` starting at index `by` (modulo its length) and wrapping round: a
 * round's order, so that no item always runs first or after the same one.
 */
export function rotated<T>(items: readonly T[], by: number): T[] {
  const start = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}
