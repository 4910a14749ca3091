/**
 * Wiring the daemon and the stop runtimes share: the secrets every record is scrubbed of, and the
 * `inspect` callbacks that journal a root machine's transitions (transition-record.ts does the pure
 * half; the sink given here does the I/O).
 */
import type { InspectionEvent, Observer } from 'xstate';
import { seenLoginSecrets } from '../adapters/auth/login-memory.js';
import type { readCloudToken } from '../adapters/delivery/cloud-config.js';
import type { HomePaths } from '../adapters/home/home.js';
import { type RecordedStep, transitionRecorder } from '../machines/transition-record.js';
import type { MachineName, RecordedObject, TransitionRecord } from '../machines/types.js';

/**
 * The secrets to scrub from logs, journal, state file and inspector frames: every cloud token this
 * process has seen (the environment, the token file, the Rust login), so an old token stays scrubbed
 * after a change. The environment's is known from the start; `refresh` reads the token file and the
 * Rust login, and the daemon calls it before each pass, as the drainer reads the token: until the
 * first pass nothing in the process has read a token from disk, so none can be in anything written.
 * The reader comes with the drainer (cloud-config.ts loads node:crypto and the Rust login's reader,
 * which a daemon on its way to serving does without).
 */
export class TokenSecrets {
  readonly #seen = new Set<string>();
  readonly #paths: HomePaths;
  readonly #env: NodeJS.ProcessEnv;

  constructor(paths: HomePaths, env: NodeJS.ProcessEnv) {
    this.#paths = paths;
    this.#env = env;
    this.#rememberEnv();
  }

  #rememberEnv(): void {
    const fromEnv = this.#env.DIFFLORE_CLOUD_TOKEN?.trim();
    if (fromEnv) this.#seen.add(fromEnv);
  }

  refresh(read: typeof readCloudToken): void {
    this.#rememberEnv();
    try {
      const token = read(this.#paths, this.#env);
      if (token.kind === 'token') this.#seen.add(token.token);
    } catch {
      // An unreadable token file is the drainer's to report.
    }
  }

  /** Bound, so it can be handed on as a callback. The Rust login's tokens are remembered where they are read. */
  readonly current = (): string[] => [...this.#seen, ...seenLoginSecrets()];
}

/**
 * The inspect callback that journals the root machine's transitions; recorder failures go to
 * `onError`, never thrown into XState.
 */
export function recording(
  machine: MachineName,
  sink: (transition: TransitionRecord, step: RecordedStep) => void,
  onError: (error: unknown) => void,
  delivery?: (context: unknown) => RecordedObject | null,
): (event: InspectionEvent) => void {
  const options = { pid: process.pid, now: Date.now, ...(delivery === undefined ? {} : { delivery }) };
  return transitionRecorder(machine, options, (transition, step) => {
    try {
      sink(transition, step);
    } catch (error) {
      onError(error);
    }
  });
}

export function combine(...observers: ((event: InspectionEvent) => void)[]): Observer<InspectionEvent> {
  return {
    next: (event) => {
      for (const observe of observers) observe(event);
    },
  };
}
