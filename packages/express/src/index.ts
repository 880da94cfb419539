export type { NextFunction, SessionMiddleware } from './session-middleware.js';
export { sessionMiddleware } from './session-middleware.js';
export type {
  CommonSessionOptions,
  CookieStoreSessionOptions,
  ManagedSessionOptions,
  SessionCookieOptions,
  SessionLogger,
} from './middleware-options.js';
export { SESSION_MIDDLEWARE_DEFAULTS } from './middleware-options.js';
export type { SessionMiddlewareStats } from './managed-context.js';
export type {
  DestroyAllOptions,
  RegenerateSessionOptions,
  RequestSession,
  SessionSnapshot,
} from './request-session.js';
export { sessionOf } from './request-session.js';
export type { RejectedCookie, VerifiedCookie } from './signed-cookie.js';
export { MIN_SECRET_LENGTH, SessionCookieSigner } from './signed-cookie.js';
