/**
 * The framework-neutral HTTP session core that Express's middleware and
 * `@session-cluster/fastify` are thin adapters over: the signed cookie
 * (with secret rotation), lazy loading, per-key pending changes committed
 * as one patch, `lock: 'request'`, rolling touch, regenerate, destroy-all,
 * the read-your-writes version in the cookie, the degraded header, stats.
 *
 * An adapter resolves a {@link ManagedContext} once with
 * {@link createManagedContext}, builds a {@link ManagedSession} per request
 * over a {@link SessionResponse}, and either passes a
 * {@link ResponseHolder} (the response waits at its first byte) or calls
 * `commitBeforeResponse()` from a hook that runs before the response goes
 * out. Not an API for apps: apps use an adapter.
 */
export { readCookie } from './cookie-header.js';
export { dataOf, diffFields, fieldsOf } from './loaded-snapshot.js';
export { createManagedContext, requestCookie } from './managed-context.js';
export { ManagedSession } from './managed-session.js';
export type { ManagedContext } from './managed-session.js';
export type { MiddlewareStats } from './managed-context.js';
export type { CommitHooks, ResponseHolder, SessionResponse } from './response-hold.js';
export type { FailureSink } from './tracked-session.js';
