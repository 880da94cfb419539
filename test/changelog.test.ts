import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
}

/** Every published package's manifest (packages/* not marked private). */
function publishedManifests(): Manifest[] {
  return readdirSync(new URL('packages/', root))
    .map((dir) => JSON.parse(read(`packages/${dir}/package.json`)) as Manifest)
    .filter((manifest) => manifest.private !== true);
}

describe('CHANGELOG.md', () => {
  it('its newest entry is the version every published package carries (lockstep)', () => {
    const newest = /^## (\d+\.\d+\.\d+)/m.exec(read('CHANGELOG.md'))?.[1];
    expect(newest).toMatch(/^\d+\.\d+\.\d+$/);
    const manifests = publishedManifests();
    expect(manifests.length).toBeGreaterThan(5);
    for (const manifest of manifests) {
      expect(`${manifest.name}@${manifest.version}`).toBe(`${manifest.name}@${newest}`);
    }
  });

  it('lists every release in descending order, breaking changes first', () => {
    const changelog = read('CHANGELOG.md');
    const versions = [...changelog.matchAll(/^## (\d+)\.(\d+)\.(\d+)/gm)].map((m) =>
      [m[1], m[2], m[3]].map(Number),
    );
    const sorted = [...versions].sort((a, b) => b[0]! - a[0]! || b[1]! - a[1]! || b[2]! - a[2]!);
    expect(versions).toEqual(sorted);
    const newestEntry = changelog.split(/^## /m)[1] ?? '';
    const sections = [...newestEntry.matchAll(/^### (\w+)/gm)].map((m) => m[1]);
    expect(sections[0]).toBe('Breaking');
  });
});
