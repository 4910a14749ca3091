/**
 * What main.ts needs for every command line, as one code-cached bundle (scripts/build-entries.mjs,
 * bundle-loader.ts): the fast router with the specs of the commands it runs, the fd writers those
 * commands print through, and the exit-code policy. main.ts itself then loads no other ES module but
 * the bundle loader: each one costs a hook or an enqueue about a millisecond (README benchmarks).
 */
export { EXIT_USAGE, reportFailure } from './exit-codes.js';
export { fdWriter } from './fd-writer.js';
export { route, runRoute } from './router.js';
