import { defineConfig } from 'vitest/config';
export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    globals: true,
    include: ['libs/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
    // Redis and PostgreSQL for the store suites: see test/support/services.ts.
    globalSetup: ['test/support/services.ts'],
  },
});
