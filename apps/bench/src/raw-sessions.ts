/**
 * The `raw-ioredis` floor both HTTP bench servers mount: the least any
 * session layer that keeps its state in Redis does — an unsigned random id
 * in a cookie, one `HGET` to read a field, one pipelined `HSET` + `PEXPIRE`
 * to write one. No signing, no validation, no locks, no fallback.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const COOKIE = 'rawsid=';
/** Length of a minted id (16 random bytes, base64url). */
const ID_LENGTH = 22;

/** Raw sessions of one server, per request object `R` (Express's or Fastify's). */
export class RawSessions<R extends object> {
  private readonly redis: Redis;
  /** The id lives on the request: read from the cookie, or minted by the first write. */
  private readonly ids = new WeakMap<R, string>();

  public constructor(
    redisUrl: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(redisUrl);
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
    return this.redis.pipeline().hset(key, field, value).pexpire(key, 86_400_000).exec();
  }

  public close(): Promise<unknown> {
    return this.redis.quit();
  }

  private key(id: string): string {
    return `${this.prefix}:${id}`;
  }
}
