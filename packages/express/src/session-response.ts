import type { CommitHooks } from './response-hold.js';

/**
 * What a request session needs of the response it commits with: whether
 * headers can still be set, the status (a failed login answered with an
 * error status is not an error of the commit), headers to set, and the end
 * of the exchange (a request lock is given back then, answered or not).
 *
 * Node's `ServerResponse` is one as it is (Express); Fastify's adapter sets
 * headers through the reply, because Fastify writes its own header map
 * over `reply.raw`'s when it sends.
 */
export interface SessionResponse {
  readonly headersSent: boolean;
  readonly statusCode: number;
  /** Add a header value (`Set-Cookie`: one more cookie, never replacing another). */
  appendHeader(name: string, value: string): unknown;
  /** Set a header (replacing it). */
  setHeader(name: string, value: string): unknown;
  /** `listener` runs once the exchange is over (answered, or the client gone). */
  once(event: 'close', listener: () => void): unknown;
}

/**
 * How a framework makes the commit happen before the response goes out.
 * Express: hold the Node response at its first byte until committed
 * (`holdResponse`). `undefined`: the framework calls the session's
 * `commitBeforeResponse()` itself (Fastify, in `onSend`).
 */
export type ResponseHolder = (res: SessionResponse, hooks: CommitHooks) => void;
