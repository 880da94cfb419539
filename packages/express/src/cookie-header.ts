import { parse, serialize } from 'cookie';
import type { ResolvedCookieOptions } from './middleware-options.js';
import type { SessionResponse } from './response-hold.js';

/** The value of cookie `name` in a `Cookie` request header, if present. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  // Cheap pre-check: most requests without our cookie skip the parse.
  if (header === undefined || !header.includes(name)) return undefined;
  return parse(header)[name];
}

/** Append a `Set-Cookie` carrying `value` (attributes from `options`). */
export function setSessionCookie(
  res: SessionResponse,
  options: ResolvedCookieOptions,
  value: string,
): void {
  res.appendHeader(
    'Set-Cookie',
    serialize(options.name, value, {
      path: options.path,
      httpOnly: options.httpOnly,
      secure: options.secure,
      sameSite: options.sameSite,
      ...(options.domain === undefined ? {} : { domain: options.domain }),
      ...(options.maxAgeMs === undefined
        ? {}
        : {
            maxAge: Math.floor(options.maxAgeMs / 1000),
            expires: new Date(Date.now() + options.maxAgeMs),
          }),
      // Our values are base64url and dots: nothing to encode.
      encode: (text) => text,
    }),
  );
}

/** Append a `Set-Cookie` that removes the session cookie from the browser. */
export function clearSessionCookie(res: SessionResponse, options: ResolvedCookieOptions): void {
  res.appendHeader(
    'Set-Cookie',
    serialize(options.name, '', {
      path: options.path,
      httpOnly: options.httpOnly,
      secure: options.secure,
      sameSite: options.sameSite,
      ...(options.domain === undefined ? {} : { domain: options.domain }),
      expires: new Date(0),
      maxAge: 0,
    }),
  );
}
