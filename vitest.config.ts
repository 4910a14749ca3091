import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Real processes, real SQLite files and real HTTP: give slow CI machines room, never as synchronisation.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: e2e files spawn daemons and clouds; running many files at once only adds contention.
    maxWorkers: 2,
  },
});
