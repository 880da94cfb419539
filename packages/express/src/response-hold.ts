import { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';

/** What {@link holdResponse} asks of the session it holds the response for. */
export interface CommitHooks {
  /** True when something must be written (or a cookie set) before the response may go out. */
  needsCommit(): boolean;
  /** Write it. Runs before the held calls are replayed; may set headers. */
  commit(): Promise<void>;
  /** The commit failed: the held calls are dropped; report `error` (Express's `next(err)`). */
  fail(error: unknown): void;
}

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

type HeldMethod = 'writeHead' | 'write' | 'end' | 'flushHeaders';
type ResponseMethod = (this: ServerResponse, ...args: unknown[]) => unknown;

/** What a held response carries, under {@link HOLD}. */
interface HoldState {
  readonly hooks: CommitHooks;
  /** The methods replaced (the prototype's, or another middleware's wrappers). */
  readonly writeHead: ResponseMethod;
  readonly write: ResponseMethod;
  readonly end: ResponseMethod;
  readonly flushHeaders: ResponseMethod;
  /** Calls waiting for the commit; `undefined` when not holding. */
  queue: (() => void)[] | undefined;
}

const HOLD = Symbol('session-cluster.responseHold');

type HeldResponse = ServerResponse & { [HOLD]?: HoldState };

function release(state: HoldState): void {
  const held = state.queue ?? [];
  state.queue = undefined;
  for (const call of held) call();
}

/**
 * The replacement of `method`: one function shared by every response (the
 * state lives on the response), so holding a response allocates one object
 * instead of a closure per method, and every response keeps the same shape
 * of own properties.
 */
function heldMethod(method: HeldMethod): ResponseMethod {
  return function (this: HeldResponse, ...args: unknown[]): unknown {
    const state = this[HOLD];
    // Not a response this module holds (the function was copied elsewhere).
    if (state === undefined) {
      return (ServerResponse.prototype[method] as ResponseMethod).apply(this, args);
    }
    const original = state[method];
    if (state.queue !== undefined) {
      state.queue.push(() => original.apply(this, args));
      return method === 'write' ? true : this;
    }
    if (!state.hooks.needsCommit()) return original.apply(this, args);
    state.queue = [() => original.apply(this, args)];
    state.hooks.commit().then(
      () => {
        release(state);
      },
      (error: unknown) => {
        state.queue = undefined;
        state.hooks.fail(error);
      },
    );
    return method === 'write' ? true : this;
  };
}

const HELD: Readonly<Record<HeldMethod, ResponseMethod>> = {
  writeHead: heldMethod('writeHead'),
  write: heldMethod('write'),
  end: heldMethod('end'),
  flushHeaders: heldMethod('flushHeaders'),
};

/**
 * Hold the response at its first byte until the session is committed.
 *
 * The first call that would start the response (`writeHead`, `write`,
 * `end`, `flushHeaders`) while {@link CommitHooks.needsCommit} says so is
 * queued, the commit runs, and then every queued call is replayed in
 * order — so the session cookie can still be set, and the client sees the
 * response only once its changes are stored (a request that follows sees
 * them, on any instance). Calls that arrive while committing queue behind.
 * When nothing needs committing, calls go straight through.
 *
 * On failure nothing queued is sent: the response is still unstarted, so
 * the app's error handler can answer it.
 */
export function holdResponse<Request extends IncomingMessage>(
  res: ServerResponse<Request>,
  hooks: CommitHooks,
): void {
  const held = res as HeldResponse;
  /* eslint-disable @typescript-eslint/unbound-method -- replayed with `apply(res)` */
  held[HOLD] = {
    hooks,
    writeHead: res.writeHead as ResponseMethod,
    write: res.write as ResponseMethod,
    end: res.end as ResponseMethod,
    flushHeaders: res.flushHeaders,
    queue: undefined,
  };
  /* eslint-enable @typescript-eslint/unbound-method */
  // Plain own properties: cheaper per request than defineProperty, and
  // found before the prototype's methods by every caller (Express, Node).
  const methods = res as unknown as Record<HeldMethod, ResponseMethod>;
  methods.writeHead = HELD.writeHead;
  methods.write = HELD.write;
  methods.end = HELD.end;
  methods.flushHeaders = HELD.flushHeaders;
}
