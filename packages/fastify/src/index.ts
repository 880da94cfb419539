export type { FastifySessionOptions } from './session-plugin.js';
export { sessionCluster } from './session-plugin.js';
export type {
  DestroyAllOptions,
  RegenerateSessionOptions,
  RequestSession,
  SessionCookieOptions,
  SessionLogger,
  SessionMiddlewareStats,
  SessionSnapshot,
} from '@session-cluster/express';
