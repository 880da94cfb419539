import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] ?? '').trim());
}

describe('README commands', () => {
  const readme = read('README.md');
  const blocks = shellBlocks(readme);

  it('CI runs exactly the README test command', () => {
    const ciLines = read('.ci/run')
      .split('\n')
      .filter((line) => line.startsWith('npx '));
    expect(ciLines).toHaveLength(1);
    expect(blocks).toContain(ciLines[0]);
  });

  it('pins one pnpm version everywhere and never uses the packageManager field', () => {
    const pkg = JSON.parse(read('package.json')) as {
      engines: { pnpm: string };
      packageManager?: string;
      devEngines?: { packageManager?: { name: string; version: string; onFail: string } };
    };
    // The packageManager field breaks frozen installs with pnpm 12; turbo is
    // satisfied by devEngines, which pnpm leaves alone with onFail: 'ignore'.
    expect(pkg.packageManager).toBeUndefined();
    expect(pkg.devEngines?.packageManager).toEqual({
      name: 'pnpm',
      version: pkg.engines.pnpm,
      onFail: 'ignore',
    });
    const versions = new Set([...readme.matchAll(/pnpm@(\d+\.\d+\.\d+)/g)].map((m) => m[1]));
    expect([...versions]).toEqual([pkg.engines.pnpm]);
  });

  it('has a main-job command and a test command for a fresh machine', () => {
    const fresh = blocks.filter(
      (b) => b.startsWith('npx -y pnpm@') && b.includes('--frozen-lockfile'),
    );
    expect(fresh.some((b) => b.endsWith(' start'))).toBe(true);
    expect(fresh.some((b) => b.endsWith(' run verify'))).toBe(true);
  });
});
