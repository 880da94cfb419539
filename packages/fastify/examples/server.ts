// server.ts — SESSION_SECRET=… [REDIS_URL=redis://…] node --import tsx server.ts
import { sessionCluster } from '@session-cluster/fastify'; // also types request.session
import Fastify from 'fastify';
import { createSessionCluster } from 'session-cluster';

const secret = process.env.SESSION_SECRET;
if (secret === undefined) throw new Error('set SESSION_SECRET (32+ random characters)');
const cluster = createSessionCluster({
  redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
});
const app = Fastify();
await app.register(sessionCluster, {
  manager: cluster.manager,
  secrets: [secret],
  cookie: { secure: process.env.NODE_ENV === 'production' },
});

app.get('/', async (request) => `visits: ${Number((await request.session.get('visits')) ?? 0)}`);
// Lossless read-modify-write: 300 parallel clicks count 300, across instances.
app.post('/visit', (request) =>
  request.session.update((d) => ({ ...d, visits: Number(d.visits ?? 0) + 1 })),
);
// Per-key change, committed in onSend as one atomic patch with the reply's cookie.
app.post('/theme', (request, reply) => {
  request.session.set('theme', 'dark');
  return reply.code(204).send();
});
app.post('/login', async (request) => {
  await request.session.regenerate({ userId: 'alice' }); // new id: no session fixation
  return { ok: true };
});
app.addHook('onClose', () => cluster.close());
process.once('SIGTERM', () => void app.close());
await app.listen({ port: Number(process.env.PORT ?? 3000) });
