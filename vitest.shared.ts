import { defineProject } from 'vitest/config';

/** The export condition that maps `@session-cluster/*` imports to their TypeScript source. */
export const SOURCE_CONDITION = '@session-cluster/source';

/**
 * Project config every workspace package uses: Node environment, sibling
 * packages resolved from source, generous timeouts for real redis-server work.
 */
export function sessionClusterProject(name: string) {
  return defineProject({
    resolve: { conditions: [SOURCE_CONDITION, 'node', 'import', 'default'] },
    ssr: { resolve: { conditions: [SOURCE_CONDITION, 'node', 'import', 'default'] } },
    test: {
      name,
      environment: 'node',
      include: ['src/**/*.test.ts', '*.test.ts', '**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  });
}
