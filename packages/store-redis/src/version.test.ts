import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STORE_REDIS_VERSION } from './version.js';
import { scriptCommandName } from './redis-scripts.js';

describe('STORE_REDIS_VERSION', () => {
  it("equals package.json's version", () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(STORE_REDIS_VERSION).toBe(pkg.version);
  });

  it('is part of every script command name', () => {
    const suffix = STORE_REDIS_VERSION.replace(/[^A-Za-z0-9]/g, '_');
    expect(scriptCommandName('saveSession')).toBe(`sc_saveSession_${suffix}`);
    expect(scriptCommandName('sweepBucket')).toMatch(/^sc_sweepBucket_\d+_\d+_\d+/);
  });
});
