import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Vite would pick clipanion's .mjs build, whose directory import Node's ESM loader refuses; the
    // CommonJS build is what the CLI loads under Node, so tests that build the Clipanion CLI load it too.
    alias: { clipanion: createRequire(import.meta.url).resolve('clipanion') },
  },
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
