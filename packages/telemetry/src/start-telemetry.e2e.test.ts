import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId } from '@session-cluster/core';
import { startOtlpReceiver, startRedisServer } from '@session-cluster/testkit';
import type { OtlpReceiver, OtlpSpan, RedisServerHandle } from '@session-cluster/testkit';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const APP = fileURLToPath(new URL('./traced-app.test-helpers.ts', import.meta.url));

/** SpanKind in OTLP: 2 = server, 3 = client. */
const SERVER = 2;
const CLIENT = 3;

interface App {
  readonly child: ChildProcess;
  readonly port: number;
  readonly lines: string[];
  stderr(): string;
}

async function startApp(env: Record<string, string>): Promise<App> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@session-cluster/source',
      '--import',
      '@session-cluster/telemetry/register',
      APP,
    ],
    { cwd: PACKAGE_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8_000);
  });
  let pending = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`app did not start in 20 s: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited with ${String(code)}: ${stderr}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        lines.push(line);
        const parsed = JSON.parse(line) as { port?: number };
        if (parsed.port !== undefined) {
          clearTimeout(timer);
          resolve(parsed.port);
        }
        newline = pending.indexOf('\n');
      }
    });
  });
  return { child, port, lines, stderr: () => stderr };
}

async function stopApp(app: App): Promise<void> {
  if (app.child.exitCode !== null) return;
  const exited = once(app.child, 'exit');
  app.child.kill('SIGTERM');
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

describe('startTelemetry end to end (real process → real OTLP/HTTP receiver)', () => {
  let receiver: OtlpReceiver;
  let redis: RedisServerHandle;
  let app: App | undefined;
  let sessionId: string;

  beforeAll(async () => {
    [receiver, redis] = await Promise.all([startOtlpReceiver(), startRedisServer()]);
    const started = await startApp({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_METRICS_EXPORTER: 'none',
      REDIS_URL: redis.url,
    });
    app = started;
    const base = `http://127.0.0.1:${started.port}`;
    const created = (await (await fetch(`${base}/sessions`, { method: 'POST' })).json()) as {
      id: string;
    };
    sessionId = created.id;
    const incremented = await fetch(`${base}/sessions/${sessionId}/increment`, { method: 'POST' });
    expect(await incremented.json()).toEqual({ n: 1 });
    // SIGTERM: the app closes, and shutdown() flushes the batch processor.
    await stopApp(started);
    expect(started.child.exitCode, started.stderr()).toBe(0);
  }, 60_000);

  afterAll(async () => {
    if (app !== undefined) await stopApp(app);
    await receiver.close();
    await redis.stop();
  });

  function spanById(spans: readonly OtlpSpan[], id: string | undefined): OtlpSpan | undefined {
    return id === undefined ? undefined : spans.find((span) => span.spanId === id);
  }

  function ancestors(spans: readonly OtlpSpan[], span: OtlpSpan): OtlpSpan[] {
    const chain: OtlpSpan[] = [];
    for (let at = spanById(spans, span.parentSpanId); at !== undefined;) {
      chain.push(at);
      at = spanById(spans, at.parentSpanId);
    }
    return chain;
  }

  it('HTTP server span → session.update → lock and store spans → Redis commands, linked by parent ids', async () => {
    const spans = await receiver.waitForSpans((all) =>
      all.some((span) => span.name === 'session.update'),
    );
    const update = spans.find((span) => span.name === 'session.update');
    expect(update).toBeDefined();
    expect(update!.serviceName).toBe('traced-app');
    expect(update!.attributes).toMatchObject({
      'session.operation': 'update',
      'session.id_hash': hashSessionId(sessionId),
      'session.outcome': 'ok',
      'session.degraded': false,
    });

    // Up the tree: the Express handler and the HTTP server span of this request.
    const chain = ancestors(spans, update!);
    const server = chain.find((span) => span.kind === SERVER);
    expect(server, chain.map((s) => s.name).join(' ← ')).toBeDefined();
    expect(server!.name).toMatch(/^POST/);
    expect(server!.traceId).toBe(update!.traceId);
    expect(chain.at(-1)).toBe(server);

    // Down the tree: lock acquire/release and store calls, each with its Redis commands.
    const children = spans.filter((span) => span.parentSpanId === update!.spanId);
    expect(children.map((span) => span.name).sort()).toEqual([
      'session.lock.acquire',
      'session.lock.release',
      'session.store.load',
      'session.store.save',
    ]);
    for (const child of children) {
      const commands = spans.filter((span) => span.parentSpanId === child.spanId);
      expect(commands.length, `${child.name} has Redis command spans`).toBeGreaterThan(0);
      for (const command of commands) {
        expect(command.kind).toBe(CLIENT);
        expect(command.scope).toBe('@opentelemetry/instrumentation-ioredis');
        expect(command.traceId).toBe(update!.traceId);
      }
    }
    const acquire = children.find((span) => span.name === 'session.lock.acquire')!;
    expect(acquire.attributes['session.lock.wait_ms']).toEqual(expect.any(Number));
    const load = children.find((span) => span.name === 'session.store.load')!;
    expect(load.attributes).toMatchObject({
      'db.system': 'redis',
      'db.operation.name': 'load',
      'session.fallback.route': 'primary',
      'session.degraded': false,
    });
  });

  it('no exported byte carries the raw session id; Redis statements show keys with the hash', async () => {
    await receiver.waitForSpans((all) => all.some((span) => span.name === 'session.update'));
    expect(receiver.refused).toEqual([]);
    for (const request of receiver.requests) expect(request.text).not.toContain(sessionId);
    const statements = receiver.spans
      .map((span) => span.attributes['db.query.text'] ?? span.attributes['db.statement'])
      .filter((text): text is string => typeof text === 'string');
    expect(statements.some((text) => text.includes(`<sid:${hashSessionId(sessionId)}>`))).toBe(
      true,
    );
  });

  it('log lines are JSON with the trace_id/span_id of the request and no raw session id', () => {
    const logs = app!.lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['msg'] !== undefined);
    const incremented = logs.find((line) => String(line['msg']).startsWith('incremented session'));
    expect(incremented).toBeDefined();
    expect(incremented!['service']).toBe('traced-app');
    expect(incremented!['sessionId']).toBe(`<sid:${hashSessionId(sessionId)}>`);
    const update = receiver.spans.find((span) => span.name === 'session.update')!;
    expect(incremented!['trace_id']).toBe(update.traceId);
    expect(incremented!['span_id']).toMatch(/^[0-9a-f]{16}$/);
    for (const line of app!.lines) expect(line).not.toContain(sessionId);
  });
});
