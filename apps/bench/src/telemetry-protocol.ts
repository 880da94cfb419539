/**
 * What the telemetry benchmark and its worker processes share: variants,
 * processes, and the IPC messages between them (see `telemetry-worker.ts`).
 */

/**
 * Which setup a worker runs. `sdk-in-trace`: the `sdk` setup with every
 * operation inside a recording parent span (as under a traced HTTP
 * request), so a cached `get` gets its span there. `sdk-floor`: the
 * `sdk-sampled` process with our telemetry off, each operation wrapped by
 * the least any OpenTelemetry instrumentation of it does (one span asked of
 * the 10 % sampler, two attributes when it records, one histogram sample):
 * the floor `sdk-sampled` is measured against.
 */
export type TelemetryVariant =
  | 'off'
  | 'no-sdk'
  | 'sdk'
  | 'sdk-in-trace'
  | 'sdk-sampled'
  | 'sdk-floor'
  | 'sdk-unsampled'
  | 'sdk-bare';

/** Head-sampling ratio of the `sdk-sampled` variant. */
export const SAMPLED_RATIO = 0.1;

/** Which process a variant runs in. */
export type TelemetryProcess = 'plain' | 'sdk' | 'sdk-sampled' | 'sdk-unsampled';

/** The process of each variant. */
export const PROCESS_OF: Readonly<Record<TelemetryVariant, TelemetryProcess>> = {
  off: 'plain',
  'no-sdk': 'plain',
  sdk: 'sdk',
  'sdk-in-trace': 'sdk',
  'sdk-sampled': 'sdk-sampled',
  'sdk-floor': 'sdk-sampled',
  'sdk-unsampled': 'sdk-unsampled',
  'sdk-bare': 'sdk-unsampled',
};

/** Messages the benchmark sends. */
export type WorkerCommand =
  | {
      readonly type: 'run';
      readonly variant: TelemetryVariant;
      readonly scenario: 'get' | 'update';
      readonly ops: number;
      readonly lanes: number;
    }
  | { readonly type: 'exit' };

/** Messages a worker sends. */
export type WorkerReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      readonly opsPerSec: number;
      /** Process CPU time (user + system) per operation, µs. */
      readonly cpuMicrosPerOp: number;
      readonly errors: number;
      readonly spansEnded: number;
    }
  | { readonly type: 'closed'; readonly spansEnded: number };
