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

/**
 * The `Set-Cookie` text of one set of cookie options around the parts that
 * change: the value, and the expiry date (when there is a `maxAgeMs`), as
 * the `cookie` package's `serialize` lays it out (taken from it once).
 * Every write re-issues the cookie; serializing it anew each time (its
 * checks, a `Date` and its text, the attribute objects) was a measurable
 * part of a write request.
 */
interface SetCookieLayout {
  readonly head: string;
  readonly middle: string;
  readonly tail: string;
  readonly maxAgeMs: number | undefined;
  /** The last expiry's whole second and its date text (the text changes once a second). */
  second: number;
  date: string;
}

const layouts = new WeakMap<ResolvedCookieOptions, SetCookieLayout>();
/** Stands for the value while the layout is taken; `serialize` accepts it as a value. */
const VALUE_MARK = 'session-cluster-value-mark';
const EXPIRES_MARK = `; Expires=${new Date(0).toUTCString()}`;

function layoutOf(options: ResolvedCookieOptions): SetCookieLayout {
  let layout = layouts.get(options);
  if (layout !== undefined) return layout;
  const { maxAgeMs } = options;
  const text = serialize(options.name, VALUE_MARK, {
    path: options.path,
    httpOnly: options.httpOnly,
    secure: options.secure,
    sameSite: options.sameSite,
    ...(options.domain === undefined ? {} : { domain: options.domain }),
    ...(maxAgeMs === undefined
      ? {}
      : { maxAge: Math.floor(maxAgeMs / 1000), expires: new Date(0) }),
  });
  const head = `${options.name}=`;
  const rest = text.slice(head.length + VALUE_MARK.length);
  // Expires follows Path and Domain, whose values cannot hold a ';'.
  const at = maxAgeMs === undefined ? rest.length : rest.indexOf(EXPIRES_MARK);
  layout = {
    head,
    middle: maxAgeMs === undefined ? rest : `${rest.slice(0, at)}; Expires=`,
    tail: maxAgeMs === undefined ? '' : rest.slice(at + EXPIRES_MARK.length),
    maxAgeMs,
    second: Number.NaN,
    date: '',
  };
  layouts.set(options, layout);
  return layout;
}

/**
 * Append a `Set-Cookie` carrying `value` (attributes from `options`):
 * exactly what `serialize` writes for them (tested against it). `value`
 * is ours (base64url, dots and base-36 digits: nothing to encode or check).
 */
export function setSessionCookie(
  res: SessionResponse,
  options: ResolvedCookieOptions,
  value: string,
): void {
  const layout = layoutOf(options);
  if (layout.maxAgeMs === undefined) {
    res.appendHeader('Set-Cookie', layout.head + value + layout.middle);
    return;
  }
  const second = Math.floor((Date.now() + layout.maxAgeMs) / 1000);
  if (second !== layout.second) {
    layout.second = second;
    layout.date = new Date(second * 1000).toUTCString();
  }
  res.appendHeader('Set-Cookie', layout.head + value + layout.middle + layout.date + layout.tail);
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
