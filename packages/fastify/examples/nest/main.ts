// main.ts — SESSION_SECRET=… [REDIS_URL=redis://…] node --import tsx main.ts
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { sessionCluster } from '@session-cluster/fastify'; // also types request.session
import { createSessionCluster } from 'session-cluster';
import { AppModule } from './app.module.js';

const secret = process.env.SESSION_SECRET;
if (secret === undefined) throw new Error('set SESSION_SECRET (32+ random characters)');
const cluster = createSessionCluster({
  redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
});
const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter());
// Nest's Fastify instance takes the plugin as any Fastify app does.
await app.register(sessionCluster, {
  manager: cluster.manager,
  secrets: [secret],
  cookie: { secure: process.env.NODE_ENV === 'production' },
});
// Nest closes the session cluster with the app (SIGTERM, SIGINT).
app.enableShutdownHooks();
app
  .getHttpAdapter()
  .getInstance()
  .addHook('onClose', () => cluster.close());
await app.listen(Number(process.env.PORT ?? 3000));
