import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findFreePort, useRedisServer } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/server.ts', import.meta.url));

const server = useRedisServer();

/** Polls `url` until the example answers (it connects to Redis, then listens). */
async function waitForListening(url: string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited()) throw new Error('the example exited before it listened');
    try {
      await (await fetch(url)).text();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`the example never listened on ${url}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('the README example app (examples/server.ts)', () => {
  it('is the code the README shows', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + readFileSync(EXAMPLE, 'utf8') + '```');
  });

  it('runs as written: visits count per session, the theme and login commit, SIGTERM closes it', async () => {
    const port = await findFreePort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@session-cluster/source', EXAMPLE],
      {
        cwd: PACKAGE_DIR,
        env: {
          ...process.env,
          REDIS_URL: server.url,
          SESSION_SECRET: 'readme-example-secret-0123456789abcdef',
          PORT: String(port),
          NODE_ENV: 'test',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        exitCode = code;
        resolve(code);
      }),
    );
    const base = `http://127.0.0.1:${port}`;
    let jar: string | undefined;
    const request = async (method: string, path: string): Promise<Response> => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: jar === undefined ? {} : { cookie: jar },
      });
      const set = response.headers.getSetCookie()[0];
      if (set !== undefined) jar = set.split(';')[0];
      return response;
    };
    try {
      await waitForListening(base, () => exitCode !== undefined);
      // As the README's curl lines show: the first visit creates the session.
      expect(await (await request('POST', '/visit')).json()).toEqual({ visits: 1 });
      const first = jar;
      expect(first).toBeDefined();
      expect(await (await request('POST', '/visit')).json()).toEqual({ visits: 2 });
      expect(await (await request('GET', '/')).text()).toBe('visits: 2');
      expect((await request('POST', '/theme')).status).toBe(204);
      expect(await (await request('POST', '/login')).json()).toEqual({ ok: true });
      // Regenerated: a new id in the cookie, the data kept.
      expect(jar).not.toBe(first);
      expect(await (await request('GET', '/')).text()).toBe('visits: 2');
      // Another browser has its own session.
      expect(await (await fetch(`${base}/`)).text()).toBe('visits: 0');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
