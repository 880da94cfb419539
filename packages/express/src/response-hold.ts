import type { ServerResponse } from 'node:http';

/** What {@link holdResponse} asks of the session it holds the response for. */
export interface CommitHooks {
  /** True when something must be written (or a cookie set) before the response may go out. */
  needsCommit(): boolean;
  /** Write it. Runs before the held calls are replayed; may set headers. */
  commit(): Promise<void>;
  /** The commit failed: the held calls are dropped; report `error` (Express's `next(err)`). */
  fail(error: unknown): void;
}

type HeldMethod = 'writeHead' | 'write' | 'end' | 'flushHeaders';
const HELD_METHODS: readonly HeldMethod[] = ['writeHead', 'write', 'end', 'flushHeaders'];

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
export function holdResponse(res: ServerResponse, hooks: CommitHooks): void {
  let queue: (() => void)[] | undefined;

  const release = (): void => {
    const held = queue ?? [];
    queue = undefined;
    for (const call of held) call();
  };

  for (const method of HELD_METHODS) {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- always applied to `res` below
    const original = res[method] as (...args: unknown[]) => unknown;
    const held = function (this: ServerResponse, ...args: unknown[]): unknown {
      const call = (): unknown => original.apply(res, args);
      if (queue !== undefined) {
        queue.push(call);
        return method === 'write' ? true : res;
      }
      if (!hooks.needsCommit()) return call();
      queue = [call];
      hooks.commit().then(release, (error: unknown) => {
        queue = undefined;
        hooks.fail(error);
      });
      return method === 'write' ? true : res;
    };
    // A plain own property: cheaper per request than defineProperty, and
    // found before the prototype's method by every caller (Express, Node).
    (res as unknown as Record<HeldMethod, unknown>)[method] = held;
  }
}
