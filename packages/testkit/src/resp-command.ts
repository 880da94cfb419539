import { connect } from 'node:net';

/** A decoded RESP2 reply: simple/bulk strings, integers, nil, or an array of those. */
export type RespReply = string | number | null | RespReply[];

/** Thrown for a RESP error reply (`-ERR …`). */
export class RespError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
}

function parse(buffer: Buffer, offset: number): { value: RespReply; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      throw new RespError(line);
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: afterLine };
      if (buffer.length < afterLine + length + 2) return undefined;
      return {
        value: buffer.toString('utf8', afterLine, afterLine + length),
        next: afterLine + length + 2,
      };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespReply[] = [];
      let cursor = afterLine;
      for (let i = 0; i < count; i += 1) {
        const item = parse(buffer, cursor);
        if (item === undefined) return undefined;
        items.push(item.value);
        cursor = item.next;
      }
      return { value: items, next: cursor };
    }
    default:
      throw new RespError(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Send one command to a Redis server over a fresh connection and return its
 * reply. The launchers use it for readiness and cluster checks, so the test
 * kit needs no Redis client of its own (and cannot be fooled by one's retries).
 */
export function respCommand(
  port: number,
  args: readonly string[],
  options: { host?: string; timeoutMs?: number } = {},
): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: options.host ?? '127.0.0.1' });
    let buffer = Buffer.alloc(0);
    socket.setTimeout(options.timeoutMs ?? 2_000, () => {
      socket.destroy(new Error(`respCommand ${args[0] ?? ''}: timed out on port ${port}`));
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(encode(args));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        const parsed = parse(buffer, 0);
        if (parsed === undefined) return;
        socket.end();
        resolve(parsed.value);
      } catch (error) {
        socket.destroy();
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
