import { parse } from 'cookie';
import { describe, expect, it } from 'vitest';
import { readCookie } from './cookie-header.js';

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
