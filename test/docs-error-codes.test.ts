import { readFileSync } from 'node:fs';
import * as core from '@session-cluster/core';
import {
  ConcurrentAccessError,
  SESSION_ERROR_TRAITS,
  SessionCorruptedError,
  SessionEncryptionError,
  SessionExpiredError,
  SessionNotFoundError,
  SessionSerializationError,
  SessionValidationError,
  StorageUnavailableError,
  isRetryableSessionError,
  isSessionError,
  toSessionError,
} from '@session-cluster/core';
import type { SessionError, SessionErrorCode } from '@session-cluster/core';
import { UNAVAILABLE_REPLY_PREFIXES } from '@session-cluster/store-redis';
import { describe, expect, it } from 'vitest';

/*
 * Keeps docs/error-handling.md true: its code table is compared with the
 * error classes at run time, and every code-like name it mentions must exist.
 */

const doc = readFileSync(new URL('../docs/error-handling.md', import.meta.url), 'utf8');

/**
 * How each code is really raised: the class and constructor call the library
 * uses. A `Record` over `SessionErrorCode`, so a new code fails the
 * typecheck here until it gets a row in the doc and a factory below.
 */
const RAISE: Readonly<Record<SessionErrorCode, () => SessionError>> = {
  SESSION_NOT_FOUND: () => new SessionNotFoundError(),
  SESSION_EXPIRED: () => new SessionExpiredError(),
  SESSION_ALREADY_EXISTS: () => new ConcurrentAccessError('already_exists', 'taken'),
  SESSION_CORRUPTED: () => new SessionCorruptedError(),
  STORAGE_UNAVAILABLE: () => new StorageUnavailableError(),
  STORAGE_TIMEOUT: () => new StorageUnavailableError('slow', { timeout: true }),
  LOCK_NOT_ACQUIRED: () => new ConcurrentAccessError('lock_not_acquired', 'held'),
  LOCK_LOST: () => new ConcurrentAccessError('lock_lost', 'lost'),
  VERSION_CONFLICT: () => new ConcurrentAccessError('version_conflict', 'stale'),
  INVALID_SESSION_ID: () => new SessionValidationError('bad id', { code: 'INVALID_SESSION_ID' }),
  INVALID_ARGUMENT: () => new SessionValidationError('bad argument'),
  INVALID_CONFIG: () => new SessionValidationError('bad option', { code: 'INVALID_CONFIG' }),
  PAYLOAD_TOO_LARGE: () => new SessionValidationError('too big', { code: 'PAYLOAD_TOO_LARGE' }),
  SERIALIZATION_FAILED: () => new SessionSerializationError('BigInt'),
  ENCRYPTION_FAILED: () => new SessionEncryptionError('openssl', { code: 'ENCRYPTION_FAILED' }),
  DECRYPTION_FAILED: () => new SessionEncryptionError('tag', { code: 'DECRYPTION_FAILED' }),
  UNKNOWN_KEY_ID: () => new SessionEncryptionError('key', { code: 'UNKNOWN_KEY_ID' }),
  INTERNAL: () => toSessionError(new TypeError('a bug')),
};

/** Every code the library has, from core's own table (not from this test). */
const CODES = Object.keys(SESSION_ERROR_TRAITS).sort() as SessionErrorCode[];

/** Backticked all-caps words in the doc that are neither codes nor outage replies, and why. */
const NON_CODE_WORDS: ReadonlySet<string> = new Set([
  'ERR', // Redis replies the store maps to INTERNAL
  'WRONGTYPE',
  'NOSCRIPT',
  'ECONNREFUSED', // a Node socket error code, as `toJSON().cause.code` shows it
]);

interface Row {
  readonly code: string;
  readonly className: string;
  readonly category: string;
  readonly severity: string;
  readonly retryable: boolean;
}

/** The rows of the table whose header starts with `| code |`. */
function codeTable(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*code\s*\|/.test(line));
  expect(header, 'the code table is missing').toBeGreaterThanOrEqual(0);
  const columns = cells(lines[header] ?? '');
  expect(columns).toEqual(['code', 'class', 'category', 'severity', 'retryable']);
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [code = '', className = '', category = '', severity = '', retryable = ''] = cells(line);
    expect(['yes', 'no'], `retryable of ${code}`).toContain(retryable);
    rows.push({ code, className, category, severity, retryable: retryable === 'yes' });
  }
  return rows;
}

function cells(line: string): string[] {
  return line
    .split('|')
    .slice(1, -1)
    .map((cell) => cell.trim().replaceAll('`', ''));
}

/** Inline code spans, outside fenced blocks. */
function inlineCode(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...prose.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] ?? '');
}

/** Backticked all-caps words of the paragraph or bullet that starts with `marker`. */
function listAfter(markdown: string, marker: string): string[] {
  const start = markdown.indexOf(marker);
  expect(start, `"${marker}" is missing`).toBeGreaterThanOrEqual(0);
  const rest = markdown.slice(start + marker.length);
  const end = rest.search(/\n\s*\n|\n\s*- /);
  const block = end < 0 ? rest : rest.slice(0, end);
  return [...block.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1] ?? '');
}

describe('docs/error-handling.md', () => {
  const rows = codeTable(doc);

  it('lists every code exactly once, and no other', () => {
    const listed = rows.map((row) => row.code);
    expect(new Set(listed).size, 'a code is listed twice').toBe(listed.length);
    expect([...listed].sort()).toEqual(CODES);
  });

  it('gives each code the class, category, severity and retryability it really has', () => {
    for (const row of rows) {
      const code = row.code as SessionErrorCode;
      const error = RAISE[code]();
      // The factory really raises this code, through the branded class hierarchy.
      expect(isSessionError(error)).toBe(true);
      expect(error.code).toBe(code);
      const traits = {
        category: error.category,
        severity: error.severity,
        retryable: error.retryable,
      };
      // What the instance carries is core's table for the code.
      expect({ code, ...traits }).toEqual({ code, ...SESSION_ERROR_TRAITS[code] });
      const actual = { className: error.name, ...traits };
      expect(
        {
          code,
          className: row.className,
          category: row.category,
          severity: row.severity,
          retryable: row.retryable,
        },
        `the table row of ${code}`,
      ).toEqual({ code, ...actual });
    }
  });

  it('has a section for every code', () => {
    const sections = [...doc.matchAll(/^### `([A-Z_]+)`$/gm)].map((match) => match[1]);
    expect([...sections].sort()).toEqual(CODES);
  });

  it('names only codes that exist', () => {
    const known = new Set<string>(CODES);
    const exports = new Set(Object.keys(core));
    // Anything UPPER_SNAKE with an underscore, anywhere (prose, tables, code blocks).
    const snake =
      doc.match(/(?<![A-Za-z0-9_])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![A-Za-z0-9_])/g) ?? [];
    expect(snake.length).toBeGreaterThan(CODES.length);
    for (const name of new Set(snake)) {
      expect(known.has(name) || exports.has(name), `${name} is not a SessionErrorCode`).toBe(true);
    }
    // Backticked single words such as `INTERNAL`: a code, an outage reply, or a listed exception.
    for (const word of new Set(
      inlineCode(doc).filter((span) => /^[A-Z][A-Z0-9]{2,}$/.test(span)),
    )) {
      expect(
        known.has(word) || UNAVAILABLE_REPLY_PREFIXES.has(word) || NON_CODE_WORDS.has(word),
        `\`${word}\` is not a SessionErrorCode`,
      ).toBe(true);
    }
  });

  it('says exactly which codes the retry policy retries', () => {
    // createRetryPolicy retries what isRetryableSessionError accepts.
    const retried = CODES.filter((code) => isRetryableSessionError(RAISE[code]()));
    expect(listAfter(doc, '**Retried:**').sort()).toEqual(retried);
  });

  it('says exactly which codes make the fallback serve from memory', () => {
    // fallback/src/storage-failure.ts: a storage-category SessionError that is
    // retryable. (This package does not depend on @session-cluster/fallback,
    // so its rule is restated here over the real traits.)
    const failover = CODES.filter((code) => {
      const error = RAISE[code]();
      return error.category === 'storage' && error.retryable;
    });
    expect(listAfter(doc, '**Fails over:**').sort()).toEqual(failover);
  });

  it('lists the Redis replies the store treats as an outage', () => {
    expect(listAfter(doc, '**Outage replies:**').sort()).toEqual(
      [...UNAVAILABLE_REPLY_PREFIXES].sort(),
    );
  });
});
