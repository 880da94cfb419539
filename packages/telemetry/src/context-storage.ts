import { AsyncLocalStorage } from 'node:async_hooks';
import { context } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';

/**
 * The `AsyncLocalStorage` behind the registered OpenTelemetry context
 * manager, when it has one: the SDK's `AsyncLocalStorageContextManager`
 * (what `startTelemetry` registers) and the test kit's each keep theirs in
 * an own property. Binding it to a tracing channel's `start`
 * (`bindStore`) is how a subscriber makes its span the active context for
 * the traced call — what puts Redis command spans under an operation span
 * and carries a sweep's trace into BullMQ jobs. The API has no public way
 * to reach it, hence the look at the manager's own properties; with a
 * context manager that keeps none, spans are still made, only not active.
 */
export function contextStorage(): AsyncLocalStorage<Context> | undefined {
  const manager = (
    context as unknown as { _getContextManager?: () => unknown }
  )._getContextManager?.();
  if (typeof manager !== 'object' || manager === null) return undefined;
  for (const value of Object.values(manager)) {
    if (value instanceof AsyncLocalStorage) return value as AsyncLocalStorage<Context>;
  }
  return undefined;
}
