import { parse, serialize } from 'cookie';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readCookie, setSessionCookie } from './cookie-header.js';
import { resolveCookieOptions } from './middleware-options.js';
import type { SessionCookieOptions } from './middleware-options.js';
import type { SessionResponse } from './response-hold.js';

const NAME = 'sc.sid';
const VALUE = 'ofSd5Azb3lQfQ2GRqaAyAW7Hw5Nc3i2Rt1h0_JsJr3c.mxc6swmd.2.4cQ1F_8Br0lU';

describe('readCookie', () => {
  it('finds the session cookie among others, first of its name winning', () => {
    expect(readCookie(`${NAME}=${VALUE}`, NAME)).toBe(VALUE);
    expect(readCookie(`_ga=GA1.2.3; ${NAME}=${VALUE}; theme=dark`, NAME)).toBe(VALUE);
    expect(readCookie(`${NAME}=first; ${NAME}=second`, NAME)).toBe('first');
    expect(readCookie(`x${NAME}=a; ${NAME}x=b`, NAME)).toBeUndefined();
    expect(readCookie(undefined, NAME)).toBeUndefined();
    expect(readCookie('theme=dark', NAME)).toBeUndefined();
  });

  it('answers what cookie.parse answers for that name, on every header shape', () => {
    // Every combination of a few pieces: blanks, pairs without '=', empty
    // names and values, quotes, percent-encoding (valid and not), our name
    // as a prefix or suffix of another, duplicates.
    const pieces = [
      `${NAME}=${VALUE}`,
      ` ${NAME} = v%20w `,
      `\t${NAME}=\t"quoted"\t`,
      `${NAME}=%E0%A4%A`,
      `${NAME}=`,
      NAME,
      `x${NAME}=x`,
      `${NAME}.y=y`,
      '=orphan',
      'flag',
      ' ',
      'a=b=c',
      '',
    ];
    let compared = 0;
    for (const a of pieces) {
      for (const b of pieces) {
        for (const c of pieces) {
          for (const separator of [';', '; ', ' ;']) {
            const header = [a, b, c].join(separator);
            expect(readCookie(header, NAME), JSON.stringify(header)).toBe(parse(header)[NAME]);
            compared += 1;
          }
        }
      }
    }
    expect(compared).toBe(pieces.length ** 3 * 3);
  });
});

describe('setSessionCookie', () => {
  const sent = (options: SessionCookieOptions, value: string): string[] => {
    const headers: string[] = [];
    const res = {
      appendHeader: (name: string, text: string) => {
        expect(name).toBe('Set-Cookie');
        headers.push(text);
      },
    } as unknown as SessionResponse;
    setSessionCookie(res, resolveCookieOptions(options, NAME), value);
    return headers;
  };

  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes exactly what cookie.serialize writes for the options, expiry included', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const cases: SessionCookieOptions[] = [
      {},
      { maxAgeMs: 86_400_000 },
      { maxAgeMs: 1_500, secure: false, sameSite: 'strict', path: '/app' },
      { maxAgeMs: 3_600_000, domain: 'example.com', httpOnly: false, sameSite: 'none' },
      { name: 'other', secure: true, sameSite: 'none' },
    ];
    for (const now of [
      1_700_000_000_000, 1_700_000_000_999, 1_700_000_001_000, 1_700_000_061_500,
    ]) {
      vi.setSystemTime(now);
      for (const options of cases) {
        const resolved = resolveCookieOptions(options, NAME);
        expect(sent(options, VALUE)).toEqual([
          serialize(resolved.name, VALUE, {
            path: resolved.path,
            httpOnly: resolved.httpOnly,
            secure: resolved.secure,
            sameSite: resolved.sameSite,
            ...(resolved.domain === undefined ? {} : { domain: resolved.domain }),
            ...(resolved.maxAgeMs === undefined
              ? {}
              : {
                  maxAge: Math.floor(resolved.maxAgeMs / 1000),
                  expires: new Date(now + resolved.maxAgeMs),
                }),
          }),
        ]);
      }
    }
  });

  it('moves the expiry with the clock for the same options object', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const options = resolveCookieOptions({ maxAgeMs: 60_000 }, NAME);
    const headers: string[] = [];
    const res = {
      appendHeader: (_name: string, text: string) => headers.push(text),
    } as unknown as SessionResponse;
    for (const now of [1_700_000_000_000, 1_700_000_000_400, 1_700_000_002_000]) {
      vi.setSystemTime(now);
      setSessionCookie(res, options, VALUE);
    }
    expect(headers.map((text) => /Expires=([^;]+)/.exec(text)?.[1])).toEqual([
      new Date(1_700_000_060_000).toUTCString(),
      new Date(1_700_000_060_000).toUTCString(),
      new Date(1_700_000_062_000).toUTCString(),
    ]);
  });
});
