import { connect } from 'node:net';

/** True when a Redis at `url` answers PING within `timeoutMs` (no auth, plain TCP). */
export function pingRedis(url: string, timeoutMs = 500): Promise<boolean> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:') return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect({ host: parsed.hostname, port: Number(parsed.port || 6379) });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      // +PONG, or -NOAUTH… from a password-protected server (it answers: it is Redis).
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
  });
}
