import type { IncomingMessage } from 'node:http';
import { SessionValidationError } from '@session-cluster/core';
import type { RequestSession } from './request-session.js';

/**
 * `req.session`, typed, for apps that do not import the
 * `@session-cluster/express/augment` declarations (or that also use
 * `@types/express-session`, whose `req.session` type would clash).
 *
 * @throws SessionValidationError `INVALID_CONFIG` when `sessionMiddleware` did not run for `req`
 */
export function sessionOf(req: IncomingMessage): RequestSession {
  const session = (req as IncomingMessage & { session?: unknown }).session;
  if (typeof session !== 'object' || session === null || !('commit' in session)) {
    throw new SessionValidationError('req.session is missing: mount sessionMiddleware first', {
      code: 'INVALID_CONFIG',
      field: 'sessionMiddleware',
    });
  }
  return session as RequestSession;
}
