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

/** An argument of a script call: ioredis sends numbers as their decimal string. */
export type ScriptArg = string | number;

type ScriptCommand = (...args: ScriptArg[]) => Promise<unknown>;

/**
 * The store's scripts on one client, registered with ioredis `defineCommand`
 * (which sends EVALSHA and falls back to EVAL on NOSCRIPT: no script cache
 * of our own).
 */
export class RedisScripts {
  private readonly commands: Readonly<Record<StoreScriptName, ScriptCommand>>;

  public constructor(client: Redis | Cluster) {
    const commands: Partial<Record<StoreScriptName, ScriptCommand>> = {};
    for (const name of Object.keys(STORE_SCRIPTS) as StoreScriptName[]) {
      const command = scriptCommandName(name);
      client.defineCommand(command, {
        numberOfKeys: STORE_SCRIPTS[name],
        lua: scriptSource(name),
      });
      // defineCommand adds a method of that name; it is not in ioredis' types.
      const method = (client as unknown as Record<string, unknown>)[command];
      if (typeof method !== 'function') {
        throw new SessionError('INTERNAL', `ioredis did not define the command ${command}`);
      }
      commands[name] = (...args) => (method as ScriptCommand).apply(client, args);
    }
    this.commands = commands as Record<StoreScriptName, ScriptCommand>;
  }

  /** Run `name` with its KEYS then ARGV; resolves to the raw reply. */
  public run(
    name: StoreScriptName,
    keys: readonly string[],
    args: readonly ScriptArg[],
  ): Promise<unknown> {
    return this.commands[name](...keys, ...args);
  }
}
