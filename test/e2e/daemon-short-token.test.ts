/**
 * Short cloud tokens, with real processes: a token shorter than 8 characters is refused (scrubbing it
 * turned every `xstate.init` in the journal into `[redacted]state.init`; not scrubbing it let a cloud
 * that echoes it put it in `last_error`), never sent and never written in the data home. And
 * `--verify` fails when it can replay nothing.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, waitFor } from '../helpers/index.js';
import { DaemonWorld } from './daemon-harness.js';

let world: DaemonWorld;

beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
});

/** `difflore cloud serve --token <token>` as a child of the world; resolves with its URL. */
async function cloudWithToken(token: string): Promise<{ url: string; received: () => Promise<number> }> {
  const child = world.spawn(process.execPath, [CLI, 'cloud', 'serve', '--token', token], cleanEnv());
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /^listening on (\S+)\n/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('close', (code) => reject(new Error(`cloud serve exited early with ${code}`)));
  });
  const received = async (): Promise<number> => {
    const stats = (await (await fetch(`${url}/__stats`)).json()) as { received: Record<string, number> };
    return Object.values(stats.received).reduce((n, c) => n + c, 0);
  };
  return { url, received };
}

/** Every file under `dir` (the data home: database, journal, state, logs…), with its bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [{ path, bytes: readFileSync(path) }];
  });
}

describe('a cloud token shorter than 8 characters', () => {
  it('is refused with the reason, never sent, written nowhere in the home; the journal verifies', async () => {
    // Too short to scrub without mangling ordinary text, too short to keep out of what a cloud echoes:
    // refused where it enters, so it is never sent and never comes back.
    const cloud = await cloudWithToken('x');
    world.enqueue(3, 'mcp_query');
    const short = 'qZ7w';
    await world.start([], { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: short });
    const status = await waitFor(
      async () => {
        const r = await world.cli(['daemon', 'status']);
        return r.stdout.includes('tokens shorter than 8') ? r : null;
      },
      { what: 'the daemon to refuse the short token' },
    );
    expect(status.stdout).toContain('waiting for a token');
    expect((await world.cli(['daemon', 'stop'])).code).toBe(0);
    expect(world.rows()).toHaveLength(3);
    expect(await cloud.received()).toBe(0);

    for (const file of [world.paths.journal, world.paths.stateFile, world.paths.daemonLog]) {
      expect(readFileSync(file, 'utf8'), file).not.toContain('[redacted]');
    }
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code, verify.stderr).toBe(0);
    for (const { path, bytes } of filesUnder(world.home)) {
      expect(bytes.includes(Buffer.from(short)), path).toBe(false);
    }
  });
});

describe('daemon log --verify with nothing it can replay', () => {
  const record = (seq: number, from: string | null, type: string, to: string) =>
    JSON.stringify({ machine: 'daemon', seq, atMs: 1_000 + seq, pid: 4242, from, event: { type }, to });

  it('fails (exit 1) instead of passing a journal whose runs have no readable start', async () => {
    // What an over-eager scrubber used to leave: the run's first record no longer says xstate.init.
    const lines = [
      record(1, null, '[redacted]state.init', 'claiming'),
      record(2, 'claiming', '[redacted]state.done.actor.claim', 'serving.draining'),
      record(3, 'serving.draining', '[redacted]state.done.actor.drainPass', 'serving.running'),
    ];
    writeFileSync(world.paths.journal, lines.map((line) => `${line}\n`).join(''));
    const text = await world.cli(['daemon', 'log', '--verify']);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain('journal not verified: it holds 3 records, but nothing could be replayed');
    expect(text.stderr).toContain('xstate.init');

    const json = await world.cli(['daemon', 'log', '--verify', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, transitions: 0, records: 3, skippedRuns: 1 });
  });

  it('still passes an empty journal: there is nothing to verify', async () => {
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('journal verified: 0 transitions in 0 runs');
  });
});
