import { randomFillSync } from 'node:crypto';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/** Random bytes drawn at once: 4 KiB, 8 192 hex characters, 512 span ids. */
const POOL_BYTES = 4_096;
const SPAN_ID_LENGTH = 16;
const INVALID_SPAN_ID = '0'.repeat(SPAN_ID_LENGTH);

/**
 * Span ids cut from a pool of random hex, trace ids as the SDK makes them:
 * the `IdGenerator` {@link startTelemetry} gives the SDK.
 *
 * The SDK makes a span's ids before its sampler decides, so every span
 * pays for them, traced or not. Its `RandomIdGenerator` writes
 * `Math.random()` words into a buffer and hex-encodes it per id (~0.2 µs
 * each on Node 24); this one fills 4 KiB from the system's CSPRNG and
 * encodes it once, and a span id is a substring of it (~0.03 µs; V8
 * slices, no copy). Trace ids stay flat strings from the SDK's generator:
 * a ratio sampler parses every new trace id, and parsing a slice of a
 * slice cost it more than the pool saved. A live span id keeps its 8 KiB
 * pool string alive: a few pools for a full span queue.
 *
 * @example
 * ```ts
 * new NodeSDK({ idGenerator: new PooledIdGenerator(), … });
 * ```
 */
export class PooledIdGenerator implements IdGenerator {
  private readonly traceIds = new RandomIdGenerator();
  private readonly bytes = Buffer.allocUnsafe(POOL_BYTES);
  private hex = '';
  private offset = 0;

  /** @param fill fills the pool's bytes (default `crypto.randomFillSync`) */
  public constructor(private readonly fill: (bytes: Buffer) => void = randomFillSync) {}

  /** A random 16-byte trace id (the SDK's `RandomIdGenerator`). */
  public generateTraceId(): string {
    return this.traceIds.generateTraceId();
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
}
