import { INSTRUMENTATION_SCOPE, maskSessionIds } from '@session-cluster/core';
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/** Shortest string that can hold a session id (43 chars): shorter ones are skipped unscanned. */
const MIN_SCANNED_LENGTH = 43;

/**
 * Scopes whose spans need no scan: ours record hashes only, and the ioredis
 * instrumentation's statements come from `redisStatement`, which masks. The
 * scan is the one per-span cost this processor adds, so trusted spans skip it.
 */
const TRUSTED_SCOPES: ReadonlySet<string> = new Set([
  INSTRUMENTATION_SCOPE,
  '@opentelemetry/instrumentation-ioredis',
]);

function masked(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length < MIN_SCANNED_LENGTH) return undefined;
  const result = maskSessionIds(value);
  return result === value ? undefined : result;
}

/**
 * Last line of defence for "session ids never leave the process raw": as
 * each span ends (before any exporter sees it), every string attribute,
 * event attribute, the status message and the name are scanned, and
 * anything shaped like a session id is replaced by `<sid:hash>`. Our own
 * spans carry only hashes already (and are not scanned, nor are ioredis
 * spans, whose statements `redisStatement` masks); this catches what other
 * instrumentations record from the outside (a URL with an id in it, an
 * error message quoting a Redis key). Strings shorter than an id are not scanned.
 */
export class SessionIdMaskingProcessor implements SpanProcessor {
  /** Runs while the span can still be changed (between `end()` and export). */
  public onEnding(span: Span): void {
    if (TRUSTED_SCOPES.has(span.instrumentationScope.name)) return;
    for (const [key, value] of Object.entries(span.attributes)) {
      const replacement = masked(value);
      if (replacement !== undefined) span.setAttribute(key, replacement);
    }
    for (const event of span.events) {
      const attributes = event.attributes;
      if (attributes === undefined) continue;
      for (const [key, value] of Object.entries(attributes)) {
        const replacement = masked(value);
        if (replacement !== undefined) attributes[key] = replacement;
      }
    }
    const status = masked(span.status.message);
    if (status !== undefined) span.setStatus({ ...span.status, message: status });
    const name = masked(span.name);
    if (name !== undefined) span.updateName(name);
  }

  public onStart(_span: Span, _parentContext: Context): void {
    // Nothing to do until the span ends.
  }

  public onEnd(_span: ReadableSpan): void {
    // Masked in onEnding already.
  }

  public forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  public shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
