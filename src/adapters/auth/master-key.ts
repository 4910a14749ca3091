/**
 * The master key that opens the Rust login, found the way the Rust binary finds it (reference/
 * rust-auth.md §3) but strictly read-only: `DIFFLORE_MASTER_KEY`; else the OS keyring entry
 * `difflore`/`master-key-v2`; else the `keyseed` fallback, refused on CI. Rust *creates* a keyring
 * key when its read fails (overwriting a working one after a transient D-Bus error); we never
 * create, overwrite or delete a key, a keyring entry or a keyseed.
 *
 * The keyring binding is a native module that talks to D-Bus synchronously: it loads only in a worker
 * thread started on first need (never on the hook path), the answer has a deadline (a Secret Service
 * that never replies, a prompt nobody answers), at most one read runs per process, and a failed read
 * is not repeated for a while.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { errnoCode } from '../../errors.js';
import { readHomeFile } from '../home/home-files.js';
import type { KeyringReply, KeyringRequest } from './keyring-worker.js';
import { ciVariable, deriveKeyseedKey, masterKeyFromHex, parseKeyseed } from './login-crypto.js';

export const KEYRING_SERVICE = 'difflore';
export const KEYRING_ACCOUNT = 'master-key-v2';
const KEYRING_TIMEOUT_MS = 5_000;
/** After a failed keyring read, later passes reuse the failure this long instead of asking D-Bus again. */
const KEYRING_FAILURE_TTL_MS = 30_000;
const MACHINE_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

/** Where the key came from: named in status, doctor and drain output. */
export type KeySource = 'master-key-env' | 'keyring' | 'keyseed';

export type KeyringRead =
  | { readonly kind: 'key'; readonly key: Buffer }
  | { readonly kind: 'unavailable'; readonly reason: string };

export type MasterKey =
  | { readonly kind: 'key'; readonly key: Buffer; readonly source: KeySource; readonly notes: readonly string[] }
  /** No key: `reason` says why and what to do; `notes` what was tried before. */
  | { readonly kind: 'none'; readonly reason: string; readonly notes: readonly string[] };

export interface KeyseedOptions {
  /** The machine-id files, first non-empty wins (tests point elsewhere). */
  readonly machineIdFiles?: readonly string[];
}

/**
 * Picks the key from what is known. `keyring` is the result of `readKeyring` (the caller awaits it
 * only when this needs it: see `needsKeyring`); `'not-read'` makes the keyring step say so.
 */
export function chooseMasterKey(
  home: string,
  env: NodeJS.ProcessEnv,
  keyring: KeyringRead | 'not-read',
  options: KeyseedOptions = {},
): MasterKey {
  const notes: string[] = [];
  const fromEnv = envMasterKey(env);
  if (fromEnv.kind === 'key') return { kind: 'key', key: fromEnv.key, source: 'master-key-env', notes };
  // Rust: an invalid DIFFLORE_MASTER_KEY warns and goes straight to the keyring.
  if (fromEnv.kind === 'invalid') notes.push('DIFFLORE_MASTER_KEY is not 64 hex digits; ignored');
  // Without the keyring's answer the keyseed would be a guess: Rust uses it only when the keyring fails.
  if (keyring === 'not-read') return { kind: 'none', reason: 'the OS keyring was not consulted', notes };
  if (keyring.kind === 'key') return { kind: 'key', key: keyring.key, source: 'keyring', notes };
  else notes.push(`OS keyring: ${keyring.reason}`);
  const ci = ciVariable(env);
  if (ci !== null) {
    return {
      kind: 'none',
      reason: `the OS keyring has no usable key and ${ci} is set, so the keyseed fallback is refused (as Rust does on CI); set DIFFLORE_MASTER_KEY to the 64-hex-digit key`,
      notes,
    };
  }
  const seeded = keyseedKey(home, env, options);
  if (seeded.kind === 'key') return { kind: 'key', key: seeded.key, source: 'keyseed', notes };
  return { kind: 'none', reason: seeded.reason, notes };
}

/** True when the key depends on the keyring: no valid DIFFLORE_MASTER_KEY. */
export function needsKeyring(env: NodeJS.ProcessEnv): boolean {
  return envMasterKey(env).kind !== 'key';
}

function envMasterKey(env: NodeJS.ProcessEnv): { kind: 'key'; key: Buffer } | { kind: 'absent' | 'invalid' } {
  const raw = env.DIFFLORE_MASTER_KEY;
  if (raw === undefined) return { kind: 'absent' };
  const key = masterKeyFromHex(raw.trim());
  return key === null ? { kind: 'invalid' } : { kind: 'key', key };
}

/** The keyseed fallback: `<home>/keyseed` (never created here), the OS home and the machine id. */
function keyseedKey(
  home: string,
  env: NodeJS.ProcessEnv,
  options: KeyseedOptions,
): { kind: 'key'; key: Buffer } | { kind: 'none'; reason: string } {
  const file = join(home, 'keyseed');
  const text = readKeyseedFile(file);
  if (text.kind === 'missing') {
    return {
      kind: 'none',
      reason: `no master key: DIFFLORE_MASTER_KEY is unset, the OS keyring has none, and ${file} does not exist`,
    };
  }
  if (text.kind === 'error') return { kind: 'none', reason: `cannot read ${file}: ${text.message}` };
  const seed = parseKeyseed(text.text);
  if (seed === null) return { kind: 'none', reason: `${file} is not 64 lowercase hex digits` };
  return {
    kind: 'key',
    key: deriveKeyseedKey(seed, osHome(env), machineId(options.machineIdFiles ?? MACHINE_ID_FILES)),
  };
}

/** Rust's `dirs::home_dir()`: `$HOME` when set and non-empty, else the passwd entry, else none. */
export function osHome(env: NodeJS.ProcessEnv): string | null {
  const home = env.HOME;
  if (home !== undefined && home !== '') return home;
  try {
    return userInfo().homedir || null;
  } catch {
    return null;
  }
}

/** The keyseed under the home's file rule (no link, no FIFO, ours); never created or chmodded here. */
function readKeyseedFile(path: string): FileText {
  try {
    const bytes = readHomeFile(path, 4096);
    if (bytes === undefined) return { kind: 'missing' };
    return { kind: 'ok', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
}

function machineId(files: readonly string[]): string | null {
  for (const file of files) {
    const text = readSmallFile(file);
    if (text.kind !== 'ok') continue;
    const id = text.text.trim();
    if (id !== '') return id;
  }
  return null;
}

type FileText = { kind: 'ok'; text: string } | { kind: 'missing' } | { kind: 'error'; message: string };

/**
 * Reads a small system file (the machine id: not in the home, not ours) without blocking on a FIFO;
 * invalid UTF-8 is an error.
 */
function readSmallFile(path: string): FileText {
  let fd: number;
  try {
    // Links are followed, as Rust's read does: /etc/machine-id is a link on some systems.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'missing' };
    return { kind: 'error', message: (error as Error).message };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { kind: 'error', message: 'not a regular file' };
    if (stat.size > 64 * 1024) return { kind: 'error', message: 'too large' };
    return { kind: 'ok', text: new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(fd)) };
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  } finally {
    closeSync(fd);
  }
}

// ── the OS keyring ────────────────────────────────────────────────────────────────────────────────

let inFlight: Promise<KeyringRead> | null = null;
let cached: { read: KeyringRead; at: number } | null = null;

/**
 * Reads the keyring entry once per process (a key found is kept; a failure is kept for 30 s).
 * `fresh` drops a kept key first: Rust may have replaced the entry, so a key that no longer opens the
 * login is looked up again.
 */
export function readKeyring(options: { fresh?: boolean; now?: number } = {}): Promise<KeyringRead> {
  const now = options.now ?? Date.now();
  if (options.fresh && cached?.read.kind === 'key') cached = null;
  if (cached !== null && (cached.read.kind === 'key' || now - cached.at < KEYRING_FAILURE_TTL_MS)) {
    return Promise.resolve(cached.read);
  }
  inFlight ??= askKeyring().then((read) => {
    cached = { read, at: Date.now() };
    inFlight = null;
    return read;
  });
  return inFlight;
}

/** A worker whose read has not settled (a Secret Service that never answers): no second one starts. */
let unsettled: Worker | null = null;

/**
 * Reads the entry in a worker thread (keyring-worker.ts), so a hung D-Bus call never blocks this
 * thread; past the deadline the answer is "unavailable" and the worker is left to finish on its own
 * (unref'd: it does not keep the process alive).
 */
function askKeyring(): Promise<KeyringRead> {
  if (unsettled !== null) {
    return Promise.resolve({ kind: 'unavailable', reason: 'the keyring has not answered an earlier read' });
  }
  return new Promise<KeyringRead>((resolve) => {
    let worker: Worker;
    try {
      const request: KeyringRequest = { service: KEYRING_SERVICE, account: KEYRING_ACCOUNT };
      worker = new Worker(new URL('./keyring-worker.js', import.meta.url), { workerData: request });
    } catch (error) {
      resolve({ kind: 'unavailable', reason: `cannot start the keyring reader (${(error as Error).message})` });
      return;
    }
    unsettled = worker;
    worker.unref();
    let done = false;
    const finish = (read: KeyringRead): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(read);
    };
    const timer = setTimeout(
      () => finish({ kind: 'unavailable', reason: `the keyring did not answer within ${KEYRING_TIMEOUT_MS} ms` }),
      KEYRING_TIMEOUT_MS,
    );
    timer.unref();
    worker.once('message', (reply: KeyringReply) => {
      unsettled = null; // it answered: the thread ends by itself
      finish(fromReply(reply));
    });
    worker.once('error', (error) => finish({ kind: 'unavailable', reason: firstLine(error.message) }));
    worker.once('exit', () => {
      unsettled = null;
      finish({ kind: 'unavailable', reason: 'the keyring reader stopped without an answer' });
    });
  });
}

function fromReply(reply: KeyringReply): KeyringRead {
  if (!reply.ok) return { kind: 'unavailable', reason: firstLine(reply.message) };
  if (reply.value === null) return { kind: 'unavailable', reason: 'no entry difflore/master-key-v2' };
  // Not trimmed: Rust does not trim the keyring value either.
  const key = masterKeyFromHex(reply.value);
  return key === null
    ? { kind: 'unavailable', reason: 'the entry difflore/master-key-v2 is not 64 hex digits' }
    : { kind: 'key', key };
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? text).slice(0, 200);
}
