/**
 * Who a pid is: `(bootId, pid, startTime)`, so a reused pid is never taken for the daemon that
 * once had it. Owns: reading /proc (Linux) or `ps` (macOS), the kill(pid, 0) liveness probe, and
 * comparing a recorded identity with the live process. Never signals anything but 0.
 *
 * Linux: boot id from /proc/sys/kernel/random/boot_id, start time = field 22 of /proc/<pid>/stat
 * (clock ticks since boot), parsed after the *last* ')' because the command name may contain
 * spaces and parentheses. State 'Z' (zombie) or 'X' (dead) counts as dead: a daemon whose parent
 * never reaps it stays a zombie, and kill(pid, 0) keeps succeeding on it. So does a process whose
 * main thread has the kernel's PF_EXITING flag (field 9): it is inside exit_group(2), never runs a
 * line of its own again, and is only waiting for the kernel to free its memory, which takes a
 * daemon a few milliseconds that `daemon stop` need not spend. Both are reported `zombie: true`
 * (the pid still exists), and callers that care whether its files are closed yet check those.
 * macOS: `ps -o stat=,lstart= -p <pid>` and `sysctl -n kern.boottime`.
 */
import type * as ChildProcess from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { errnoCode } from '../../errors.js';
import type { ProcessIdentity } from '../../machines/types.js';

export type IdentityResult =
  | { readonly kind: 'alive'; readonly identity: ProcessIdentity }
  | { readonly kind: 'dead'; readonly zombie: boolean }
  /** This platform gives us no way to tell (neither /proc nor ps), or the pid is not a valid pid. */
  | { readonly kind: 'unknown'; readonly reason: string };

export type AliveResult =
  /** `signalable: false` is EPERM: the process exists but belongs to another user. */
  | { readonly kind: 'alive'; readonly signalable: boolean }
  | { readonly kind: 'dead'; readonly zombie: boolean }
  /** pid ≤ 1, not an integer, or out of range: never probed, never signalled. */
  | { readonly kind: 'invalid' };

export type DifferentReason = 'dead' | 'zombie' | 'reused' | 'rebooted' | 'otherPid' | 'invalidPid';

export type SameProcessResult =
  | { readonly kind: 'same' }
  | { readonly kind: 'different'; readonly reason: DifferentReason }
  | { readonly kind: 'unknown'; readonly reason: string };

const MAX_PID = 2 ** 31 - 1;

export function isValidPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 1 && pid <= MAX_PID;
}

/** PF_EXITING in the flags of /proc/<pid>/stat (include/linux/sched.h): the task is in do_exit. */
const PF_EXITING = 0x4;

/**
 * `{ state, startTime, exiting }` from the text of /proc/<pid>/stat, or `undefined` if it does not
 * parse. `exiting`: the flags word has PF_EXITING.
 */
export function parseProcStat(text: string): { state: string; startTime: string; exiting: boolean } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") " come field 3 (state), 4 (ppid), … so field 9 (flags) is index 6 and field 22 (starttime) index 19.
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const flags = Number(fields[6]);
  const startTime = fields[19];
  if (!state || !startTime || !/^[0-9]+$/.test(startTime)) return undefined;
  return { state, startTime, exiting: Number.isInteger(flags) && (flags & PF_EXITING) !== 0 };
}

let cachedBootId: string | null | undefined;

function linuxBootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

// node:child_process is only needed on macOS (`ps`, `sysctl`); loaded there, so the Linux paths
// (`daemon stop` among them) do not pay for it at startup.
let childProcess: typeof ChildProcess | undefined;
function execFileSync(
  file: string,
  args: readonly string[],
  options: ChildProcess.ExecFileSyncOptionsWithStringEncoding,
): string {
  childProcess ??= createRequire(import.meta.filename)('node:child_process') as typeof ChildProcess;
  return childProcess.execFileSync(file, args, options);
}

function darwinBootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      // "{ sec = 1700000000, usec = 123456 } Tue Nov 14 …": the braces part is the boot instant.
      const out = execFileSync('sysctl', ['-n', 'kern.boottime'], { encoding: 'utf8', timeout: 5000 });
      cachedBootId = /\{[^}]*\}/.exec(out)?.[0] ?? (out.trim() || null);
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

type Probe =
  | { kind: 'running'; state: string; startTime: string; exiting?: boolean }
  | { kind: 'gone' }
  | { kind: 'unsupported' };

function probeLinux(pid: number): Probe {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ESRCH') return { kind: 'gone' };
    return { kind: 'unsupported' };
  }
  const parsed = parseProcStat(text);
  return parsed ? { kind: 'running', ...parsed } : { kind: 'unsupported' };
}

function probeDarwin(pid: number): Probe {
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'stat=,lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      timeout: 5000,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (error) {
    // ps exits 1 with no output when the pid does not exist.
    const status = (error as { status?: unknown }).status;
    return status === 1 ? { kind: 'gone' } : { kind: 'unsupported' };
  }
  const match = /^\s*(\S+)\s+(.+?)\s*$/.exec(out);
  if (!match?.[1] || !match[2]) return { kind: 'gone' };
  return { kind: 'running', state: match[1], startTime: match[2] };
}

function probe(pid: number): Probe {
  if (process.platform === 'linux') return probeLinux(pid);
  if (process.platform === 'darwin') return probeDarwin(pid);
  return { kind: 'unsupported' };
}

function bootId(): string | null {
  if (process.platform === 'linux') return linuxBootId();
  if (process.platform === 'darwin') return darwinBootId();
  return null;
}

/** A zombie, a dead task, or one inside exit_group(2) (Linux): the pid exists, the process is over. */
function isOver(found: Extract<Probe, { kind: 'running' }>): boolean {
  const first = found.state[0];
  return first === 'Z' || first === 'X' || first === 'x' || found.exiting === true;
}

/** The identity of the live process `pid`, or why there is none. */
export function identityOf(pid: number): IdentityResult {
  if (!isValidPid(pid)) return { kind: 'unknown', reason: `invalid pid ${pid}` };
  const found = probe(pid);
  if (found.kind === 'gone') return { kind: 'dead', zombie: false };
  if (found.kind === 'unsupported') return { kind: 'unknown', reason: `cannot read process ${pid} on this platform` };
  if (isOver(found)) return { kind: 'dead', zombie: true };
  return { kind: 'alive', identity: { pid, bootId: bootId(), startTime: found.startTime } };
}

/**
 * This process's identity. Where the platform cannot tell (no /proc, no ps), `startTime` is `null`:
 * the daemon still runs, but nobody can later prove it is ours, so it reads as `unverified`.
 */
export function selfIdentity(): ProcessIdentity {
  const result = identityOf(process.pid);
  return result.kind === 'alive' ? result.identity : { pid: process.pid, bootId: bootId(), startTime: null };
}

/**
 * kill(pid, 0): ESRCH → dead; EPERM → alive but not ours to signal; success → alive, unless the
 * process is a zombie (then dead). pid ≤ 1 is never probed: kill(0|-1, 0) would test a group.
 */
export function isAlive(pid: number): AliveResult {
  if (!isValidPid(pid)) return { kind: 'invalid' };
  let signalable = true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ESRCH') return { kind: 'dead', zombie: false };
    if (code !== 'EPERM') throw error;
    signalable = false;
  }
  const found = probe(pid);
  if (found.kind === 'gone') return { kind: 'dead', zombie: false };
  if (found.kind === 'running' && isOver(found)) return { kind: 'dead', zombie: true };
  return { kind: 'alive', signalable };
}

/**
 * Whether `pid` is still the process `recorded` describes. `different` covers a dead or zombie
 * process, a pid reused by another process (start time differs) and a reboot since (boot id differs).
 */
export function sameProcess(recorded: ProcessIdentity, pid: number = recorded.pid): SameProcessResult {
  if (!isValidPid(pid)) return { kind: 'different', reason: 'invalidPid' };
  if (recorded.pid !== pid) return { kind: 'different', reason: 'otherPid' };
  const current = identityOf(pid);
  if (current.kind === 'unknown') return current;
  if (current.kind === 'dead') return { kind: 'different', reason: current.zombie ? 'zombie' : 'dead' };
  const now = current.identity;
  if (recorded.startTime === null || now.startTime === null) {
    return { kind: 'unknown', reason: 'no start time recorded for this process' };
  }
  if (recorded.bootId !== null && now.bootId !== null && recorded.bootId !== now.bootId) {
    return { kind: 'different', reason: 'rebooted' };
  }
  return now.startTime === recorded.startTime ? { kind: 'same' } : { kind: 'different', reason: 'reused' };
}

/** Validates an identity read back from JSON (the state file); `undefined` if it is not one. */
export function asProcessIdentity(value: unknown): ProcessIdentity | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || !isValidPid(v.pid)) return undefined;
  if (v.startTime !== null && (typeof v.startTime !== 'string' || v.startTime === '')) return undefined;
  if (v.bootId !== null && typeof v.bootId !== 'string') return undefined;
  return { pid: v.pid, bootId: v.bootId, startTime: v.startTime };
}

/**
 * Whether the live process `pid` may be a difflore daemon, from what it runs (as start-stop-daemon's
 * `--exec` checks): `mayBe` if its command line or executable mentions difflore (the Rust binary) or
 * this very CLI (our daemon, wherever it is installed); `notDifflore` if we could read them and
 * neither does (a pid reused by `sleep`, a shell…): such a process is never signalled and its pid
 * file is stale; `unknown` where we cannot tell (no /proc or ps, no permission, an empty command
 * line) — treated as "may be", so nothing that might be a daemon is ever taken for a stranger.
 */
export function mayBeDifflore(pid: number): 'mayBe' | 'notDifflore' | 'unknown' {
  if (!isValidPid(pid)) return 'unknown';
  const text = commandOf(pid);
  if (text === null || text.trim() === '') return 'unknown';
  const lower = text.toLowerCase();
  if (lower.includes('difflore')) return 'mayBe';
  const self = process.argv[1];
  if (self !== undefined && self !== '' && text.includes(self)) return 'mayBe';
  return 'notDifflore';
}

/** The command line and executable path of `pid` as text, or null where they cannot be read. */
function commandOf(pid: number): string | null {
  if (process.platform === 'linux') {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      return null;
    }
    let exe = '';
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      // Another user's process: its command line still says what it runs.
    }
    return `${cmdline} ${exe}`;
  }
  if (process.platform === 'darwin') {
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], {
        encoding: 'utf8',
        timeout: 5000,
        env: { ...process.env, LC_ALL: 'C' },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      return null;
    }
  }
  return null;
}

export type StillAliveResult =
  | AliveResult
  /** The pid is alive but is no longer the recorded process (it died and the pid was reused). */
  | { readonly kind: 'replaced' };

/**
 * For polling a process we signalled: is *that* process (`recorded`, when we have its identity)
 * still alive? A zombie or a pid taken over by someone else means it is gone. Without an identity
 * (or where it cannot be compared) this is plain `isAlive`.
 */
export function isStillAlive(pid: number, recorded: ProcessIdentity | null): StillAliveResult {
  const alive = isAlive(pid);
  if (alive.kind !== 'alive' || recorded === null || recorded.pid !== pid) return alive;
  const same = sameProcess(recorded, pid);
  if (same.kind === 'different') {
    return same.reason === 'dead' || same.reason === 'zombie'
      ? { kind: 'dead', zombie: same.reason === 'zombie' }
      : { kind: 'replaced' };
  }
  return alive;
}
