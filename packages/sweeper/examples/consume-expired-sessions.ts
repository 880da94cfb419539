// consume-expired-sessions.ts — run next to your app: node consume-expired-sessions.js
// (REDIS_URL, SESSION_PREFIX: the application's Redis and key prefix)
import { consumeExpiredSessions } from '@session-cluster/sweeper';

const consumer = consumeExpiredSessions(
  { url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' },
  (expiry) => {
    // Called once per expired session. Delivery is at-least-once (a consumer
    // that dies mid-batch has the rest handed to another): stay idempotent,
    // keyed on sessionIdHash + expiredAt. Throwing retries this expiry only.
    console.log(
      JSON.stringify({
        expired: expiry.sessionIdHash,
        userId: expiry.userId,
        expiredAt: expiry.expiredAt,
        lateMs: expiry.lateness,
      }),
    );
  },
  { prefix: process.env['SESSION_PREFIX'] ?? 'sc', concurrency: 16 },
);
consumer.worker.on('failed', (job, error) => {
  console.error(`batch ${job?.id ?? '?'}: ${error.message}`);
});
await consumer.ready();
console.log('consuming');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void consumer.close().then(() => process.exit(0));
  });
}
