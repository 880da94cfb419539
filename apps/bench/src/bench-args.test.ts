import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BENCH_USAGE, parseBenchArgs } from './bench-args.js';

const APP_DIR = fileURLToPath(new URL('../', import.meta.url));

/** `node src/main.ts …` as `pnpm bench …` runs it (from source): its exit status and output. */
function bench(
  ...argv: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@session-cluster/source', 'src/main.ts', ...argv],
    { cwd: APP_DIR, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (status) => {
      resolve({ status, stdout, stderr });
    });
  });
}

// The process tests only start the app and read its exit: they run side by
// side (tsx loading the scenarios is most of their time).
describe.concurrent('bench command line', () => {
  it('parses options with their defaults', () => {
    expect(parseBenchArgs(['--suite', 'http', '--only', 'ours'])).toEqual({
      kind: 'run',
      args: {
        ops: '20000',
        lanes: '64',
        rounds: '3',
        suite: 'http',
        only: 'ours',
        'http-seconds': '4',
        connections: '50',
        'sweep-sessions': '1000000',
      },
    });
    expect(parseBenchArgs(['-h'])).toEqual({ kind: 'help' });
    expect(parseBenchArgs(['--ops', '10', '--help'])).toEqual({ kind: 'help' });
    expect(parseBenchArgs(['--nope'])).toMatchObject({
      kind: 'error',
      message: expect.stringContaining("'--nope'") as unknown,
    });
    expect(parseBenchArgs(['stray'])).toMatchObject({ kind: 'error' });
  });

  it.each(['--help', '-h'])(
    '%s prints the usage and exits 0 (before touching Redis)',
    async (flag) => {
      const run = await bench(flag);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toBe(BENCH_USAGE);
      // Loading the scenarios through tsx takes seconds on a busy machine.
    },
    60_000,
  );

  it('an unknown option: a one-line reason and the usage on stderr, exit 2, no stack trace', async () => {
    const run = await bench('--frobnicate');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^bench: Unknown option '--frobnicate'/);
    expect(run.stderr).toContain('Usage: pnpm bench [options]');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
