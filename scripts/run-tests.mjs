#!/usr/bin/env node
// Runs every vitest project once and ends with one plain summary line
// ("tests: N passed, N failed, N skipped") that CI log readers understand.
// Exits non-zero when anything failed or when no test ran at all.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const out = '.vitest/results.json';
mkdirSync('.vitest', { recursive: true });
rmSync(out, { force: true });

const run = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);

let summary;
try {
  summary = JSON.parse(readFileSync(out, 'utf8'));
} catch (error) {
  console.error(`run-tests: no results file (${error.message})`);
  process.exit(run.status === 0 ? 1 : (run.status ?? 1));
}
const passed = summary.numPassedTests ?? 0;
const failed = summary.numFailedTests ?? 0;
const skipped = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
const suitesFailed = summary.numFailedTestSuites ?? 0;
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) {
  console.error('run-tests: no test ran');
  process.exit(1);
}
if (run.status !== 0 || failed > 0 || suitesFailed > 0) process.exit(run.status || 1);
