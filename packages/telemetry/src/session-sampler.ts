import { TraceFlags, trace } from '@opentelemetry/api';
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import type { Sampler, SamplingResult } from '@opentelemetry/sdk-trace';
import type { PooledIdGenerator } from './pooled-id-generator.js';

/** What a {@link SessionSampler} samples: the standard samplers `OTEL_TRACES_SAMPLER` names. */
export interface SessionSampling {
  /** Fraction of traces sampled, by trace id (`traceidratio`), in [0, 1]: 1 is `always_on`, 0 `always_off`. */
  readonly ratio: number;
  /** A span with a parent follows the parent's decision (`parentbased_*`); the ratio decides new traces only. */
  readonly parentBased: boolean;
}

/** 2^32 − 1: the SDK's `TraceIdRatioBasedSampler` scales its ratio by this. */
const MAX_UINT32 = 4_294_967_295;

/**
 * One of the standard samplers (`ParentBased` or not, over `AlwaysOn`,
 * `AlwaysOff` or `TraceIdRatioBased`), whose decision can also be known
 * before a span is started ({@link willSample}), for a tracer provider
 * given the same {@link PooledIdGenerator}: what lets the session
 * instrumentation drop an operation without asking the SDK for a span.
 *
 * The SDK makes a span's ids, calls its sampler, counts the decision and
 * wraps a non-recording span for every span it is asked for; an unsampled
 * `manager.update` against Redis paid ~0.6 µs for that under `always_off`
 * and ~0.85 µs under a ratio sampler, of ~30 µs (CPU profiles,
 * 2026-12-07). {@link willSample} reads the parent's sampled flag, or for a
 * new trace draws the trace id the SDK will be given next and applies the
 * ratio to its bytes — the same decision, on the same id, as `shouldSample`
 * makes when the span is then started.
 *
 * `shouldSample` itself is the SDK's own samplers', so every other span
 * (HTTP, Redis commands) is sampled exactly as they sample it.
 *
 * @example
 * ```ts
 * const idGenerator = new PooledIdGenerator();
 * const sampler = new SessionSampler({ ratio: 0.1, parentBased: true }, idGenerator);
 * const sdk = new NodeSDK({ idGenerator, sampler, … });
 * instrumentSessionCluster({ sampler });
 * ```
 */
export class SessionSampler implements Sampler {
  /** The ratio, clamped to [0, 1]. */
  public readonly ratio: number;
  public readonly parentBased: boolean;
  private readonly delegate: Sampler;
  /** The ratio sampler of new traces, or undefined when the ratio is 0 or 1. */
  private readonly byTraceId: TraceIdRatioBasedSampler | undefined;
  /** A new trace is sampled when its id's hash is below this (the SDK's bound). */
  private readonly upperBound: number;

  /**
   * @param sampling what to sample
   * @param ids the id generator of the tracer provider this sampler is given to
   */
  public constructor(
    sampling: SessionSampling,
    private readonly ids: PooledIdGenerator,
  ) {
    const ratio = Number.isNaN(sampling.ratio) ? 0 : Math.min(1, Math.max(0, sampling.ratio));
    this.ratio = ratio;
    this.parentBased = sampling.parentBased;
    this.byTraceId = ratio > 0 && ratio < 1 ? new TraceIdRatioBasedSampler(ratio) : undefined;
    this.upperBound = Math.floor(ratio * MAX_UINT32);
    const root: Sampler =
      this.byTraceId ?? (ratio >= 1 ? new AlwaysOnSampler() : new AlwaysOffSampler());
    this.delegate = sampling.parentBased ? new ParentBasedSampler({ root }) : root;
  }

  /** The standard sampler's decision (see the class comment). */
  public shouldSample(
    context: Context,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    return this.delegate.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  /**
   * Whether a span started now under `parent` will be sampled. Call it right
   * before `tracer.startSpan(…, parent)`: for a new trace it draws the trace
   * id that span gets (and a trace it drops costs no id string).
   */
  public willSample(parent: Context): boolean {
    const parentSpan = trace.getSpanContext(parent);
    if (parentSpan !== undefined && trace.isSpanContextValid(parentSpan)) {
      if (this.parentBased) return (parentSpan.traceFlags & TraceFlags.SAMPLED) !== 0;
      // Not parent-based: the ratio decides on the trace's id, as for its root.
      if (this.byTraceId === undefined) return this.ratio >= 1;
      return (
        this.byTraceId.shouldSample(parent, parentSpan.traceId).decision ===
        SamplingDecision.RECORD_AND_SAMPLED
      );
    }
    if (this.byTraceId === undefined) return this.ratio >= 1;
    return this.ids.drawTraceId() < this.upperBound;
  }

  public toString(): string {
    return `SessionSampler{${this.delegate.toString()}}`;
  }
}
