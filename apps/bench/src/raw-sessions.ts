/**
 * The `raw-ioredis` floor both HTTP bench servers mount: the least any
 * session layer that keeps its state in Redis does — an unsigned random id
 * in a cookie, one `HGET` to read a field, one script call (`HSET` +
 * `PEXPIRE`) to write one. No signing, no validation, no locks, no fallback.
 *
 * The write is a script, not an ioredis `pipeline()`: under load a pipeline
 * per write makes ioredis keep each request's objects past a scavenge
 * (~13 MB promoted per scavenge, 30 ms pauses, against none for a script;
 * docs/benchmarks.md), which put the floor below `@fastify/session`.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const COOKIE = 'rawsid=';
/** `HSET` one field and roll the key's expiry: one command, one round trip. */
const WRITE_SCRIPT =
  "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return redis.call('PEXPIRE', KEYS[1], ARGV[3])";

/** The client with the write script defined on it. */
type RawClient = Redis & {
  rawWrite(key: string, field: string, value: number, ttlMs: number): Promise<unknown>;
};

/** Length of a minted id (16 random bytes, base64url). */
const ID_LENGTH = 22;

/** Raw sessions of one server, per request object `R` (Express's or Fastify's). */
export class RawSessions<R extends object> {
  private readonly redis: RawClient;
  /** The id lives on the request: read from the cookie, or minted by the first write. */
  private readonly ids = new WeakMap<R, string>();

  public constructor(
    redisUrl: string,
    private readonly prefix: string,
  ) {
    const redis = new Redis(redisUrl);
    redis.defineCommand('rawWrite', { numberOfKeys: 1, lua: WRITE_SCRIPT });
    this.redis = redis as RawClient;
  }

  /** The request's session id, from its `Cookie` header; `undefined` when it has none. */
  public idOf(request: R, cookieHeader: string | undefined): string | undefined {
    const known = this.ids.get(request);
    if (known !== undefined) return known;
    const at = cookieHeader?.indexOf(COOKIE) ?? -1;
    if (cookieHeader === undefined || at < 0) return undefined;
    const id = cookieHeader.slice(at + COOKIE.length, at + COOKIE.length + ID_LENGTH);
    this.ids.set(request, id);
    return id;
  }

  /** A new id for `request`, and the `Set-Cookie` value that hands it out. */
  public mint(request: R): { readonly id: string; readonly setCookie: string } {
    const id = randomBytes(16).toString('base64url');
    this.ids.set(request, id);
    return { id, setCookie: `${COOKIE}${id}; Path=/; HttpOnly; SameSite=Lax` };
  }

  /** One field of session `id`, 0 when absent. */
  public async read(id: string, field: string): Promise<number> {
    return Number((await this.redis.hget(this.key(id), field)) ?? 0);
  }

  /** Every field of session `id`. */
  public async all(id: string): Promise<Record<string, number>> {
    const fields = await this.redis.hgetall(this.key(id));
    return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Number(v)]));
  }

  /** Write one field of session `id` and roll its expiry (one round trip). */
  public write(id: string, field: string, value: number): Promise<unknown> {
    const key = this.key(id);
    return this.redis.rawWrite(key, field, value, 86_400_000);
  }

  public close(): Promise<unknown> {
    return this.redis.quit();
  }

  private key(id: string): string {
    return `${this.prefix}:${id}`;
  }
}
