import { createRequire } from 'node:module';
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
 * nothing is traced or measured. Loaded once, synchronously, when this module
 * is first imported: a top-level `await import()` here made every package
 * an async module that CommonJS apps cannot `require()`
 * (`ERR_REQUIRE_ASYNC_MODULE`). The api's CommonJS build shares its global
 * registry (a `Symbol.for` key on `globalThis`) with its ESM build, so the
 * provider an ESM application registers is the one seen here. Libraries never
 * load an SDK: with the api alone, spans and instruments are no-ops until an
 * application registers one.
 */
export const otelApi: OtelApi | undefined = loadOtelApi();

function loadOtelApi(): OtelApi | undefined {
  try {
    return createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch (error) {
    if (isModuleNotFound(error)) return undefined;
    throw error;
  }
}
