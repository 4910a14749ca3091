/**
 * The composition root of the stop protocol (`daemon stop`, DESIGN §3.2): `runStop` runs the stop
 * machine once; `StopRuntime` implements its ports (machines/stop.ts `StopPorts`) over the probes,
 * kill(2) and the wait for the daemon's lifetime lock, and holds its transition records back to write
 * them with the outcome. Loads no more than the stop path needs: the claim protocol only for a stale
 * pid file, the exit wait only once a signal goes out.
 */
import { existsSync } from 'node:fs';
import { createActor } from 'xstate';
import { type HomePaths, homePaths, resolveHome } from '../adapters/home/home.js';
import { type DaemonLog, openDaemonLog } from '../adapters/lifecycle/daemon-log.js';
import { type ExitWaiter, exitWaiter } from '../adapters/lifecycle/exit-wait.js';
import { probeLock } from '../adapters/lifecycle/flock.js';
import { probeLiveness } from '../adapters/lifecycle/liveness.js';
import { readPidFile } from '../adapters/lifecycle/pid-file.js';
import { isStillAlive, sameProcess } from '../adapters/lifecycle/process-identity.js';
import { createRecorder, type Recorder } from '../adapters/lifecycle/recorder.js';
import { sendSignal } from '../adapters/lifecycle/signals.js';
import {
  type AliveCheck,
  type ExitHint,
  type PidInput,
  type ProbeResult,
  provideStop,
  type SignalInput,
  type SignalResult,
  type StopOutput,
  type StopPorts,
} from '../machines/stop.js';
import type { LogLevel, LogParams, ProcessIdentity, TransitionRecord } from '../machines/types.js';
import { DiffloreError } from '../errors.js';
import { recording } from './recording.js';

/** How long a stop run's records may wait to be written: a long grace period still shows up as it goes. */
const RECORDS_HELD_MS = 1_000;

export interface StopRunConfig {
  readonly env: NodeJS.ProcessEnv;
  readonly graceMs: number;
  readonly killTimeoutMs: number;
  readonly force: boolean;
  /** The machine's log actions (progress an operator should see, e.g. the SIGKILL escalation). */
  readonly onLog?: (level: LogLevel, message: string) => void;
}

export interface StopRunResult {
  readonly output: StopOutput;
  /** The home the protocol ran against. */
  readonly home: string;
}

/**
 * The stop machine's ports over one home. A run's records are held back and written together with
 * its outcome, in one durable write (one journal append, one state-file rewrite, one lock), not one by
 * one: a stopper writing a record per step would cost more than the rest of the run, and while the
 * daemon exits it needs the state lock for its own last records. Records are held at most
 * RECORDS_HELD_MS, so a long grace period still shows up as it goes.
 */
class StopRuntime implements StopPorts {
  readonly #paths: HomePaths;
  readonly #config: StopRunConfig;
  /** A home that does not exist holds no daemon, and nothing needs recording in it. */
  readonly #homeExists: boolean;
  /** Written in batches while the run goes on, not synced; null without a home. */
  readonly #progress: Recorder | null;
  /** Writes the outcome and everything held before it, synced; null without a home. */
  readonly #outcome: Recorder | null;
  /** The identity `probe` found, so a signal never reaches a process that reused the pid. */
  #identity: ProcessIdentity | null = null;
  #log: DaemonLog | null = null;
  /** One wait for the daemon's death per run (exit-wait.ts), started once a SIGTERM went out. */
  #exits: ExitWaiter | null = null;
  readonly #held: TransitionRecord[] = [];
  #heldSince = 0;
  readonly #problems: unknown[] = [];

  constructor(paths: HomePaths, config: StopRunConfig) {
    this.#paths = paths;
    this.#config = config;
    this.#homeExists = existsSync(paths.home);
    this.#progress = this.#recorderWith(false);
    this.#outcome = this.#recorderWith(true);
  }

  // ── the machine's ports ───────────────────────────────────────────────────────────────────────────

  async probe(): Promise<ProbeResult> {
    const found = probeLiveness(this.#paths);
    switch (found.kind) {
      case 'notRunning':
        return { kind: 'notRunning' };
      case 'stale':
        return { kind: 'stale', pid: found.pid };
      case 'running':
        this.#identity = found.identity;
        return { kind: 'running', pid: found.pid, verified: true };
      case 'unverified':
        return { kind: 'unverified', pid: found.pid };
    }
  }

  async cleanStale(input: PidInput): Promise<void> {
    // Only a stale pid file needs the claim protocol's cleanup; a plain stop does not load it.
    const { cleanStale } = await import('../adapters/lifecycle/claim.js');
    const result = await cleanStale(this.#paths, input);
    if (result.kind === 'changed' && result.now.kind === 'conflict') {
      const who = result.now.pid === null ? 'a daemon' : `a daemon (pid ${result.now.pid})`;
      throw new DiffloreError('conflict', `${who} started while the stale pid file was being removed`);
    }
  }

  async signal({ pid, signal }: SignalInput): Promise<SignalResult> {
    // The process probed must still be the one signalled: a pid that died and was reused in
    // between is gone as far as this protocol is concerned.
    if (this.#identity !== null && sameProcess(this.#identity, pid).kind === 'different') return { kind: 'esrch' };
    const sent = sendSignal(pid, signal);
    // As systemd does: a SIGSTOPped daemon cannot act on SIGTERM until it is continued, and would
    // otherwise sit out the whole grace period before being killed. SIGCONT is harmless otherwise.
    if (sent.kind === 'ok' && signal === 'SIGTERM') sendSignal(pid, 'SIGCONT');
    // The wait for its death starts at once, before the log line: a daemon exits in about the time
    // it takes to spawn the waiter, which must be waiting before it can see the lock let go.
    if (sent.kind === 'ok' && signal === 'SIGTERM') void this.awaitExit();
    if (sent.kind === 'ok') {
      this.#daemonLog()?.info(`daemon stop sent ${signal}`, { target: pid });
      return { kind: 'ok', at: Date.now() };
    }
    if (sent.kind === 'refused') throw new DiffloreError('internal', `refusing to signal pid ${pid}: not a valid pid`);
    return sent;
  }

  async checkAlive({ pid }: { readonly pid: number }): Promise<AliveCheck> {
    const found = isStillAlive(pid, this.#identity);
    // A killed daemon's main thread shows as a zombie while its other threads are still exiting
    // with its files, and so its lifetime lock, open: it is gone once that lock is free (or the
    // pid file names someone else), so that cleaning up after SIGKILL finds the home released.
    const exiting = found.kind === 'dead' && found.zombie && this.#stillHoldsHome(pid);
    return { alive: found.kind === 'alive' || exiting, at: Date.now() };
  }

  awaitExit(): Promise<ExitHint> {
    this.#exits ??= exitWaiter(this.#paths.lifetimeLock);
    return this.#exits.wait();
  }

  log({ level, message }: LogParams): void {
    this.#daemonLog()?.log(level, `daemon stop: ${message}`);
    this.#config.onLog?.(level, message);
  }

  // ── recording ─────────────────────────────────────────────────────────────────────────────────────

  /** The journal sink: holds the record, writing what is held once the oldest has waited RECORDS_HELD_MS. */
  hold(transition: TransitionRecord): void {
    if (this.#held.length === 0) this.#heldSince = Date.now();
    this.#held.push(transition);
    if (Date.now() - this.#heldSince >= RECORDS_HELD_MS) this.#flush(this.#progress);
  }

  problem(error: unknown): void {
    this.#problems.push(error);
  }

  /** After the run: the outcome and everything held before it, synced; a wait still under way cancelled. */
  async settle(): Promise<void> {
    this.#flush(this.#outcome);
    // A wait still under way (the target would not die) must not outlive the run.
    this.#exits?.cancel();
  }

  /** Logs the outcome (and a failure to record the run) in the daemon's log. */
  report(output: StopOutput): void {
    const logged = this.#daemonLog();
    if (this.#problems.length > 0) logged?.warn('daemon stop could not record its run', { error: this.#problems[0] });
    logged?.log(output.exitCode === 0 ? 'info' : 'warn', `daemon stop: ${output.outcome}`, {
      target: output.pid,
      ...(output.detail === null ? {} : { detail: output.detail }),
    });
    logged?.close();
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────────

  #recorderWith(fsync: boolean): Recorder | null {
    if (!this.#homeExists) return null;
    return createRecorder(
      { stateFile: this.#paths.stateFile, journal: this.#paths.journal },
      { role: 'stop', fsync, secrets: () => [this.#config.env.DIFFLORE_CLOUD_TOKEN] },
    );
  }

  #flush(recorder: Recorder | null): void {
    const batch = this.#held.splice(0);
    try {
      recorder?.recordAll(batch);
    } catch (error) {
      this.#problems.push(error);
    }
  }

  #daemonLog(): DaemonLog | null {
    if (!this.#homeExists) return null;
    try {
      this.#log ??= openDaemonLog(this.#paths.daemonLog, { secrets: () => [this.#config.env.DIFFLORE_CLOUD_TOKEN] });
    } catch {
      return null;
    }
    return this.#log;
  }

  #stillHoldsHome(pid: number): boolean {
    try {
      if (probeLock(this.#paths.lifetimeLock, 'shared').kind !== 'held') return false;
      const named = readPidFile(this.#paths.pidFile);
      return named.kind === 'pid' && named.pid === pid;
    } catch {
      return false;
    }
  }
}

/** Runs the stop protocol once; resolves with the machine's output (its `exitCode` is the command's). */
export async function runStop(config: StopRunConfig): Promise<StopRunResult> {
  const paths = homePaths(resolveHome(config.env));
  const runtime = new StopRuntime(paths, config);
  const journal = recording(
    'stop',
    (transition) => runtime.hold(transition),
    (error) => runtime.problem(error),
  );
  const stopper = createActor(provideStop(runtime), {
    input: { graceMs: config.graceMs, killTimeoutMs: config.killTimeoutMs, force: config.force },
    inspect: journal,
  });
  const finished = new Promise<void>((resolve, reject) => {
    stopper.subscribe({ complete: () => resolve(), error: (error) => reject(error) });
  });
  try {
    stopper.start();
    await finished;
  } finally {
    await runtime.settle();
  }
  const output = stopper.getSnapshot().output as StopOutput;
  runtime.report(output);
  return { output, home: paths.home };
}
