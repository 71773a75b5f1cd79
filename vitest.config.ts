import { defineConfig } from 'vitest/config';
export default defineConfig({ resolve: { tsconfigPaths: true }, test: { globals: true, include: ['libs/**/*.spec.ts', 'test/**/*.e2e-spec.ts'] } });
