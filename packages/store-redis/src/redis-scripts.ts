import { readFileSync } from 'node:fs';
import { SessionError } from '@session-cluster/core';
import type { Cluster, Redis } from 'ioredis';
import { STORE_REDIS_VERSION } from './version.js';

/**
 * Every Lua script of the store and how many KEYS it takes
 * (`src/lua/<name>-<keys>.lua`).
 */
export const STORE_SCRIPTS = Object.freeze({
  createSession: 2,
  saveSession: 2,
  patchSession: 2,
  replaceSession: 2,
  mergeSession: 2,
  touchSession: 2,
  deleteSession: 2,
  sweepBucket: 4,
  removeUserIndexMembers: 1,
  indexUserSession: 1,
  keepExpiryBatch: 1,
} as const);

/** Name of one of {@link STORE_SCRIPTS}. */
export type StoreScriptName = keyof typeof STORE_SCRIPTS;

/**
 * The ioredis command a script is registered under: `sc_<name>_<version>`
 * (`sc_saveSession_0_1_0`). Two releases sharing one Redis during a rolling
 * deploy each run their own script, never the other's.
 */
export function scriptCommandName(name: StoreScriptName): string {
  return `sc_${name}_${STORE_REDIS_VERSION.replace(/[^A-Za-z0-9]/g, '_')}`;
}

/**
 * Session writes a busy instance sends together: the calls of one of these
 * scripts that one event-loop turn gathers go to Redis as one call of
 * `sc_<name>_<version>_batch` (lua/batch.lua), each still its own unit. A request's
 * commit is one of these; batching them is what lets a write cost less
 * than a command of its own per request on both sides of the socket.
 */
const BATCHED_SCRIPTS: ReadonlySet<StoreScriptName> = new Set([
  'patchSession',
  'replaceSession',
  'saveSession',
  'touchSession',
]);

/**
 * Most calls in one batch; a batch that reaches it is sent in this tick
 * (see {@link RedisScripts.holdWrites}) instead of at the end of the turn.
 * Under 50 connections a turn mostly holds fewer writes than this, so they
 * leave together when the turn ends: one script start and one socket write
 * for all of them. Measured on 2026-12-07 (docs/benchmarks.md, "Bigger
 * write batches"): against batches of 8, the instance spent ~10-16 % less
 * CPU per HTTP write-one-key request and Redis ~20 % less (8 had been
 * chosen when a turn's held writes left the instance idle; the writes of a
 * tick have shared one socket write since); 64 did no better than 32. The
 * bound keeps one script's hold on Redis short: 32 one-key patches on a
 * tracked connection ~0.6 ms (`--suite script`: ~18.5 µs a call).
 */
export const MAX_BATCH_CALLS = 32;

/** Scripts that do not read or write session frames, so need no prelude. */
const WITHOUT_FRAME_PRELUDE: ReadonlySet<StoreScriptName> = new Set([
  'removeUserIndexMembers',
  'indexUserSession',
  'keepExpiryBatch',
]);

const sources = new Map<StoreScriptName, string>();

function readLua(file: string): string {
  return readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
}

/**
 * The Lua source of a script, read once from `lua/` next to this module (src
 * or dist): `lua/frame.lua` (the framed-session reader and writer every
 * session script shares) followed by `lua/<name>-<keys>.lua`.
 */
export function scriptSource(name: StoreScriptName): string {
  let source = sources.get(name);
  if (source === undefined) {
    const body = readLua(`${name}-${STORE_SCRIPTS[name]}.lua`);
    source = WITHOUT_FRAME_PRELUDE.has(name) ? body : `${readLua('frame.lua')}\n${body}`;
    sources.set(name, source);
  }
  return source;
}

/**
 * The source of a batch command: the prelude, the script's body as a local
 * function of its own KEYS and ARGV (its `return`s then end one call, not
 * the batch), and the loop of lua/batch.lua over the calls.
 */
function batchSource(name: StoreScriptName): string {
  const body = readLua(`${name}-${STORE_SCRIPTS[name]}.lua`);
  return `${readLua('frame.lua')}\nlocal function sc_one(KEYS, ARGV)\n${body}\nend\n${readLua('batch.lua')}`;
}

/** An argument of a script call: ioredis sends numbers as their decimal string. */
export type ScriptArg = string | number;

type ScriptCommand = (...args: ScriptArg[]) => Promise<unknown>;

/** A call of a batched script waiting for its turn's flush. */
interface QueuedCall {
  readonly name: StoreScriptName;
  readonly keys: readonly string[];
  readonly args: readonly ScriptArg[];
  readonly sent: (() => void) | undefined;
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The real `setImmediate`, taken when this module loads: the flush of a turn's
 * writes is I/O scheduling, not time, so a test's fake timers must not hold
 * it back (they would hold every write with it).
 */
const nextTurn = globalThis.setImmediate;

/** The real `process.nextTick`, for the same reason as {@link nextTurn}. */
const nextTick = process.nextTick.bind(process);

/**
 * The store's scripts on one client, registered with ioredis `defineCommand`
 * (which sends EVALSHA and falls back to EVAL on NOSCRIPT: no script cache
 * of our own).
 *
 * Calls of {@link BATCHED_SCRIPTS} wait until {@link MAX_BATCH_CALLS} of
 * them are queued or the event loop's turn ends (`setImmediate`: after
 * every socket that was readable in this turn has been handled, so the
 * writes of concurrent requests meet), then a run of calls of one script
 * goes as one `<command>_batch` call, or alone when it is one call (always
 * alone on Cluster, see the constructor).
 *
 * Order: calls leave in the order they were made. A call of a script that
 * is not batched, and {@link flush} (which the store runs before any other
 * command), first send what is queued, so a write is never overtaken by a
 * later command of this client (a read or delete issued right after a
 * patch still sees the patch, as with plain pipelining).
 */
export class RedisScripts {
  private readonly commands: Readonly<Record<StoreScriptName, ScriptCommand>>;
  private readonly batchCommands = new Map<StoreScriptName, ScriptCommand>();
  private queue: QueuedCall[] = [];
  /** Whether a flush at the end of this turn is scheduled. */
  private flushScheduled = false;
  private readonly flushAtTurnEnd = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  /** The connection's socket while it is corked until the end of this tick. */
  private held: Redis['stream'] | undefined;

  public constructor(private readonly client: Redis | Cluster) {
    const define = (command: string, lua: string, numberOfKeys?: number): ScriptCommand => {
      client.defineCommand(command, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
      // defineCommand adds a method of that name; it is not in ioredis' types.
      const method = (client as unknown as Record<string, unknown>)[command];
      if (typeof method !== 'function') {
        throw new SessionError('INTERNAL', `ioredis did not define the command ${command}`);
      }
      return (...args) => (method as ScriptCommand).apply(client, args);
    };
    const commands: Partial<Record<StoreScriptName, ScriptCommand>> = {};
    for (const name of Object.keys(STORE_SCRIPTS) as StoreScriptName[]) {
      const command = scriptCommandName(name);
      commands[name] = define(command, scriptSource(name), STORE_SCRIPTS[name]);
      // Not on Cluster: ioredis' auto-pipelining routes a command by its
      // first argument, and a batch's first is its KEYS count, not a key.
      if (BATCHED_SCRIPTS.has(name) && !client.isCluster) {
        // No fixed KEYS count: a batch's first argument says how many.
        this.batchCommands.set(name, define(`${command}_batch`, batchSource(name)));
      }
    }
    this.commands = commands as Record<StoreScriptName, ScriptCommand>;
  }

  /**
   * Run `name` with its KEYS then ARGV; resolves to the raw reply.
   * @param sent called as soon as the call has been handed to the client
   *   (a batched one when its batch is full or the turn ends): a command
   *   the caller sends from it goes to Redis right behind the call
   */
  public run(
    name: StoreScriptName,
    keys: readonly string[],
    args: readonly ScriptArg[],
    sent?: () => void,
  ): Promise<unknown> {
    if (!this.batchCommands.has(name)) {
      this.flush();
      this.holdWrites();
      const reply = this.commands[name](...keys, ...args);
      sent?.();
      return reply;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ name, keys, args, sent, resolve, reject });
      if (this.queue.length >= MAX_BATCH_CALLS) {
        this.flush();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        nextTurn(this.flushAtTurnEnd);
      }
    });
  }

  /** Send every queued call now, in order (see the class comment). */
  public flush(): void {
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    // Sent now, not at the end of the tick: first what the tick held
    // (order is kept), then these batches with the reads their callers
    // send behind them, in one write. Redis starts on them while this tick
    // goes on (64 writes issued in one tick would otherwise all wait for
    // the last); what the tick issues next is held again.
    this.holdWrites();
    const stream = this.held;
    stream?.uncork();
    stream?.cork();
    this.sendRuns(queue);
    stream?.uncork();
    stream?.cork();
  }

  /**
   * Gather what this client writes until the end of the current tick (the
   * microtask queue included) into one socket write: the `GET`s of many
   * loads that one reply's callbacks start, for instance. A write is a
   * system call that also runs the loopback's receive path: the largest
   * single cost of a command on the client. Nothing waits for the end of
   * the turn (what ioredis' auto-pipelining does, and what left Redis idle
   * while the instance handled the rest of its turn), and a batch does not
   * wait for the end of the tick (see {@link flush}). No-op on Cluster,
   * whose client writes to a socket per node.
   */
  public holdWrites(): void {
    if (this.held !== undefined || this.client.isCluster) return;
    // Undefined before the first connection, whatever the types say.
    const stream = (this.client as Redis).stream as Redis['stream'] | undefined;
    if (stream === undefined) return;
    this.held = stream;
    stream.cork();
    nextTick(() => {
      this.held = undefined;
      // The socket corked, even if the client has reconnected since.
      stream.uncork();
    });
  }

  private sendRuns(queue: readonly QueuedCall[]): void {
    let from = 0;
    // Runs of one script: a batch carries calls of one script only (the
    // queue never holds more than MAX_BATCH_CALLS).
    for (let i = 1; i <= queue.length; i += 1) {
      if (i < queue.length && queue[i]?.name === queue[from]?.name) continue;
      this.send(queue.slice(from, i));
      from = i;
    }
  }

  /**
   * Send calls of one script, in order: together when they are several. NUL
   * separates a call's arguments in a batch (lua/batch.lua); no argument the
   * store builds holds one (JSON escapes control characters, ids and
   * base64url have none), but a call with one would go alone, after the
   * calls before it.
   */
  private send(calls: readonly QueuedCall[]): void {
    let together: QueuedCall[] = [];
    for (const call of calls) {
      if (!call.args.some(holdsNul)) {
        together.push(call);
        continue;
      }
      this.sendTogether(together);
      together = [];
      this.sendAlone(call);
    }
    this.sendTogether(together);
  }

  private sendAlone(call: QueuedCall): void {
    this.commands[call.name](...call.keys, ...call.args).then(call.resolve, call.reject);
    call.sent?.();
  }

  private sendTogether(calls: readonly QueuedCall[]): void {
    const [first] = calls;
    if (first === undefined) return;
    if (calls.length === 1) {
      this.sendAlone(first);
      return;
    }
    const keys: ScriptArg[] = [];
    const args: ScriptArg[] = [STORE_SCRIPTS[first.name]];
    for (const call of calls) {
      keys.push(...call.keys);
      args.push(call.args.join('\0'));
    }
    const batch = this.batchCommands.get(first.name) as ScriptCommand;
    batch(keys.length, ...keys, ...args).then(
      (replies) => {
        if (!Array.isArray(replies) || replies.length !== calls.length) {
          const error = new SessionError('INTERNAL', `${first.name} batch: unexpected reply`);
          for (const call of calls) call.reject(error);
          return;
        }
        for (const [i, call] of calls.entries()) {
          // A call that raised comes back as an error reply of its own.
          const reply: unknown = replies[i];
          if (reply instanceof Error) call.reject(reply);
          else call.resolve(reply);
        }
      },
      (error: unknown) => {
        for (const call of calls) call.reject(error);
      },
    );
    for (const call of calls) call.sent?.();
  }
}

function holdsNul(arg: ScriptArg): boolean {
  return typeof arg === 'string' && arg.includes('\0');
}
