import { maskSessionIds } from '@session-cluster/core';

/** Longest key shown in a statement; longer ones are cut. */
const MAX_KEY_LENGTH = 200;

/** Commands whose arguments are `script-or-sha numkeys key… arg…`. */
const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

/** Commands that name no key: the statement is the command alone. */
const KEYLESS_COMMANDS = new Set([
  'ping',
  'info',
  'script',
  'client',
  'cluster',
  'command',
  'config',
  'auth',
  'hello',
  'select',
  'quit',
  'multi',
  'exec',
  'discard',
  'time',
  'dbsize',
  'readonly',
  'function',
]);

function showKey(arg: unknown): string {
  if (typeof arg === 'string') {
    const key = arg.length > MAX_KEY_LENGTH ? `${arg.slice(0, MAX_KEY_LENGTH)}…` : arg;
    return maskSessionIds(key);
  }
  if (typeof arg === 'number') return String(arg);
  if (Buffer.isBuffer(arg)) return `<${arg.length} bytes>`;
  return '<?>';
}

function rest(count: number): string {
  return count > 0 ? ` [${count} other arguments]` : '';
}

/**
 * `db.statement` / `db.query.text` of a Redis command span, safe to export:
 * the command and the keys it touches, with session ids masked
 * (`<sid:hash>`), never the values (session data, tokens). For scripts
 * (`EVALSHA sha numkeys key… arg…`) the keys are shown and the arguments
 * counted; for other commands the first argument (the key) is shown and
 * the rest counted.
 *
 * The ioredis instrumentation's default serializer shows every argument of
 * `EVAL*`, `GET*`, `Z*`, … — session ids and session payloads included —
 * so `startTelemetry` installs this one.
 *
 * @example
 * ```ts
 * redisStatement('evalsha', [sha, '2', `app:s:{app:3}:${sid}`, 'app:exp:{app:3}', payload]);
 * // 'evalsha 1f0e… 2 app:s:{app:3}:<sid:9a8b7c6d5e4f> app:exp:{app:3} [1 other arguments]'
 * ```
 */
export function redisStatement(command: string, args: readonly unknown[]): string {
  const name = command.toLowerCase();
  if (args.length === 0 || KEYLESS_COMMANDS.has(name)) return command;
  if (SCRIPT_COMMANDS.has(name)) {
    const numKeys = Number(args[1]);
    if (!Number.isSafeInteger(numKeys) || numKeys < 0) return `${command}${rest(args.length)}`;
    // The script body of an EVAL is not worth exporting; a sha names it.
    const script = name.startsWith('eval') && !name.includes('sha') ? '<script>' : showKey(args[0]);
    const keys = args.slice(2, 2 + numKeys).map(showKey);
    const others = Math.max(0, args.length - 2 - keys.length);
    return [command, script, String(numKeys), ...keys].join(' ') + rest(others);
  }
  return `${command} ${showKey(args[0])}${rest(args.length - 1)}`;
}
