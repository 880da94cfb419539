import { respCommand } from './resp-command.js';

/**
 * The `field:value` lines of `INFO <section>` (or of `CLUSTER INFO` with
 * `section` `'cluster-info'`), asked of the server on `port`, as a map.
 *
 * @example
 * ```ts
 * const offset = Number((await redisInfo(port, 'replication')).get('master_repl_offset'));
 * ```
 */
export async function redisInfo(
  port: number,
  section: string,
  timeoutMs = 1_000,
): Promise<Map<string, string>> {
  const command = section === 'cluster-info' ? ['CLUSTER', 'INFO'] : ['INFO', section];
  const reply = await respCommand(port, command, { timeoutMs });
  const info = new Map<string, string>();
  for (const line of String(reply).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) info.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return info;
}
