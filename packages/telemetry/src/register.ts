/**
 * `node --import @session-cluster/telemetry/register app.js`
 *
 * Registers OpenTelemetry's ESM loader hook (import-in-the-middle) before
 * the application's modules load, so the ioredis, express and http
 * instrumentations of {@link startTelemetry} can patch modules imported with
 * `import` (without it, ESM apps get HTTP spans at best and no Redis spans).
 * Only the instrumented modules are hooked: every other import loads as usual.
 *
 * Then call `startTelemetry()` first thing in the app, before it imports
 * ioredis or express (directly or through `session-cluster`).
 */
import { register } from 'node:module';

// The modules the hook wraps: those startTelemetry instruments.
const HOOKED_MODULES: readonly string[] = ['ioredis', 'express', 'http', 'https'];

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
  data: { include: HOOKED_MODULES },
});
