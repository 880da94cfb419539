/**
 * The Express server the HTTP benchmark drives, one process per case so the
 * load generator never shares its event loop. `SC_HTTP_BENCH` (JSON) says
 * which session layer mounts in front of the same route:
 *
 * - `none`: no session middleware; the route counts in process memory (the limit);
 * - `ours`: `sessionMiddleware` on `createSessionCluster` (Redis store,
 *   Redlock, memory fallback, health — the full stack);
 * - `ours-always`: the same with `update: { lock: 'always' }` (what
 *   `req.session.update` cost before the lock was taken only on conflict);
 * - `express-session`: express-session + connect-redis 11 on node-redis 5;
 * - `raw-ioredis`: the floor of any session layer that keeps its state in
 *   Redis — an unsigned random id in a cookie, one `HGET` to read the slot
 *   and one script call (`HSET` + `PEXPIRE`) to write it, nothing else (no
 *   signing, no validation, no locks, no fallback).
 *
 * `GET /hit` reads the session key `slot<n>`, adds one and writes it back,
 * where `n` numbers the TCP connection. Each autocannon connection is one
 * keep-alive socket with one request at a time, so a slot is never raced by
 * its own connection: a slot that ends below the number of answered requests
 * lost updates to other connections' writes of the same session.
 * `GET /state` reports stored and served counts.
 *
 * Under `/own/` each TCP connection keeps a session of its own (autocannon
 * has no per-connection cookie jar, so the server keeps one per socket and
 * puts the cookie on the request before any session layer sees it; the same
 * few lines for every layer): `GET /own/hit` is `/hit`, and
 * `GET /own/update` does the read-modify-write with `req.session.update` in
 * `ours` (the other layers serve `/own/hit` for it: their lossy write is the
 * baseline). `GET /own/read` only reads the connection's session (its first
 * request creates it with one key); `GET /own/set` writes one key without
 * reading it (ours commits it as a one-key patch).
 *
 * Says `{ type: 'ready', url }` over IPC once listening; exits on `{ type: 'exit' }`.
 */
import type { AddressInfo } from 'node:net';
import { sessionMiddleware, sessionOf } from '@session-cluster/express';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import type { Request, RequestHandler } from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { createSessionCluster } from 'session-cluster';
import { RawSessions } from './raw-sessions.js';

/** Which session layer runs. */
export type HttpBenchMode = 'none' | 'ours' | 'ours-always' | 'express-session' | 'raw-ioredis';

/** What the parent passes in. */
export interface HttpBenchServerConfig {
  readonly mode: HttpBenchMode;
  readonly redisUrl: string;
  readonly prefix: string;
}

/** `GET /state`. */
export interface HttpBenchState {
  /** Per slot: what the session holds. */
  readonly stored: Record<string, number>;
  /** Per slot: requests answered 200. */
  readonly served: Record<string, number>;
}

const SECRET = 'http-bench-secret-of-sufficient-length-0123456789';
const config = JSON.parse(process.env['SC_HTTP_BENCH'] ?? '') as HttpBenchServerConfig;
const served = new Map<string, number>();
const memory = new Map<string, number>();
const closers: (() => Promise<unknown>)[] = [];

interface SessionAccess {
  read(req: Request, key: string): Promise<number>;
  write(req: Request, key: string, value: number): void;
  all(req: Request): Promise<Record<string, unknown>>;
  /** Read-modify-write of `key` in one call that loses nothing (`ours` only). */
  readonly increment?: ((req: Request, key: string) => Promise<number>) | undefined;
}

async function sessionLayer(): Promise<{
  middleware: RequestHandler | undefined;
  access: SessionAccess;
}> {
  switch (config.mode) {
    case 'none':
      return {
        middleware: undefined,
        access: {
          read: (_req, key) => Promise.resolve(memory.get(key) ?? 0),
          write: (_req, key, value) => memory.set(key, value),
          all: () => Promise.resolve(Object.fromEntries(memory)),
        },
      };
    case 'ours':
    case 'ours-always': {
      const cluster = createSessionCluster({
        redis: { url: config.redisUrl },
        prefix: config.prefix,
        update: { lock: config.mode === 'ours' ? 'on-conflict' : 'always' },
      });
      closers.push(() => cluster.close());
      const middleware = sessionMiddleware(cluster.manager, {
        secrets: [SECRET],
        cookie: { secure: false },
      });
      return {
        middleware: middleware as unknown as RequestHandler,
        access: {
          read: async (req, key) => Number((await sessionOf(req).get(key)) ?? 0),
          write: (req, key, value) => {
            sessionOf(req).set(key, value);
          },
          all: async (req) => (await sessionOf(req).load()).data,
          increment: async (req, key) => {
            const data = await sessionOf(req).update((d) => ({
              ...d,
              [key]: Number(d[key] ?? 0) + 1,
            }));
            return Number(data[key]);
          },
        },
      };
    }
    case 'express-session': {
      const client = createClient({ url: config.redisUrl });
      await client.connect();
      closers.push(() => client.quit());
      const store = new ConnectRedisStore({ client, prefix: `${config.prefix}:cr:` });
      const middleware = session({
        store,
        secret: SECRET,
        resave: false,
        saveUninitialized: false,
        cookie: { secure: false },
      });
      const data = (req: Request): Record<string, unknown> =>
        req.session as unknown as Record<string, unknown>;
      return {
        middleware,
        access: {
          read: (req, key) => Promise.resolve(Number(data(req)[key] ?? 0)),
          write: (req, key, value) => {
            data(req)[key] = value;
          },
          all: (req) => Promise.resolve({ ...data(req) }),
        },
      };
    }
    case 'raw-ioredis': {
      const raw = new RawSessions<Request>(config.redisUrl, config.prefix);
      closers.push(() => raw.close());
      const idOf = (req: Request): string | undefined => raw.idOf(req, req.headers.cookie);
      // The response waits for the write, as any session layer's must.
      const writes = new WeakMap<Request, Promise<unknown>>();
      const holdResponse: RequestHandler = (req, res, next) => {
        const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
        res.end = ((...args: unknown[]) => {
          const write = writes.get(req);
          if (write === undefined) return end(...args);
          void write.then(() => end(...args));
          return res;
        }) as typeof res.end;
        next();
      };
      return {
        middleware: holdResponse,
        access: {
          read: (req, field) => {
            const id = idOf(req);
            return id === undefined ? Promise.resolve(0) : raw.read(id, field);
          },
          write: (req, field, value) => {
            let id = idOf(req);
            if (id === undefined) {
              const minted = raw.mint(req);
              id = minted.id;
              req.res?.append('set-cookie', minted.setCookie);
            }
            writes.set(req, raw.write(id, field, value));
          },
          all: (req) => {
            const id = idOf(req);
            return id === undefined ? Promise.resolve({}) : raw.all(id);
          },
        },
      };
    }
  }
}

const { middleware, access } = await sessionLayer();
const app = express();
app.disable('etag');
app.disable('x-powered-by');
/** Per socket: the cookie (`name=value`) the last response under `/own/` set. */
const jars = new WeakMap<object, string>();
app.use('/own', (req, res, next) => {
  const cookie = jars.get(req.socket);
  if (cookie !== undefined) req.headers.cookie = cookie;
  res.on('finish', () => {
    const set = res.getHeader('set-cookie');
    const first = Array.isArray(set) ? set[0] : set;
    if (typeof first === 'string') jars.set(req.socket, first.split(';')[0] ?? '');
  });
  next();
});
if (middleware !== undefined) app.use(middleware);
const slots = new WeakMap<object, string>();
let nextSlot = 0;
function slotOf(req: Request): string {
  let slot = slots.get(req.socket);
  if (slot === undefined) {
    slot = String(nextSlot++);
    slots.set(req.socket, slot);
  }
  return slot;
}
const hit: RequestHandler = async (req, res) => {
  const slot = slotOf(req);
  const key = `slot${slot}`;
  const value = (await access.read(req, key)) + 1;
  access.write(req, key, value);
  res.on('finish', () => {
    if (res.statusCode === 200) served.set(slot, (served.get(slot) ?? 0) + 1);
  });
  res.send(String(value));
};
app.get('/hit', hit);
app.get('/own/hit', hit);
const increment = access.increment;
app.get(
  '/own/update',
  increment === undefined
    ? hit
    : async (req, res) => {
        const value = await increment(req, `slot${slotOf(req)}`);
        res.send(String(value));
      },
);
app.get('/own/read', async (req, res) => {
  const key = `slot${slotOf(req)}`;
  let value = await access.read(req, key);
  // The connection's first request creates its session; every later one only reads.
  if (value === 0) {
    value = 1;
    access.write(req, key, value);
  }
  res.send(String(value));
});
let writes = 0;
app.get('/own/set', (req, res) => {
  writes += 1;
  access.write(req, `slot${slotOf(req)}`, writes);
  res.send(String(writes));
});
app.get('/state', async (req, res) => {
  const data = await access.all(req);
  const stored: Record<string, number> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key.startsWith('slot') && typeof value === 'number') stored[key.slice(4)] = value;
  }
  const state: HttpBenchState = { stored, served: Object.fromEntries(served) };
  res.json(state);
});
app.post('/reset', (_req, res) => {
  served.clear();
  memory.clear();
  nextSlot = 0;
  res.send('ok');
});

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
});
process.on('message', (message: { type: string }) => {
  if (message.type !== 'exit') return;
  server.closeAllConnections();
  server.close(() => {
    void Promise.all(closers.map((close) => close())).then(() => process.exit(0));
  });
});
