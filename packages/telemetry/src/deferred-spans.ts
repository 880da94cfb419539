import { performance } from 'node:perf_hooks';
import { SpanKind, TraceFlags, diag, trace } from '@opentelemetry/api';
import type {
  Attributes,
  AnyValue,
  Context,
  Exception,
  Link,
  Span,
  SpanContext,
  SpanStatus,
  TimeInput,
  Tracer,
} from '@opentelemetry/api';

/** The ids a deferred span needs from the tracer provider's id generator. */
export interface DeferredSpanIds {
  /** A new span id, as the provider's id generator makes them. */
  generateSpanId(): string;
  /**
   * The ids the provider's next span gets: its trace id (a new trace's),
   * its span id; `undefined` leaves that one to the generator.
   */
  handOver(traceId: string | undefined, spanId: string | undefined): void;
}

/** An event or an exception, in the order they were recorded. */
interface Recorded {
  readonly name: string;
  readonly attributes: Attributes | undefined;
  readonly exception: Exception | undefined;
  readonly time: TimeInput;
}

/**
 * A sampled span recorded as plain data while its operation runs, then
 * started and ended on the SDK with its recorded times, together with the
 * spans that ended in the same turn of the event loop ({@link DeferredSpans}).
 *
 * Why: at 10 % head sampling a recorded `manager.update` span cost several
 * times what it costs when every operation records (`--suite telemetry`,
 * 2026-12-07): the SDK's span code ran cold, one span between many
 * operations that made none. Built in a burst it runs warm; while the
 * operation runs, recording is a few property writes.
 *
 * Only for spans that no other span is started under while they run (no
 * child spans, never the active context). Its span context is made when
 * first asked (a reconciliation's link to the operation that brought
 * Redis back), from the sampler's trace id and a span id of the provider's
 * generator, and handed to the SDK when the span is built, so the link
 * names the exported span.
 */
export class DeferredSpan implements Span {
  private readonly attributes: Attributes = {};
  private recorded: Recorded[] | undefined = undefined;
  private status: SpanStatus | undefined = undefined;
  private endTime: TimeInput | undefined = undefined;
  private context: SpanContext | undefined = undefined;

  /**
   * @param name span name
   * @param parent the context it is started in
   * @param startTime when it started (`performance.now()`)
   * @param traceId the trace id the sampler drew for a new trace, or
   *   `undefined` when it joins `parent`'s trace
   * @param batch where it goes once ended
   */
  public constructor(
    private name: string,
    private readonly parent: Context,
    private readonly startTime: number,
    private readonly traceId: string | undefined,
    private readonly batch: DeferredSpans,
  ) {}

  public spanContext(): SpanContext {
    if (this.context !== undefined) return this.context;
    const parent = trace.getSpanContext(this.parent);
    this.context = {
      traceId: this.traceId ?? parent?.traceId ?? '',
      spanId: this.batch.ids.generateSpanId(),
      traceFlags: TraceFlags.SAMPLED,
      ...(parent?.traceState === undefined ? {} : { traceState: parent.traceState }),
    };
    return this.context;
  }

  public setAttribute(key: string, value: AnyValue): this {
    this.attributes[key] = value;
    return this;
  }

  public setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }

  public addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    const timed = isTimeInput(attributesOrTime);
    (this.recorded ??= []).push({
      name,
      attributes: timed ? undefined : attributesOrTime,
      exception: undefined,
      time: (timed ? attributesOrTime : time) ?? performance.now(),
    });
    return this;
  }

  public recordException(exception: Exception, time?: TimeInput): void {
    (this.recorded ??= []).push({
      name: '',
      attributes: undefined,
      exception,
      time: time ?? performance.now(),
    });
  }

  /** Links are not kept: the operation spans this is for have none. */
  public addLink(_link: Link): this {
    return this;
  }

  /** Links are not kept: the operation spans this is for have none. */
  public addLinks(_links: Link[]): this {
    return this;
  }

  public setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }

  public updateName(name: string): this {
    this.name = name;
    return this;
  }

  public end(endTime?: TimeInput): void {
    if (this.endTime !== undefined) return;
    this.endTime = endTime ?? performance.now();
    this.batch.add(this);
  }

  public isRecording(): boolean {
    return this.endTime === undefined;
  }

  /** Start and end it on `tracer`, as recorded. */
  public build(tracer: Tracer, ids: DeferredSpanIds): void {
    ids.handOver(this.traceId, this.context?.spanId);
    let span: Span;
    try {
      span = tracer.startSpan(
        this.name,
        { kind: SpanKind.INTERNAL, startTime: this.startTime },
        this.parent,
      );
    } finally {
      // Whatever the SDK did (a suppressed context makes no ids), no other span gets these.
      ids.handOver(undefined, undefined);
    }
    span.setAttributes(this.attributes);
    if (this.recorded !== undefined) {
      for (const { name, attributes, exception, time } of this.recorded) {
        if (exception === undefined) span.addEvent(name, attributes, time);
        else span.recordException(exception, time);
      }
    }
    if (this.status !== undefined) span.setStatus(this.status);
    span.end(this.endTime);
  }
}

/** `addEvent`'s second argument is a time (a number, a `Date`, an `HrTime` pair), not attributes. */
function isTimeInput(value: Attributes | TimeInput | undefined): value is TimeInput {
  return typeof value === 'number' || value instanceof Date || Array.isArray(value);
}

/**
 * Ended {@link DeferredSpan}s waiting to be built on the SDK: built
 * together once per turn of the event loop (`setImmediate`), or at once by
 * {@link flush} (`Telemetry.flush`, shutdown).
 */
export class DeferredSpans {
  private queue: DeferredSpan[] = [];
  private scheduled: NodeJS.Immediate | undefined = undefined;
  private readonly flushNow = (): void => {
    this.flush();
  };

  /**
   * @param tracer where the spans are built
   * @param ids the id generator of `tracer`'s provider
   */
  public constructor(
    private readonly tracer: Tracer,
    public readonly ids: DeferredSpanIds,
  ) {}

  /** Queue an ended span: built at the end of this turn of the event loop. */
  public add(span: DeferredSpan): void {
    this.queue.push(span);
    if (this.scheduled === undefined) {
      this.scheduled = setImmediate(this.flushNow);
      // A process that is done does not wait for its last spans' turn:
      // shutdown builds them (flush), as it exports the batch processor's.
      this.scheduled.unref();
    }
  }

  /** Build every queued span now. */
  public flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    for (const span of queue) {
      try {
        span.build(this.tracer, this.ids);
      } catch (error) {
        // The SDK's own code: one span lost, not the rest, and no throw into the event loop.
        diag.error('session-cluster telemetry: building a deferred span failed', error);
      }
    }
  }
}
