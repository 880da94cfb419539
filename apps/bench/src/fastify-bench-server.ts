/**
 * The Fastify server the HTTP benchmark drives (the Fastify twin of
 * {@link ./http-bench-server.ts}), one process per mode. `SC_HTTP_BENCH`
 * (JSON) says which session layer registers in front of the same routes:
 *
 * - `fastify-ours`: the `@session-cluster/fastify` plugin on
 *   `createSessionCluster` (Redis store, Redlock, memory fallback, health);
 * - `fastify-session`: `@fastify/session` + `@fastify/cookie` with
 *   connect-redis 11 on node-redis 5 (connect-redis's only client since v9);
 * - `fastify-raw-ioredis`: the floor of any session layer that keeps its
 *   state in Redis, as the Express server's `raw-ioredis` — an unsigned
 *   random id in a cookie, one `HGET` to read and one script call (`HSET` +
 *   `PEXPIRE`) to write, the reply held in `onSend` until the write is
 *   answered; no signing, no validation, no locks, no fallback.
 *
 * One session per TCP connection (the server keeps a cookie jar per socket,
 * as the Express server does, before any session layer sees the request):
 * `GET /own/read` only reads the connection's session (its first request
 * creates it with one key); `GET /own/set` writes one key without reading
 * it. Every answered `/own/set` is counted per connection, and the value
 * it wrote is the count: `GET /state` reports, per connection whose cookie
 * it is asked with, what the session holds, so a write the store lost shows.
 *
 * Says `{ type: 'ready', url }` over IPC once listening; exits on `{ type: 'exit' }`.
 */
import { createRequire } from 'node:module';
import { sessionCluster } from '@session-cluster/fastify';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import Fastify from 'fastify';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { createClient } from 'redis';
import { createSessionCluster } from 'session-cluster';
import { RawSessions } from './raw-sessions.js';

/** Which session layer runs. */
export type FastifyBenchMode = 'fastify-ours' | 'fastify-session' | 'fastify-raw-ioredis';

/** What the parent passes in. */
export interface FastifyBenchServerConfig {
  readonly mode: FastifyBenchMode;
  readonly redisUrl: string;
  readonly prefix: string;
}

/** `GET /state`: for each connection, the writes answered and what its session holds. */
export interface FastifyBenchState {
  readonly connections: { readonly served: number; readonly stored: number }[];
}

const SECRET = 'http-bench-secret-of-sufficient-length-0123456789';
const config = JSON.parse(process.env['SC_HTTP_BENCH'] ?? '') as FastifyBenchServerConfig;
const closers: (() => Promise<unknown>)[] = [];

/*
 * @fastify/session is loaded without its type declarations: they declare
 * `request.session` as its own `Session`, which clashes with the plugin's in
 * one program. What this server needs of it is typed here.
 */
interface FastifySessionLike {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}
const requireHere = createRequire(import.meta.url);

interface SessionAccess {
  read(request: FastifyRequest, key: string): Promise<number>;
  write(request: FastifyRequest, key: string, value: number): void;
}

const app = Fastify();
/** Per socket: the cookie (`name=value`) the last response set. */
const jars = new WeakMap<object, string>();
/** Per socket: its number, and how many `/own/set` it had answered. */
const slots = new WeakMap<object, number>();
const served: number[] = [];
const cookies: string[] = [];
// Added before any session layer registers: Fastify runs hooks in the order added.
app.addHook('onRequest', (request, _reply, done) => {
  const cookie = jars.get(request.raw.socket);
  if (cookie !== undefined) request.headers.cookie = cookie;
  done();
});
app.addHook('onResponse', (request, reply, done) => {
  const set = reply.getHeader('set-cookie');
  const first = Array.isArray(set) ? set[0] : set;
  if (typeof first === 'string') {
    const cookie = first.split(';')[0] ?? '';
    jars.set(request.raw.socket, cookie);
    const slot = slots.get(request.raw.socket);
    if (slot !== undefined) cookies[slot] = cookie;
  }
  done();
});

async function sessionLayer(): Promise<SessionAccess> {
  if (config.mode === 'fastify-ours') {
    const cluster = createSessionCluster({
      redis: { url: config.redisUrl },
      prefix: config.prefix,
    });
    closers.push(() => cluster.close());
    await app.register(sessionCluster, {
      manager: cluster.manager,
      secrets: [SECRET],
      cookie: { secure: false },
    });
    return {
      read: async (request, key) => Number((await request.session.get(key)) ?? 0),
      write: (request, key, value) => {
        request.session.set(key, value);
      },
    };
  }
  if (config.mode === 'fastify-raw-ioredis') return rawIoredis();
  const client = createClient({ url: config.redisUrl });
  await client.connect();
  closers.push(() => client.quit());
  const store = new ConnectRedisStore({ client, prefix: `${config.prefix}:cr:` });
  const plugin = (name: string): FastifyPluginCallback<Record<string, unknown>> =>
    (requireHere(name) as { default: FastifyPluginCallback<Record<string, unknown>> }).default;
  await app.register(plugin('@fastify/cookie'));
  await app.register(plugin('@fastify/session'), {
    store,
    secret: SECRET,
    saveUninitialized: false,
    // Not its default (true: a store write and a cookie on every reply):
    // the baseline's reads then cost no write, as ours (touch throttled).
    rolling: false,
    cookie: { secure: false },
  });
  const session = (request: FastifyRequest): FastifySessionLike =>
    (request as unknown as { session: FastifySessionLike }).session;
  return {
    read: (request, key) => Promise.resolve(Number(session(request).get(key) ?? 0)),
    write: (request, key, value) => {
      session(request).set(key, value);
    },
  };
}

/** `fastify-raw-ioredis`: the floor (see the header). */
function rawIoredis(): SessionAccess {
  const raw = new RawSessions<FastifyRequest>(config.redisUrl, config.prefix);
  closers.push(() => raw.close());
  // A route writes through the request; its reply is found here for the cookie.
  const replies = new WeakMap<FastifyRequest, FastifyReply>();
  app.addHook('onRequest', (request, reply, done) => {
    replies.set(request, reply);
    done();
  });
  // The reply waits for the write, as any session layer's must.
  const writes = new WeakMap<FastifyRequest, Promise<unknown>>();
  app.addHook('onSend', (request, _reply, payload, done) => {
    const write = writes.get(request);
    if (write === undefined) {
      done(null, payload);
      return;
    }
    write.then(
      () => {
        done(null, payload);
      },
      (error: unknown) => {
        done(error as Error);
      },
    );
  });
  return {
    read: (request, field) => {
      const id = raw.idOf(request, request.headers.cookie);
      return id === undefined ? Promise.resolve(0) : raw.read(id, field);
    },
    write: (request, field, value) => {
      let id = raw.idOf(request, request.headers.cookie);
      if (id === undefined) {
        const minted = raw.mint(request);
        id = minted.id;
        void replies.get(request)?.header('set-cookie', minted.setCookie);
      }
      writes.set(request, raw.write(id, field, value));
    },
  };
}

const access = await sessionLayer();
let nextSlot = 0;
function slotOf(request: FastifyRequest): number {
  let slot = slots.get(request.raw.socket);
  if (slot === undefined) {
    slot = nextSlot++;
    slots.set(request.raw.socket, slot);
    served[slot] = 0;
  }
  return slot;
}

app.get('/own/read', async (request) => {
  const key = `slot${slotOf(request)}`;
  let value = await access.read(request, key);
  // The connection's first request creates its session; every later one only reads.
  if (value === 0) {
    value = 1;
    access.write(request, key, value);
  }
  return String(value);
});
app.get('/own/set', (request, reply) => {
  const slot = slotOf(request);
  const value = (served[slot] ?? 0) + 1;
  access.write(request, `slot${slot}`, value);
  // Counted once the reply (and so the commit) went out.
  reply.raw.once('finish', () => {
    if (reply.statusCode === 200) served[slot] = value;
  });
  return String(value);
});
app.get('/state', async () => {
  const connections: FastifyBenchState['connections'] = [];
  for (const [slot, count] of served.entries()) {
    const cookie = cookies[slot];
    if (cookie === undefined) continue;
    connections.push({ served: count, stored: await stateOf(cookie, slot) });
  }
  const state: FastifyBenchState = { connections };
  return state;
});
app.post('/reset', () => {
  served.length = 0;
  cookies.length = 0;
  nextSlot = 0;
  return 'ok';
});

/** What the session behind `cookie` holds under `slot<n>` (one request through the session layer). */
async function stateOf(cookie: string, slot: number): Promise<number> {
  const res = await app.inject({ method: 'GET', url: `/peek/${slot}`, headers: { cookie } });
  return Number(res.body);
}
app.get<{ Params: { slot: string } }>('/peek/:slot', (request) =>
  access.read(request, `slot${request.params.slot}`).then(String),
);

const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ type: 'ready', url });
process.on('message', (message: { type: string }) => {
  if (message.type !== 'exit') return;
  app.server.closeAllConnections();
  void app
    .close()
    .then(() => Promise.all(closers.map((close) => close())))
    .then(() => process.exit(0));
});
