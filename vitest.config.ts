import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Process tests spawn servers; two cores are shared by at most two test files at once.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
