/** Benchmark helpers for delivery: a reference cloud in a child process, and outbox payloads. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CloudStats } from '../src/reference-cloud/server.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface ChildCloud {
  readonly url: string;
  stats(): Promise<CloudStats>;
  close(): Promise<void>;
}

/** Starts `bench/_cloud-child.ts` under tsx and waits for its `listening on` line. */
export async function spawnCloud(options: Record<string, unknown> = {}): Promise<ChildCloud> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, '_cloud-child.ts'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`the cloud exited early (code ${code})`)));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening on (\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
  });
  return {
    url,
    async stats() {
      return (await (await fetch(`${url}/__stats`)).json()) as CloudStats;
    },
    close() {
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

export function observationPayload(i: number): string {
  return JSON.stringify({
    session_id: 'bench-session',
    ts_ms: 1_760_000_000_000 + i,
    obs_type: 'edit',
    tool: 'Edit',
    file_path: `src/module${i % 97}.ts`,
    title: `Edited module ${i % 97}`,
    narrative: 'Replaced a loop with a map and added a guard for empty input.',
    diff_excerpt: '-for (const x of xs) out.push(f(x))\n+const out = xs.map(f)',
    content_hash: `bench-${i}`,
  });
}

export function mcpQueryPayload(i: number): string {
  return JSON.stringify({
    file: `src/module${i % 97}.ts`,
    intent: 'refactor',
    rules_injected: 3,
    strict_match_count: 1,
    rule_titles: ['Prefer const', 'No floating promises', 'Guard empty input'],
    rule_ids: ['r1', 'r2', 'r3'],
    client_label: 'bench',
    repo_full_name: 'acme/app',
    seq: i,
  });
}
