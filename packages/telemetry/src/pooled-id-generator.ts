import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/** Random bytes drawn at once: 4 KiB, 8 192 hex characters, 512 span ids (or 256 trace ids). */
const POOL_BYTES = 4_096;
const SPAN_ID_LENGTH = 16;
const INVALID_SPAN_ID = '0'.repeat(SPAN_ID_LENGTH);
const TRACE_ID_BYTES = 16;

/**
 * Span ids cut from a pool of random hex, trace ids drawn from a pool of
 * random bytes: the `IdGenerator` {@link startTelemetry} gives the SDK.
 *
 * The SDK makes a span's ids before its sampler decides, so every span
 * pays for them, traced or not. Its `RandomIdGenerator` writes
 * `Math.random()` words into a buffer and hex-encodes it per id (~0.2 µs
 * each on Node 24); this one fills 4 KiB from the system's CSPRNG and
 * encodes it once, and a span id is a substring of it (~0.03 µs; V8
 * slices, no copy). A live span id keeps its 8 KiB pool string alive: a
 * few pools for a full span queue.
 *
 * A trace id is hex-encoded on its own, a flat string: a ratio sampler
 * parses every new trace id, and parsing a slice of a slice cost it more
 * than a pool of hex saved. It can be drawn before it is asked for
 * ({@link drawTraceId}): a {@link SessionSampler} decides a new trace on
 * the bytes, and a trace it drops never has its id encoded.
 *
 * @example
 * ```ts
 * new NodeSDK({ idGenerator: new PooledIdGenerator(), … });
 * ```
 */
export class PooledIdGenerator implements IdGenerator {
  private readonly bytes = Buffer.allocUnsafe(POOL_BYTES);
  private hex = '';
  private offset = 0;
  private readonly traceBytes = Buffer.allocUnsafe(POOL_BYTES);
  /** Where the next trace id is drawn in {@link traceBytes}: past the end, a refill first. */
  private traceOffset = POOL_BYTES;
  /**
   * Where the drawn trace id the next {@link generateTraceId} hands out
   * starts, or -1. Only {@link drawTraceId} refills the pool, and it
   * replaces this: a drawn id's bytes stay as they were until handed out.
   */
  private drawn = -1;

  /** @param fill fills the pools' bytes (default `crypto.randomFillSync`) */
  public constructor(private readonly fill: (bytes: Buffer) => void = randomFillSync) {}

  /**
   * A random 16-byte trace id, 32 lowercase hex characters, never all zero:
   * the one {@link drawTraceId} drew, when one waits, else a new one.
   */
  public generateTraceId(): string {
    const start = this.drawn >= 0 ? this.drawn : this.nextTraceId();
    this.drawn = -1;
    return this.traceBytes.toString('hex', start, start + TRACE_ID_BYTES);
  }

  /**
   * Draw the trace id the next {@link generateTraceId} call returns (a
   * trace id drawn before and not handed out is dropped) and give the
   * number the SDK's `TraceIdRatioBasedSampler` samples it by: its four
   * 32-bit big-endian words XORed, unsigned. The trace is sampled at ratio
   * `r` (0 < r < 1) when that is below `Math.floor(r * (2 ** 32 - 1))`.
   */
  public drawTraceId(): number {
    const start = this.nextTraceId();
    this.drawn = start;
    const bytes = this.traceBytes;
    return (
      (bytes.readUInt32BE(start) ^
        bytes.readUInt32BE(start + 4) ^
        bytes.readUInt32BE(start + 8) ^
        bytes.readUInt32BE(start + 12)) >>>
      0
    );
  }

  /** A random 8-byte span id: 16 lowercase hex characters, never all zero (invalid). */
  public generateSpanId(): string {
    for (;;) {
      if (this.offset + SPAN_ID_LENGTH > this.hex.length) {
        this.fill(this.bytes);
        this.hex = this.bytes.toString('hex');
        this.offset = 0;
      }
      const id = this.hex.slice(this.offset, this.offset + SPAN_ID_LENGTH);
      this.offset += SPAN_ID_LENGTH;
      // All zeros is W3C's invalid id (a 2^-64 chance): draw again.
      if (id !== INVALID_SPAN_ID) return id;
    }
  }

  /** Offset of 16 fresh random bytes in {@link traceBytes}, not all zero (W3C's invalid id). */
  private nextTraceId(): number {
    for (;;) {
      if (this.traceOffset + TRACE_ID_BYTES > POOL_BYTES) {
        this.fill(this.traceBytes);
        this.traceOffset = 0;
      }
      const start = this.traceOffset;
      this.traceOffset += TRACE_ID_BYTES;
      if (!isZero(this.traceBytes, start, TRACE_ID_BYTES)) return start;
    }
  }
}

function isZero(bytes: Buffer, start: number, length: number): boolean {
  for (let i = start; i < start + length; i += 1) if (bytes[i] !== 0) return false;
  return true;
}
