import type * as Api from '@opentelemetry/api';

/** The `@opentelemetry/api` module. */
export type OtelApi = typeof Api;

function isModuleNotFound(error: unknown): boolean {
  return (
    error instanceof Error &&
    'code' in error &&
    (error.code === 'ERR_MODULE_NOT_FOUND' || error.code === 'MODULE_NOT_FOUND')
  );
}

/**
 * `@opentelemetry/api`, an optional peer dependency of every library
 * package: `undefined` when the application did not install it, and then
 * nothing is traced or measured. Loaded once, when this module is first
 * imported (top-level await). Libraries never load an SDK: with the api
 * alone, spans and instruments are no-ops until an application registers one.
 */
export const otelApi: OtelApi | undefined = await import('@opentelemetry/api').catch(
  (error: unknown) => {
    if (isModuleNotFound(error)) return undefined;
    throw error;
  },
);
