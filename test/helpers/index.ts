/**
 * Shared test helpers: temporary data homes, running the built CLI as a real process, and
 * waiting for a condition with a deadline (never a bare sleep).
 */
import { type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.cjs');

/** A fresh data home under the OS temp dir; `cleanup` removes it. */
export function makeTempHome(prefix = 'difflore-test-'): { home: string; cleanup: () => void } {
  const home = join(mkdtempSync(join(tmpdir(), prefix)), 'home');
  return { home, cleanup: () => rmSync(join(home, '..'), { recursive: true, force: true }) };
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** An environment with nothing of the developer's difflore settings leaking in. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DIFFLORE_') && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Run as this user (and its group of the same id), e.g. a home's non-root owner. */
  readonly uid?: number;
}

/** Runs `difflore <args>` (the built dist/) to completion. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], options);
}

export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = { env: options.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] };
    if (options.cwd) spawnOptions.cwd = options.cwd;
    if (options.uid !== undefined) Object.assign(spawnOptions, { uid: options.uid, gid: options.uid });
    const child = spawn(command, args, spawnOptions);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Polls `check` until it returns a truthy value or the deadline passes. The deadline only bounds a
 * hung test; it is not a timing assertion.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 20));
  }
}

/** The smallest valid mcp_query payload (a per-row kind, one POST per row) for `file`. */
export function mcpQueryPayload(file: string, rulesInjected = 1): string {
  return JSON.stringify({ file, rules_injected: rulesInjected, strict_match_count: 0, rule_titles: [], rule_ids: [] });
}

/** An observation row's payload in the Rust shape, numbered so each is distinct; `extra` adds or overrides fields. */
export function observationPayload(i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    session_id: 's',
    ts_ms: i,
    obs_type: 'edit',
    tool: 'Edit',
    file_path: `f${i}.ts`,
    title: `t${i}`,
    narrative: 'n',
    diff_excerpt: 'd',
    content_hash: `h${i}`,
    ...extra,
  });
}
