import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A trimmed copy of `test/fixtures/ipc-child.ts` (a package may not import
 * another package's test fixtures): a TypeScript script run as its own Node
 * process (`node --import tsx --conditions=@session-cluster/source`) that
 * talks to the test over IPC.
 */
export interface IpcMessage {
  readonly type: string;
}

/** A running child process. */
export interface IpcChild<In extends IpcMessage> {
  readonly child: ChildProcess;
  /** Every message received so far. */
  readonly inbox: readonly In[];
  /** The next message of `type` not yet taken; rejects on exit or timeout. */
  next<T extends In['type']>(type: T, timeoutMs?: number): Promise<Extract<In, { type: T }>>;
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** The last 4 KB of stderr. */
  stderr(): string;
}

/** The sweeper package: tsx and the workspace packages resolve from here. */
const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));

/** Start `script` (relative to this folder) with extra environment; waits for its `ready` message. */
export async function startIpcChild<In extends IpcMessage>(
  script: string,
  env: Readonly<Record<string, string>>,
  readyTimeoutMs = 30_000,
): Promise<IpcChild<In>> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@session-cluster/source',
      fileURLToPath(new URL(script, import.meta.url)),
    ],
    {
      cwd: PACKAGE_DIR,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const inbox: In[] = [];
  const taken = new Set<In>();
  const listeners = new Set<() => void>();
  child.on('message', (message: In) => {
    inbox.push(message);
    for (const listener of [...listeners]) listener();
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal);
      for (const listener of [...listeners]) listener();
    });
  });
  const handle: IpcChild<In> = {
    child,
    inbox,
    exited,
    stderr: () => stderr,
    next: <T extends In['type']>(type: T, timeoutMs = 30_000) =>
      new Promise<Extract<In, { type: T }>>((resolve, reject) => {
        const check = (): boolean => {
          const found = inbox.find((m) => m.type === type && !taken.has(m));
          if (found !== undefined) {
            taken.add(found);
            resolve(found as Extract<In, { type: T }>);
            return true;
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            reject(new Error(`child exited (${child.exitCode ?? child.signalCode}):\n${stderr}`));
            return true;
          }
          return false;
        };
        if (check()) return;
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no '${type}' within ${timeoutMs} ms:\n${stderr}`));
        }, timeoutMs);
        const listener = (): void => {
          if (check()) {
            clearTimeout(timer);
            listeners.delete(listener);
          }
        };
        listeners.add(listener);
      }),
  };
  // Every child announces itself with `{ type: 'ready' }`.
  await (handle.next as (type: string, timeoutMs: number) => Promise<unknown>)(
    'ready',
    readyTimeoutMs,
  );
  return handle;
}
