/**
 * The main job: `pnpm start`. The primary process finds Redis and forks N
 * Express instances on one port (node:cluster); each worker runs the app.
 * See the README's "Demo" section for the environment variables.
 */
import cluster from 'node:cluster';
import { maybeStartTelemetry } from './demo-telemetry.js';

if (cluster.isPrimary) {
  const { runPrimary } = await import('./primary.js');
  await runPrimary();
} else {
  // Telemetry first, then the app: the http/express/ioredis
  // instrumentations patch modules as they load, so they must be in place
  // before the instance imports Express and ioredis.
  const stopTelemetry = maybeStartTelemetry(`instance-${String(cluster.worker?.id ?? 1)}`);
  const { runWorker } = await import('./worker.js');
  runWorker(stopTelemetry);
}
