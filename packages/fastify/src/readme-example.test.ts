import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findFreePort, useRedisServer } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/server.ts', import.meta.url));
const NEST_EXAMPLE = fileURLToPath(new URL('../examples/nest/main.ts', import.meta.url));
const README = fileURLToPath(new URL('../README.md', import.meta.url));

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

/** An example running as its README says: its own process, a cookie jar of one browser. */
interface RunningExample {
  readonly child: ChildProcess;
  readonly base: string;
  /** How it ended: its exit code, or the signal that ended it. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  readonly stderr: () => string;
  /** One request with the jar's cookie; the jar keeps the cookie the reply sets. */
  readonly request: (method: string, path: string) => Promise<Response>;
  readonly jar: () => string | undefined;
}

async function startExample(file: string): Promise<RunningExample> {
  const port = await findFreePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@session-cluster/source', file],
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
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code;
      resolve(code ?? signal);
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  let jar: string | undefined;
  try {
    await waitForListening(base, () => exitCode !== undefined);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}; stderr: ${stderr}`, { cause: error });
  }
  return {
    child,
    base,
    exited,
    stderr: () => stderr,
    jar: () => jar,
    request: async (method, path) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: jar === undefined ? {} : { cookie: jar },
      });
      const set = response.headers.getSetCookie()[0];
      if (set !== undefined) jar = set.split(';')[0];
      return response;
    },
  };
}

describe.each([
  ['examples/server.ts', EXAMPLE],
  ['examples/nest/main.ts', NEST_EXAMPLE],
])('the README shows %s', (_name, file) => {
  it('verbatim', () => {
    expect(readFileSync(README, 'utf8')).toContain('```ts\n' + readFileSync(file, 'utf8') + '```');
  });
});

describe('the README example app (examples/server.ts)', () => {
  it('runs as written: visits count per session, the theme and login commit, SIGTERM closes it', async () => {
    const app = await startExample(EXAMPLE);
    const { request } = app;
    try {
      // As the README's curl lines show: the first visit creates the session.
      expect(await (await request('POST', '/visit')).json()).toEqual({ visits: 1 });
      const first = app.jar();
      expect(first).toBeDefined();
      expect(await (await request('POST', '/visit')).json()).toEqual({ visits: 2 });
      expect(await (await request('GET', '/')).text()).toBe('visits: 2');
      expect((await request('POST', '/theme')).status).toBe(204);
      expect(await (await request('POST', '/login')).json()).toEqual({ ok: true });
      // Regenerated: a new id in the cookie, the data kept.
      expect(app.jar()).not.toBe(first);
      expect(await (await request('GET', '/')).text()).toBe('visits: 2');
      // Another browser has its own session.
      expect(await (await fetch(`${app.base}/`)).text()).toBe('visits: 0');
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(app.stderr()).toBe('');
    } finally {
      app.child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('the README NestJS example (examples/nest/main.ts)', () => {
  it('runs as written: a Nest controller counts visits per session; SIGTERM closes it', async () => {
    const app = await startExample(NEST_EXAMPLE);
    const { request } = app;
    try {
      expect(await (await request('POST', '/visit')).json()).toEqual({ visits: 1 });
      expect(app.jar()).toMatch(/^sc\.sid=/);
      expect(await (await request('POST', '/visit')).json()).toEqual({ visits: 2 });
      expect(await (await request('GET', '/')).text()).toBe('visits: 2');
      // Lossless under parallel requests of one browser, through Nest's pipeline.
      const parallel = await Promise.all(
        Array.from({ length: 20 }, () => request('POST', '/visit').then((r) => r.status)),
      );
      expect(parallel.every((status) => status === 201)).toBe(true);
      expect(await (await request('GET', '/')).text()).toBe('visits: 22');
      // Another browser has its own session.
      expect(await (await fetch(`${app.base}/`)).text()).toBe('visits: 0');
      // Nest's shutdown hooks close the app (and the cluster, onClose), then
      // raise the signal again: the process ends by it, having said nothing.
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe('SIGTERM');
      expect(app.stderr()).toBe('');
    } finally {
      app.child.kill('SIGKILL');
    }
  }, 60_000);
});
