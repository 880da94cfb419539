import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '@session-cluster/testkit';

/** The demo, running as its own process tree (primary + instances). */
export interface DemoProcess {
  readonly url: string;
  /** The key prefix of its sessions in Redis (`DEMO_PREFIX`). */
  readonly prefix: string;
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGINT, as Ctrl-C would; resolves with the exit code (SIGKILL after 20 s: a test failure). */
  interrupt(): Promise<number | null>;
}

const DEMO_DIR = fileURLToPath(new URL('../', import.meta.url));

/**
 * Start the demo from source (`src/main.ts` through tsx, workspace packages
 * from source) with `REDIS_URL` and a free `PORT`; resolves once it prints
 * where to open it (55 s at most).
 */
export async function startDemo(
  redisUrl: string,
  extraEnv: Record<string, string> = {},
): Promise<DemoProcess> {
  const port = await findFreePort();
  const prefix = extraEnv['DEMO_PREFIX'] ?? `demo-test-${port}`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@session-cluster/source', 'src/main.ts'],
    {
      cwd: DEMO_DIR,
      env: {
        ...process.env,
        REDIS_URL: redisUrl,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        ...extraEnv,
        DEMO_PREFIX: prefix,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      resolve(code);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    // Just under the hook timeout (60 s): on a loaded 2-core machine three
    // tsx instances take 30 s and more to start.
    const timer = setTimeout(() => {
      reject(new Error(`demo did not start within 55 s:\n${output}`));
    }, 55_000);
    const check = (): void => {
      if (/open http:\/\/\S+/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`demo exited (${code}) during start-up:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    prefix,
    child,
    output: () => output,
    interrupt: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}
