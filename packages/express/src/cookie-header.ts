import { serialize } from 'cookie';
import type { ResolvedCookieOptions } from './middleware-options.js';
import type { SessionResponse } from './response-hold.js';

/**
 * The value of cookie `name` in a `Cookie` request header, if present:
 * exactly what the `cookie` package's `parse(header)[name]` answers (the
 * first pair of that name, blanks around the name and value trimmed, the
 * value URL-decoded when it can be), found without building an object of
 * every cookie the browser sent (tested against `parse`).
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  // Cheap pre-check: most requests without our cookie skip the walk.
  if (header === undefined || !header.includes(name)) return undefined;
  const length = header.length;
  let index = 0;
  while (index < length) {
    const equals = header.indexOf('=', index);
    if (equals === -1) return undefined;
    const semicolon = header.indexOf(';', index);
    const end = semicolon === -1 ? length : semicolon;
    if (equals > end) {
      // A pair without '=': the name starts after the last ';' before this '='.
      index = header.lastIndexOf(';', equals - 1) + 1;
      continue;
    }
    const [from, to] = trimmed(header, index, equals);
    if (to - from === name.length && header.startsWith(name, from)) {
      const [start, stop] = trimmed(header, equals + 1, end);
      return decoded(header.slice(start, stop));
    }
    index = end + 1;
  }
  return undefined;
}

/** `[from, to)` without the spaces and tabs at either end, as `cookie` trims a name or a value. */
function trimmed(text: string, from: number, to: number): [number, number] {
  let start = from;
  let end = to;
  // As `cookie` does: the first character is looked at even in an empty range.
  do {
    const code = text.charCodeAt(start);
    if (code !== 0x20 && code !== 0x09) break;
  } while (++start < end);
  while (end > start) {
    const code = text.charCodeAt(end - 1);
    if (code !== 0x20 && code !== 0x09) break;
    end -= 1;
  }
  return [start, end];
}

function decoded(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
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
