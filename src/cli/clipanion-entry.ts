/**
 * What main.ts needs for a command line the fast router leaves to Clipanion: Clipanion, the command
 * registry and the version, loaded as one code-cached bundle (scripts/build-entries.mjs,
 * bundle-loader.ts) instead of some fifty ES modules. `daemon start` and the `daemon run` it spawns
 * both come this way, so start-up pays this twice (README benchmarks). The bundle holds the command
 * specs; what a command runs (its `import()`s) still loads when it runs, from dist/.
 */
export { Builtins, Cli } from 'clipanion';
export { VERSION } from '../version.js';
export { loadCommands } from './registry.js';
