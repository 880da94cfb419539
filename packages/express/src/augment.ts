/**
 * Opt-in typing of `req.session` for Express apps:
 *
 * ```ts
 * import '@session-cluster/express/augment';
 * app.get('/', async (req, res) => res.json(await req.session.get('visits')));
 * ```
 *
 * Kept out of the main entry because `@types/express-session` declares
 * `req.session` with its own type, and two declarations of one property
 * cannot coexist in a program. Apps using both use `sessionOf(req)`.
 */
import type { RequestSession } from './request-session.js';

declare global {
  // Express's own augmentation point (what @types/express reads `Request` from).
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** This request's session (set by `sessionMiddleware`). */
      session: RequestSession;
    }
  }
}

export {};
