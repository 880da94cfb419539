import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/**
 * How many recording spans are open (started, not yet ended) in a tracer
 * provider: a span processor that counts them. When none is open, no code
 * can be running inside a recording span of that provider, so a `get` the
 * instance cache answers needs no look at the active context to know it
 * gets no span (`cachedReadSpans: 'in-trace'`).
 *
 * That look (`context.active()`, the span in it, `isRecording()`) was
 * nearly all of what a subscribed cached `get` cost under the SDK: ~30 ns
 * of ~350 (2026-12-07). Only recording spans reach a processor, so the
 * count costs nothing for unsampled work, and two additions per recorded
 * span. A span never ended keeps the count above zero: every cached read
 * then looks at its context, as without this.
 *
 * `startTelemetry` registers one and gives it to the session
 * instrumentation; with an SDK of your own, add one to your provider's
 * processors and pass it as `instrumentSessionCluster({ recordingSpans })`.
 *
 * @example
 * ```ts
 * const recordingSpans = new RecordingSpans();
 * const sdk = new NodeSDK({ spanProcessors: [recordingSpans, exporting], … });
 * instrumentSessionCluster({ recordingSpans });
 * ```
 */
export class RecordingSpans implements SpanProcessor {
  private count = 0;

  /** Recording spans started and not yet ended. */
  public get open(): number {
    return this.count;
  }

  public onStart(_span: Span, _parentContext: Context): void {
    this.count += 1;
  }

  public onEnd(_span: ReadableSpan): void {
    this.count -= 1;
  }

  public forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  public shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
