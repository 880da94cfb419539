import { defineConfig } from 'vitest/config';

/**
 * One vitest run over every workspace project. Each project resolves sibling
 * packages from source (the `@session-cluster/source` export condition), so
 * tests never wait for a build.
 */
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'test/vitest.config.ts'],
  },
});
