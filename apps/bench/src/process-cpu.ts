/**
 * CPU time of the processes an HTTP case runs on, to put beside its rate:
 * with the app, Redis and the load generator on a few cores, a layer's
 * rate follows the CPU all of them spend per request, and where that CPU
 * goes (the app or Redis) says what a faster layer would have to cut.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`: 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * User + system CPU of process `pid` so far, µs; `undefined` where
 * `/proc` is not there to read (not Linux, or the process is gone).
 */
export function processCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces, so split after its `)`):
  // utime and stime are fields 14 and 15 of the line, 12 and 13 of this rest.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND : undefined;
}

/** `used_cpu_user` + `used_cpu_sys` of the Redis server behind `client` so far, µs. */
export async function redisCpuMicros(client: Redis): Promise<number | undefined> {
  const info = await client.info('cpu');
  const user = /used_cpu_user:([\d.]+)/.exec(info)?.[1];
  const sys = /used_cpu_sys:([\d.]+)/.exec(info)?.[1];
  if (user === undefined || sys === undefined) return undefined;
  return (Number(user) + Number(sys)) * 1_000_000;
}
