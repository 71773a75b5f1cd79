import { defineConfig } from 'vitest/config';

// Two projects in one run: the library's unit specs start at once; the end-to-end suites wait
// for Redis and PostgreSQL (test/support/services.ts) and import the library by its package name,
// so they run the built package a user installs (`npm test` builds it first). Each example app
// under examples/ keeps its own e2e suite beside it, run in the same project.
export default defineConfig({
  test: {
    globals: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['libs/session/src/**/*.spec.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e-spec.ts', 'examples/*/test/**/*.e2e-spec.ts'],
          exclude: ['test/consumers/**', '**/node_modules/**'],
          globalSetup: ['test/support/services.ts'],
        },
      },
    ],
  },
});
