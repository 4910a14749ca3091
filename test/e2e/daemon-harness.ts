/**
 * Shared by the daemon e2e suites: temp homes, the reference cloud as a child process, a registry of
 * every process a test starts (detached daemons included, found through /proc) so afterEach can
 * SIGKILL them, and small readers for the files and rows the tests assert on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { homePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { CLI, type CliResult, cleanEnv, makeTempHome, runCli, waitFor } from '../helpers/index.js';

export const TOKEN = 'tok_e2e_daemon_7c1f0d9e2b';

export interface Cloud {
  readonly url: string;
  readonly child: ChildProcess;
  stats(): Promise<{ requests: number; received: Record<string, number> }>;
}

export class DaemonWorld {
  readonly home: string;
  readonly paths: ReturnType<typeof homePaths>;
  private readonly cleanupHome: () => void;
  private readonly pids = new Set<number>();
  private readonly children: ChildProcess[] = [];

  constructor() {
    const temp = makeTempHome('difflore-daemon-e2e-');
    this.home = temp.home;
    this.cleanupHome = temp.cleanup;
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    this.paths = homePaths(this.home);
  }

  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return cleanEnv({ DIFFLORE_HOME: this.home, ...extra });
  }

  /** Runs the CLI against this home; any daemon it may have started is tracked for cleanup. */
  async cli(args: readonly string[], extra: Record<string, string | undefined> = {}): Promise<CliResult> {
    const result = await runCli(args, { env: this.env(extra) });
    this.trackDaemons();
    return result;
  }

  track(pid: number | null | undefined): void {
    if (typeof pid === 'number' && pid > 1) this.pids.add(pid);
  }

  /** A process this test owns (a cloud, a stand-in "unrelated" process); killed in `dispose`. */
  spawn(command: string, args: readonly string[], env: NodeJS.ProcessEnv = this.env()): ChildProcess {
    const child = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    this.track(child.pid);
    return child;
  }

  async cloud(args: readonly string[] = []): Promise<Cloud> {
    const child = this.spawn(process.execPath, [CLI, 'cloud', 'serve', '--token', TOKEN, ...args], cleanEnv());
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const match = /^listening on (\S+)\n/.exec(out);
        if (match?.[1]) resolve(match[1]);
      });
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      child.once('close', (code) => reject(new Error(`cloud serve exited early with ${code}: ${err}`)));
    });
    return {
      url,
      child,
      stats: async () =>
        (await (await fetch(`${url}/__stats`)).json()) as { requests: number; received: Record<string, number> },
    };
  }

  /** Every live `daemon run` process whose environment names this home (detached ones included). */
  daemonsAlive(): number[] {
    const found: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        if (!cmdline.includes('daemon') || !cmdline.includes('run')) continue;
        const environ = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
        if (!environ.includes(`DIFFLORE_HOME=${this.home}`)) continue;
        if (!isAlive(Number(name))) continue;
        found.push(Number(name));
      } catch {
        // Gone, or not ours to read.
      }
    }
    return found;
  }

  trackDaemons(): void {
    for (const pid of this.daemonsAlive()) this.track(pid);
  }

  /** SIGKILLs everything this test started (stopped processes included), then removes the home. */
  async dispose(): Promise<void> {
    this.trackDaemons();
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) resolve();
            else child.once('exit', () => resolve());
          }),
      ),
    );
    this.cleanupHome();
  }

  pidFile(): string | null {
    try {
      return readFileSync(this.paths.pidFile, 'utf8');
    } catch {
      return null;
    }
  }

  state(): Record<string, unknown> | null {
    try {
      return JSON.parse(readFileSync(this.paths.stateFile, 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  }

  journal(): { machine: string; pid: number; seq: number; from: string | null; to: string; event: { type: string } }[] {
    try {
      return readFileSync(this.paths.journal, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line));
    } catch {
      return [];
    }
  }

  rows(): { id: number; status: string; retry_count: number; claimed_at: number | null }[] {
    const db = openDatabase(this.paths.db, { readonly: true });
    try {
      return db.prepare('SELECT id, status, retry_count, claimed_at FROM cloud_outbox ORDER BY id').all() as {
        id: number;
        status: string;
        retry_count: number;
        claimed_at: number | null;
      }[];
    } finally {
      db.close();
    }
  }

  /** Queues rows from this (test) process: for the daemon, another process's commit. */
  enqueue(n: number, kind: 'observation' | 'mcp_query' = 'observation', offset = 0): void {
    const db = openDatabase(this.paths.db);
    try {
      new OutboxStore(db).enqueueMany(
        Array.from({ length: n }, (_, i) => ({
          kind,
          payloadJson: kind === 'observation' ? observationPayload(offset + i) : mcpQueryPayload(offset + i),
        })),
      );
    } finally {
      db.close();
    }
  }

  /** Starts a daemon (`daemon start`) and returns its pid. */
  async start(args: readonly string[] = [], extra: Record<string, string | undefined> = {}): Promise<number> {
    const result = await this.cli(['daemon', 'start', '--json', ...args], extra);
    if (result.code !== 0) throw new Error(`daemon start failed (${result.code}): ${result.stderr}${result.stdout}`);
    const parsed = JSON.parse(result.stdout) as { status: string; pid: number };
    this.track(parsed.pid);
    return parsed.pid;
  }

  /** Waits until the daemon's state file says it is idle (`serving.running`), e.g. after its first pass. */
  async idle(pid: number): Promise<void> {
    await waitFor(
      () => {
        const state = this.state();
        return state?.pid === pid && stateName(state.value) === 'serving.running';
      },
      { what: `daemon ${pid} idle` },
    );
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function observationPayload(i: number): string {
  return JSON.stringify({
    session_id: 'e2e-session',
    ts_ms: 1_760_000_000_000 + i,
    obs_type: 'edit',
    tool: 'Edit',
    file_path: `src/module${i}.ts`,
    title: `Edited module ${i}`,
    narrative: 'Replaced a loop with a map.',
    diff_excerpt: '-for (const x of xs) out.push(f(x))\n+const out = xs.map(f)',
    content_hash: `e2e-${i}`,
  });
}

export function mcpQueryPayload(i: number): string {
  return JSON.stringify({
    file: `src/module${i}.ts`,
    intent: 'refactor',
    rules_injected: 1,
    strict_match_count: 0,
    rule_titles: ['Prefer const'],
    rule_ids: ['r1'],
    client_label: 'e2e',
    repo_full_name: 'acme/app',
    seq: i,
  });
}

export const stateName = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const [key, child] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    return key === undefined ? '' : `${key}${child === undefined ? '' : `.${stateName(child)}`}`;
  }
  return '';
};

export { join };
