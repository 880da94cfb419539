import type { Queue } from 'bullmq';

/** BullMQ job name of sweep jobs. */
export const SWEEP_JOB_NAME = 'sweep';

/** Data of a sweep job: the expiry bucket to sweep. */
export interface SweepJobData {
  readonly bucket: number;
}

/** Id of the job scheduler of `bucket`: `sweep-<bucket>`. */
export function sweepSchedulerId(bucket: number): string {
  return `sweep-${bucket}`;
}

const SCHEDULER_ID_PATTERN = /^sweep-(\d+)$/;

/** What {@link installSweepSchedulers} changed. */
export interface SchedulerChanges {
  /** Schedulers created or updated (missing, or with another interval). */
  readonly upserted: number;
  /** Schedulers removed because their bucket is beyond the store's bucket count. */
  readonly removed: number;
}

/**
 * One BullMQ job scheduler per bucket (`upsertJobScheduler('sweep-<b>',
 * { every: intervalMs }, …)`): BullMQ enqueues one sweep job per bucket
 * per interval, whatever the number of sweeper processes, and only one
 * worker gets each job. No timers of our own.
 *
 * Idempotent and safe to run from every process at start-up. Schedulers
 * that already exist with the same interval and bucket are left alone, so a
 * restarting worker does not reset their timing; schedulers of buckets ≥
 * `buckets` (left by a deployment with more buckets) are removed.
 */
export async function installSweepSchedulers(
  queue: Queue<SweepJobData>,
  buckets: number,
  intervalMs: number,
): Promise<SchedulerChanges> {
  const existing = new Map<string, { every: number | undefined; bucket: unknown }>();
  for (const scheduler of await queue.getJobSchedulers(0, -1, true)) {
    const id = scheduler.id ?? scheduler.key;
    existing.set(id, { every: scheduler.every, bucket: scheduler.template?.data?.bucket });
  }

  const upserts: Promise<unknown>[] = [];
  for (let bucket = 0; bucket < buckets; bucket += 1) {
    const id = sweepSchedulerId(bucket);
    const current = existing.get(id);
    if (current?.every === intervalMs && current.bucket === bucket) continue;
    upserts.push(
      queue.upsertJobScheduler(
        id,
        { every: intervalMs },
        {
          name: SWEEP_JOB_NAME,
          data: { bucket },
          opts: {
            // A failed sweep is not retried: the bucket's next job (one
            // interval later) redoes whatever was left, outbox included.
            attempts: 1,
            removeOnComplete: true,
            removeOnFail: { count: 1_000 },
          },
        },
      ),
    );
  }

  const removals: Promise<unknown>[] = [];
  for (const id of existing.keys()) {
    const match = SCHEDULER_ID_PATTERN.exec(id);
    if (match !== null && Number(match[1]) >= buckets) {
      removals.push(queue.removeJobScheduler(id));
    }
  }
  await Promise.all([...upserts, ...removals]);
  return { upserted: upserts.length, removed: removals.length };
}
