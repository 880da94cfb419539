import { defineProject } from 'vitest/config';

/** The export condition that maps `@session-cluster/*` imports to their TypeScript source. */
export const SOURCE_CONDITION = '@session-cluster/source';

/**
 * Project config every workspace package uses: Node environment, sibling
 * packages resolved from source, generous timeouts for real redis-server work.
 */
export function sessionClusterProject(name: string) {
  // Only what Vite would not add itself: vitest also hands these conditions
  // to Node as `--conditions`, which CommonJS `require` honours too, and with
  // `import` among them express's router `require('is-promise')` gets that
  // package's ESM build and every async route fails.
  const conditions = [SOURCE_CONDITION, 'node'];
  return defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      name,
      environment: 'node',
      include: ['src/**/*.test.ts', '*.test.ts', '**/*.test.ts'],
      // scripts/run-tests.mjs sets this for the Node 22 and 26 runs: the
      // long multi-process and failover files run on the pinned line only
      // (vitest's --exclude flag does not reach a project's own exclude).
      exclude: [
        '**/node_modules/**',
        '**/dist/**',
        ...(process.env['SESSION_CLUSTER_PINNED_ONLY_EXCLUDE']?.split(',') ?? []),
      ],
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  });
}
