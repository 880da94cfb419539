import { describe, expect, it } from 'vitest';
import { DEMO_DEFAULTS, parseSweeperArgs, withDemoDefaults } from './sweeper-args.js';
import { readSweeperConfig } from './sweeper-config.js';

describe('sweeper command line', () => {
  it('reads --demo, --help and -h; refuses anything else', () => {
    expect(parseSweeperArgs([])).toEqual({ kind: 'run', demo: false });
    expect(parseSweeperArgs(['--demo'])).toEqual({ kind: 'run', demo: true });
    expect(parseSweeperArgs(['--demo', '-h'])).toEqual({ kind: 'help' });
    expect(parseSweeperArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseSweeperArgs(['--prefix=x'])).toMatchObject({ kind: 'error' });
    expect(parseSweeperArgs(['now'])).toMatchObject({ kind: 'error' });
  });

  it('--demo: the demo’s Redis address and prefix when nothing is set', () => {
    expect(DEMO_DEFAULTS).toEqual({ redisUrl: 'redis://127.0.0.1:6379', prefix: 'demo' });
    const result = readSweeperConfig(withDemoDefaults({ REDIS_URL: '', SESSION_PREFIX: ' ' }));
    expect(result).toMatchObject({
      ok: true,
      config: {
        redisDescription: 'redis://127.0.0.1:6379',
        sweeper: { connection: { url: 'redis://127.0.0.1:6379' }, prefix: 'demo' },
      },
    });
  });

  it('--demo: what is set still wins (DEMO_PREFIX as the demo reads it, then SESSION_PREFIX)', () => {
    expect(withDemoDefaults({ DEMO_PREFIX: 'mine' })).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_PREFIX: 'mine',
    });
    expect(
      withDemoDefaults({ DEMO_PREFIX: 'mine', SESSION_PREFIX: 'app', REDIS_URL: 'redis://h:1' }),
    ).toMatchObject({ REDIS_URL: 'redis://h:1', SESSION_PREFIX: 'app' });
    // Another topology given: no URL added (it would conflict).
    const cluster = withDemoDefaults({ REDIS_CLUSTER_NODES: '10.0.0.1:7000' });
    expect(cluster['REDIS_URL']).toBeUndefined();
    expect(readSweeperConfig(cluster)).toMatchObject({ ok: true });
  });
});
