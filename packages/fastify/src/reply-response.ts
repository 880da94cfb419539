import type { SessionResponse } from '@session-cluster/express/http-core';
import type { FastifyReply } from 'fastify';

/**
 * The session core's view of a Fastify reply. Headers go through the reply,
 * not `reply.raw`: Fastify writes its own header map over the raw
 * response's when it sends (`writeHead(status, headers)`), so a `Set-Cookie`
 * put on `reply.raw` would be replaced by any other plugin's
 * (`@fastify/cookie`'s `reply.setCookie`, say). `reply.header('set-cookie', …)`
 * appends, which is what {@link appendHeader} promises.
 */
export class ReplyResponse implements SessionResponse {
  public constructor(private readonly reply: FastifyReply) {}

  public get headersSent(): boolean {
    return this.reply.raw.headersSent;
  }

  public get statusCode(): number {
    return this.reply.statusCode;
  }

  public appendHeader(name: string, value: string): void {
    // Only Set-Cookie is ever appended; Fastify appends that one header.
    this.reply.header(name, value);
  }

  public setHeader(name: string, value: string): void {
    this.reply.header(name, value);
  }

  public once(event: 'close', listener: () => void): void {
    this.reply.raw.once(event, listener);
  }
}
