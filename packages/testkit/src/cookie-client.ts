/**
 * A tiny HTTP client with a one-cookie jar, over Node's fetch: what a
 * browser tab does with the session cookie, and nothing more.
 */
export interface CookieClient {
  /** The session cookie value held (undefined: none). */
  cookie: string | undefined;
  request(
    method: string,
    url: string,
    init?: { headers?: Record<string, string>; body?: string },
  ): Promise<ClientResponse>;
}

/** A response with its body read. */
export interface ClientResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The `Set-Cookie` lines for the session cookie in this response. */
  readonly setCookies: readonly string[];
  /** The body parsed as JSON, cast to what the test expects. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed cast, by design
  json<T = Record<string, unknown>>(): T;
}

/**
 * An HTTP client that keeps cookie `name` like a browser tab would (set,
 * replace, clear on `Max-Age=0`), for tests of cookie sessions over real HTTP.
 *
 * @example
 * ```ts
 * const tab = cookieClient('sc.sid');
 * await tab.request('POST', `${url}/login/alice`);
 * const me = (await tab.request('GET', `${url}/me`)).json();
 * ```
 */
export function cookieClient(name: string, initial?: string): CookieClient {
  const client: CookieClient = {
    cookie: initial,
    async request(method, url, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      if (client.cookie !== undefined) headers['cookie'] = `${name}=${client.cookie}`;
      const res = await fetch(url, {
        method,
        headers,
        redirect: 'manual',
        ...(init.body === undefined ? {} : { body: init.body }),
      });
      const text = await res.text();
      const setCookies = res.headers.getSetCookie().filter((line) => line.startsWith(`${name}=`));
      for (const line of setCookies) {
        const value = line.slice(name.length + 1).split(';')[0] ?? '';
        const cleared = /;\s*max-age=0/i.test(line) || value === '';
        client.cookie = cleared ? undefined : value;
      }
      return {
        status: res.status,
        headers: res.headers,
        text,
        setCookies,
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed cast
        json: <T>() => JSON.parse(text) as T,
      };
    },
  };
  return client;
}

/**
 * `cookie` (`<payload>.<signature>`) with its signature's first character
 * changed: a forgery that can never verify. (Changing the last characters
 * can leave the signature intact: a base64url HMAC-SHA256 ends in `AA` one
 * time in 1 024.)
 */
export function withBadSignature(cookie: string): string {
  const dot = cookie.lastIndexOf('.');
  const signature = cookie.slice(dot + 1);
  return `${cookie.slice(0, dot + 1)}${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
}
