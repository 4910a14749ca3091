/**
 * The real world the model paths run in (real-stop.ts, real-daemon.ts): a temp data home per path,
 * fixture processes the test starts (and alone signals), lock holders, and the CLI itself run from
 * dist/ with clock-hook.mjs so that its XState timers fire when the path says (nothing else is
 * faked). Every wait has a deadline and ends on a condition; none is a sleep.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HomePaths, homePaths } from '../../src/adapters/home/home.js';
import type { TransitionRecord } from '../../src/machines/types.js';
import { CLI, type CliResult, cleanEnv, makeTempHome, runCli } from '../helpers/index.js';

const HOOK = join(import.meta.dirname, 'clock-hook.mjs');
const FLOCK = '/usr/bin/flock';
/** A uid that is neither root nor `nobody`: the stopper that may not signal nobody's processes. */
export const USER_UID = 65533;
export const NOBODY_UID = 65534;
const WAIT_MS = 20_000;

const outputs = new WeakMap<ChildProcess, string>();

/** Everything a fixture printed so far. */
export function output(child: ChildProcess): string {
  return outputs.get(child) ?? '';
}

/** Resolves when `check` holds, re-checked whenever `poke` is called or every 10 ms; rejects at the deadline. */
export function until(check: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = (): void => {
      let ok = false;
      try {
        ok = check();
      } catch (error) {
        reject(error);
        return;
      }
      if (ok) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** The state letter of /proc/<pid>/stat, or null once the process is reaped. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

export interface HookMessage {
  readonly t: 'armed' | 'cleared' | 'fired' | 'exit';
  readonly id?: number;
  readonly ms?: number;
  readonly file?: string;
}

/** The CLI as a real child process whose XState timers the test fires (clock-hook.mjs). */
export class HookedCli {
  readonly child: ChildProcess;
  readonly messages: HookMessage[] = [];
  /** When the last timer was armed: after the signal that started the current budget. */
  private armedAt = 0;
  stdout = '';
  stderr = '';
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv, uid?: number) {
    this.child = spawn(process.execPath, ['--import', HOOK, CLI, ...args], {
      env: { ...env, DIFFLORE_MODEL_CLOCK: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    this.child.on('message', (m) => {
      const message = m as HookMessage;
      if (message.t === 'armed') this.armedAt = Date.now();
      this.messages.push(message);
    });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.done = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private ids(kind: HookMessage['t']): number[] {
    return this.messages.filter((m) => m.t === kind).map((m) => m.id ?? -1);
  }

  /** Timers armed and neither fired nor cleared yet. */
  held(): number[] {
    const over = new Set([...this.ids('cleared'), ...this.ids('fired')]);
    const firing = this.firing;
    return this.ids('armed').filter((id) => !over.has(id) && !firing.has(id));
  }

  private readonly firing = new Set<number>();

  /** Waits for the one timer the machine holds now, fires it, and waits until its reactions ran. */
  async fire(what: string): Promise<void> {
    await until(() => this.held().length > 0 || !this.running, `an armed timer (${what})`);
    const id = this.held().at(-1);
    if (id === undefined) throw new Error(`the CLI exited before ${what}: ${this.stderr}`);
    this.firing.add(id);
    // A CLI that exits meanwhile closes the channel: the wait below sees it exit.
    this.child.send({ t: 'fire', id }, () => undefined);
    await until(() => this.ids('fired').includes(id) || !this.running, `timer ${id} fired (${what})`);
  }

  /**
   * Waits until the clock is `budgetMs` past the last armed timer, so a budget of that length that
   * started before it (at the signal) is spent when the next check reads the clock.
   */
  async pastDeadline(budgetMs: number): Promise<void> {
    await until(() => this.armedAt > 0 && Date.now() > this.armedAt + budgetMs, 'the clock to pass the deadline');
  }

  /** Waits until the machine holds a timer: it sits in a waiting state. */
  async waiting(what: string): Promise<void> {
    await until(() => this.held().length > 0, `a waiting state (${what})`);
  }

  exits(suffix: string): number {
    return this.messages.filter((m) => m.t === 'exit' && (m.file ?? '').endsWith(suffix)).length;
  }
}

/** Whether `pid` holds a flock on `path` (from /proc/locks: the home-files rule would refuse another uid's file). */
function heldBy(path: string, pid: number): boolean {
  const inode = statSync(path).ino;
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      // "1: FLOCK ADVISORY WRITE <pid> <maj:min:inode> 0 EOF"
      return fields[1] === 'FLOCK' && Number(fields[4]) === pid && fields[5]?.split(':')[2] === String(inode);
    });
}

/** A lock held by flock(1) in its own process group until `release`. */
export class LockHolder {
  private constructor(
    private readonly child: ChildProcess,
    readonly path: string,
  ) {}

  static async hold(path: string, mode: 'exclusive' | 'shared', uid?: number): Promise<LockHolder> {
    const child = spawn(FLOCK, [mode === 'exclusive' ? '-x' : '-s', '-o', path, 'sleep', '1000000'], {
      stdio: 'ignore',
      detached: true,
      ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    const holder = new LockHolder(child, path);
    await until(() => heldBy(path, child.pid ?? -1) || child.exitCode !== null, `a holder of ${path}`);
    if (child.exitCode !== null) throw new Error(`flock could not hold ${path}`);
    return holder;
  }

  get held(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async release(): Promise<void> {
    if (!this.held) return;
    process.kill(-(this.child.pid ?? 0), 'SIGKILL');
    await exited(this.child);
  }
}

/** A temp data home and every process the test started for it. */
export class RealHome {
  readonly home: string;
  readonly paths: HomePaths;
  private readonly cleanup: () => void;
  private readonly children: ChildProcess[] = [];
  private readonly groups: number[] = [];
  /** Processes the CLI started for this home (a detached daemon), killed at dispose. */
  private readonly pids: number[] = [];
  private readonly locks: LockHolder[] = [];

  constructor(readonly owner: number = 0) {
    const temp = makeTempHome('difflore-model-');
    this.home = temp.home;
    this.cleanup = temp.cleanup;
    // Another uid must reach the home through its parent (mkdtemp makes it 0700).
    chmodSync(join(this.home, '..'), 0o711);
    mkdirSync(this.home, { mode: 0o700 });
    this.paths = homePaths(this.home);
  }

  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return cleanEnv({ DIFFLORE_HOME: this.home, HOME: join(this.home, '..'), ...extra });
  }

  /** Gives every file of the home to its owner (the test writes them as root). */
  chownAll(): void {
    if (this.owner === 0) return;
    const walk = (dir: string): void => {
      chownSync(dir, this.owner, this.owner);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (!entry.isSymbolicLink()) chownSync(path, this.owner, this.owner);
      }
    };
    walk(this.home);
  }

  remove(path: string): void {
    rmSync(path, { force: true });
  }

  write(path: string, text: string): void {
    writeFileSync(path, text, { mode: 0o600 });
  }

  /** A fixture process; `group` puts it in its own process group, killed whole at dispose. */
  spawn(command: string, args: readonly string[], options: { uid?: number; group?: boolean } = {}): ChildProcess {
    const child = spawn(command, [...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: options.group === true,
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => outputs.set(child, output(child) + d));
    this.children.push(child);
    if (options.group === true && child.pid !== undefined) this.groups.push(child.pid);
    return child;
  }

  /** The pid of a process that has exited and been reaped. */
  async deadPid(): Promise<number> {
    const child = spawn('true', [], { stdio: 'ignore' });
    await exited(child);
    return child.pid ?? 0;
  }

  async holdLock(path: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<LockHolder> {
    const holder = await LockHolder.hold(path, mode, this.owner === 0 ? undefined : this.owner);
    this.locks.push(holder);
    return holder;
  }

  cli(args: readonly string[], extra: Record<string, string | undefined> = {}): HookedCli {
    const cli = new HookedCli(args, this.env(extra), this.owner === 0 ? undefined : this.owner);
    this.children.push(cli.child);
    return cli;
  }

  /**
   * A live fixture daemon: `difflore daemon start` (detached, from dist/) on this home, idle (its
   * first pass over) before this returns; killed at dispose. Its tick is an hour: it writes nothing
   * more unless something happens to it.
   */
  async startDaemon(): Promise<number> {
    // A closed loopback port for a cloud: the fixture never reaches out.
    const env = this.env({ DIFFLORE_CLOUD_URL: 'http://127.0.0.1:9' });
    const started = await runCli(['daemon', 'start', '--json', '--tick', '60m'], { env });
    if (started.code !== 0) throw new Error(`daemon start failed (${started.code}): ${started.stderr}`);
    const pid = (JSON.parse(started.stdout) as { pid: number }).pid;
    this.pids.push(pid);
    await until(() => {
      try {
        const state = JSON.parse(readFileSync(this.paths.stateFile, 'utf8')) as { pid?: number; value?: unknown };
        return state.pid === pid && state.value === 'serving.running';
      } catch {
        return false;
      }
    }, `fixture daemon ${pid} to be idle`);
    return pid;
  }

  /** `difflore daemon log --verify` as the home's owner. */
  verify(): Promise<CliResult> {
    return runCli(['daemon', 'log', '--verify', '--json'], {
      env: this.env(),
      ...(this.owner === 0 ? {} : { uid: this.owner }),
    });
  }

  journal(): TransitionRecord[] {
    try {
      return readFileSync(this.paths.journal, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as TransitionRecord);
    } catch {
      return [];
    }
  }

  async dispose(): Promise<void> {
    for (const lock of this.locks) await lock.release();
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const group of this.groups) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(this.children.map(exited));
    this.cleanup();
  }
}
