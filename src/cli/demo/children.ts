/**
 * The demo's child processes and the HTTP it speaks to the reference cloud. Every `difflore …` the
 * demo runs is this same CLI in a child process (what a user would type), so the demo exercises the
 * real commands and the daemon's own event loop stays apart from ours.
 *
 * Short commands run in their own process group (`detached`), so a Ctrl-C at the terminal reaches
 * only the demo, which then finishes what it started (a `daemon start` that was half done) and stops
 * everything in order. The cloud stays in our group: a terminal Ctrl-C stops it too, and it has
 * nothing to finish.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { cliEntryPath } from '../../adapters/integrations/service-unit.js';
import { formatDuration } from '../text.js';

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Node flags worth passing on (loaders such as tsx), without debugger ones that would clash. */
function inheritedExecArgv(): string[] {
  return process.execArgv.filter((a) => !/^--(inspect|debug)/.test(a));
}

function cliArgs(args: readonly string[]): string[] {
  return [...inheritedExecArgv(), cliEntryPath(), ...args];
}

/** `difflore <args>` as it would be typed, for the output. */
export function shown(args: readonly string[]): string {
  return ['difflore', ...args].join(' ');
}

/** Processes started and not yet seen to exit, by pid, so an emergency exit can end them. */
const running = new Map<number, ChildProcess>();

/** SIGKILLs every child still running (the last resort when the demo itself must exit now). */
export function killAllChildren(): void {
  for (const [pid, child] of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
    running.delete(pid);
  }
}

/**
 * Runs `difflore <args>` to completion and collects its output. A run that outlives `timeoutMs` is
 * killed (SIGKILL) and reported with that signal.
 */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(args), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      windowsHide: true,
    });
    if (child.pid !== undefined) running.set(child.pid, child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      if (child.pid !== undefined) running.delete(child.pid);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid !== undefined) running.delete(child.pid);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface CloudChild {
  readonly url: string;
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Whether it has exited (by itself, e.g. on a terminal Ctrl-C, or because we stopped it). */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `difflore cloud serve` on a free loopback port and waits for its `listening on` line. */
export function startCloud(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<CloudChild> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(['cloud', 'serve', '--host', '127.0.0.1', '--port', '0', ...args]), {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const pid = child.pid;
    if (pid === undefined) {
      child.once('error', reject);
      return;
    }
    running.set(pid, child);
    let gone = false;
    const exited = new Promise<void>((done) => {
      child.once('close', () => {
        gone = true;
        running.delete(pid);
        done();
      });
    });
    let out = '';
    let err = '';
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`the reference cloud did not say where it listens within ${formatDuration(timeoutMs)}`));
    }, timeoutMs);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /^listening on (http:\/\/\S+)\r?\n/.exec(out);
      if (match?.[1] && !settled) {
        settled = true;
        clearTimeout(timer);
        const stop = async (graceMs = 5000): Promise<void> => {
          if (gone) return;
          child.kill('SIGTERM');
          const timedOut = await Promise.race([
            exited.then(() => false),
            new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
          ]);
          if (timedOut && !gone) {
            child.kill('SIGKILL');
            await exited;
          }
        };
        resolve({ url: match[1], pid, exited, hasExited: () => gone, stop });
      }
    });
    void exited.then(() => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`the reference cloud exited before listening: ${err.trim() || 'no message'}`));
    });
  });
}

/** One JSON request to the reference cloud's control endpoints (no keep-alive: nothing lingers). */
export function requestJson(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent: false,
        timeout: timeoutMs,
        headers:
          text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          data += d;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: data === '' ? null : (JSON.parse(data) as unknown) });
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(text);
  });
}
