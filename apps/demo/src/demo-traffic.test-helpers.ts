import { setTimeout as delay } from 'node:timers/promises';
import { cookieClient, respCommand } from '@session-cluster/testkit';

/** The demo's session cookie. */
export const SESSION_COOKIE = 'sc.sid';

/** The middleware's default degraded-mode response header (`degradedHeader` option). */
export const DEGRADED_HEADER = 'x-session-degraded';

/** The session id a signed cookie carries (`<id>.<touchedAt>.<mac>`). */
export function sessionIdOf(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  const id = cookie.split('.')[0];
  return id === '' ? undefined : id;
}

/** A session the demo issued during a test, as the client saw it. */
export interface TrackedSession {
  readonly id: string;
  /** The cookie that first carried it. */
  readonly cookie: string;
  /** When the request that created it was sent and answered (epoch ms). */
  readonly sentAt: number;
  readonly answeredAt: number;
  /** Counter increments the demo acknowledged (303) on this very session id. */
  acked: number;
}

/** One request's outcome. */
export interface Visit {
  /** HTTP status; 0 for a network error. */
  readonly status: number;
  /** `X-Instance`: which instance served it. */
  readonly instance: string | undefined;
  /** The degraded header was set. */
  readonly degraded: boolean;
  /** The session cookie held after the response (undefined: none, or cleared). */
  readonly cookie: string | undefined;
  /** The counter shown, for `GET /`. */
  readonly counter: number | undefined;
}

/**
 * Drives the demo over real HTTP like many browser tabs, one request per
 * connection (`connection: close`) so that node:cluster spreads them over
 * the instances, and keeps the books: requests sent, failures (network
 * errors and statuses ≥ 400), responses marked degraded, and every session
 * the demo issued with the increments it acknowledged.
 *
 * A request never adopts a cookie change for its caller: each one runs
 * with a throwaway cookie jar holding the cookie it is given, so a session
 * that an instance cannot see (degraded mode) does not lose its cookie.
 */
export class DemoTraffic {
  /** Every session the demo issued, by id. */
  public readonly sessions = new Map<string, TrackedSession>();
  public sent = 0;
  /** One line per failed request (status ≥ 400 or network error). */
  public readonly failures: string[] = [];
  /** Responses with a 5xx status. */
  public serverErrors = 0;
  /** The responses that carried the degraded header: when their request was sent, who answered. */
  public readonly degradedResponses: { readonly sentAt: number; readonly instance: string }[] = [];

  public constructor(private readonly url: string) {}

  public async request(
    method: 'GET' | 'POST',
    path: string,
    cookie: string | undefined,
  ): Promise<Visit> {
    const sentAt = Date.now();
    this.sent += 1;
    const tab = cookieClient(SESSION_COOKIE, cookie);
    let res;
    try {
      res = await tab.request(method, `${this.url}${path}`, { headers: { connection: 'close' } });
    } catch (error) {
      this.failures.push(`${method} ${path}: ${error instanceof Error ? error.message : 'error'}`);
      return { status: 0, instance: undefined, degraded: false, cookie, counter: undefined };
    }
    const answeredAt = Date.now();
    const instance = res.headers.get('x-instance') ?? undefined;
    if (res.status >= 500) this.serverErrors += 1;
    if (res.status >= 400) {
      this.failures.push(`${method} ${path} → ${res.status} from ${instance ?? '?'}`);
    }
    const degraded = res.headers.get(DEGRADED_HEADER) === '1';
    if (degraded) this.degradedResponses.push({ sentAt, instance: instance ?? '?' });
    const id = sessionIdOf(tab.cookie);
    if (id !== undefined && tab.cookie !== undefined && !this.sessions.has(id)) {
      this.sessions.set(id, { id, cookie: tab.cookie, sentAt, answeredAt, acked: 0 });
    }
    if (method === 'POST' && path === '/counter' && res.status === 303 && id !== undefined) {
      const session = this.sessions.get(id);
      if (session !== undefined) session.acked += 1;
    }
    const shown = /<span id="counter">(\d+)<\/span>/.exec(res.text)?.[1];
    return {
      status: res.status,
      instance,
      degraded,
      cookie: tab.cookie,
      counter: shown === undefined ? undefined : Number(shown),
    };
  }

  /**
   * `count` new sessions, session `i` clicked `clicks(i)` times (≥ 1),
   * `concurrency` at a time; resolves with them in order.
   */
  public async createSessions(
    count: number,
    clicks: (i: number) => number,
    concurrency: number,
  ): Promise<TrackedSession[]> {
    const created: TrackedSession[] = new Array<TrackedSession>(count);
    await inLanes(concurrency, count, async (i) => {
      let cookie: string | undefined;
      for (let click = 0; click < clicks(i); click++) {
        cookie = (await this.request('POST', '/counter', cookie)).cookie;
      }
      const session = this.sessions.get(sessionIdOf(cookie) ?? '');
      if (session === undefined) throw new Error(`session ${i} was not created`);
      created[i] = session;
    });
    return created;
  }

  /**
   * Read a session's counter with its original cookie until `instances`
   * distinct instances have served it (at most `maxAttempts` reads).
   * `counters` holds what each read showed, or null where the session was
   * not there (the cookie came back cleared or replaced).
   *
   * Call it with no other request in flight: node:cluster's round robin
   * then hands consecutive connections to the instances in turn, so
   * `instances` reads meet them all. (Under concurrent requests a caller
   * can fall into step with the rotation and meet only some of them.)
   */
  public async readEverywhere(
    session: TrackedSession,
    instances: number,
    maxAttempts = 3 * instances,
  ): Promise<{ served: Set<string>; counters: (number | null)[] }> {
    const served = new Set<string>();
    const counters: (number | null)[] = [];
    for (let attempt = 0; attempt < maxAttempts && served.size < instances; attempt++) {
      const visit = await this.request('GET', '/', session.cookie);
      if (visit.instance !== undefined) served.add(visit.instance);
      counters.push(sessionIdOf(visit.cookie) === session.id ? (visit.counter ?? null) : null);
    }
    return { served, counters };
  }
}

/** Run `work(0 … count-1)`, `lanes` at a time. */
export async function inLanes(
  lanes: number,
  count: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, count) }, async () => {
      for (let i = next++; i < count; i = next++) await work(i);
    }),
  );
}

/**
 * Run `step(lane, n)` in `lanes` concurrent loops until `stop()` holds,
 * pausing `pauseMs` between steps so the load stays modest on a small machine.
 */
export async function loadUntil(
  lanes: number,
  pauseMs: number,
  stop: () => boolean,
  step: (lane: number, n: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let n = 0; !stop(); n++) {
        await step(lane, n);
        await delay(pauseMs);
      }
    }),
  );
}

/** Ids of the sessions stored in Redis under `prefix`, read from the server itself. */
export async function sessionIdsInRedis(port: number, prefix: string): Promise<Set<string>> {
  // Keys are `<prefix>:s:{<prefix>:<bucket>}:<sid>`; sids have no colon.
  const keys = await respCommand(port, ['KEYS', `${prefix}:s:*`]);
  if (!Array.isArray(keys)) throw new Error(`KEYS answered ${JSON.stringify(keys)}`);
  return new Set(keys.map((key) => String(key).slice(String(key).lastIndexOf(':') + 1)));
}

/**
 * Poll `/status` (one connection per request, no cookie) until each of
 * `instances` instances has reported `degraded: no` — its health monitor
 * clears the flag on the fallback's `recovered` event, i.e. once its
 * degraded-mode journal has been written back to Redis. Resolves with the
 * time that took; rejects after `timeoutMs`.
 */
export async function waitUntilRecovered(
  url: string,
  instances: number,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  const recovered = new Set<string>();
  while (recovered.size < instances) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `only ${[...recovered].join(', ') || 'no instance'} recovered within ${timeoutMs} ms`,
      );
    }
    const res = await cookieClient(SESSION_COOKIE).request('GET', `${url}/status`, {
      headers: { connection: 'close' },
    });
    const instance = res.headers.get('x-instance');
    if (instance !== null && res.text.includes('<td id="degraded">no</td>')) {
      recovered.add(instance);
    }
    await delay(50);
  }
  return Date.now() - started;
}
