import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * Keeps docs/operations.md honest about environment variables: every
 * UPPER_SNAKE name it shows in backticks (or assigns in a shell block) must
 * occur in the library or app sources, and every variable apps/sweeper reads
 * must be documented.
 */

const root = fileURLToPath(new URL('../', import.meta.url));
const doc = readFileSync(join(root, 'docs/operations.md'), 'utf8');

/** Source files of apps/ and packages/: TypeScript and Lua under each `src/`, tests left out. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|lua)$/.test(entry.name) && !/\.test(-helpers)?\.ts$/.test(entry.name)) {
        files.push(path);
      }
    }
  };
  for (const area of ['apps', 'packages']) {
    for (const entry of readdirSync(join(root, area), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const src = join(root, area, entry.name, 'src');
      try {
        walk(src);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
  return files;
}

const ENV_NAME = /^[A-Z][A-Z0-9_]+$/;

/** Inline code spans outside fenced blocks whose whole content looks like an env var name. */
function backtickedNames(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...prose.matchAll(/`([^`\n]+)`/g)]
    .map((match) => match[1] ?? '')
    .filter((span) => ENV_NAME.test(span));
}

/** `NAME=` assignments in the doc's shell blocks. */
function assignedNames(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1] ?? '');
  return blocks.flatMap((block) =>
    [...block.matchAll(/(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]+)=/g)].map((match) => match[1] ?? ''),
  );
}

/** First column of the table whose header starts with `| variable |` (the sweeper's environment). */
function variableTable(markdown: string): string[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*variable\s*\|/.test(line));
  expect(header, 'the sweeper variable table is missing').toBeGreaterThanOrEqual(0);
  const names: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const first = line.split('|')[1] ?? '';
    names.push(...[...first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1] ?? ''));
  }
  return names;
}

describe('docs/operations.md', () => {
  const sources = sourceFiles().map((path) => ({ path, text: readFileSync(path, 'utf8') }));

  it('names only environment variables the code knows', () => {
    expect(sources.length).toBeGreaterThan(50);
    const names = new Set([...backtickedNames(doc), ...assignedNames(doc)]);
    // The sweeper table alone has 19 names; a parser that finds few is broken.
    expect(names.size).toBeGreaterThan(20);
    const missing = [...names].filter((name) => {
      const word = new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`);
      return !sources.some((source) => word.test(source.text));
    });
    expect(missing, 'named in docs/operations.md but absent from apps/ and packages/').toEqual([]);
  });

  it('documents every variable apps/sweeper reads', () => {
    const config = sources.find((source) =>
      source.path.endsWith(join('apps', 'sweeper', 'src', 'sweeper-config.ts')),
    );
    expect(config, 'apps/sweeper/src/sweeper-config.ts').toBeDefined();
    const read = new Set(
      [...(config?.text ?? '').matchAll(/\b(?:text|integer|flag)\('([A-Z][A-Z0-9_]+)'\)/g)].map(
        (match) => match[1] ?? '',
      ),
    );
    expect(read.size).toBeGreaterThan(15);
    const documented = new Set(variableTable(doc));
    expect([...read].filter((name) => !documented.has(name))).toEqual([]);
  });
});
