/**
 * What the daemon commands must never do, with real processes in a temp home: signal a process they
 * cannot prove is the daemon (a pid file naming a live stranger, with and without a recorded
 * identity), crash on garbage in daemon.pid or daemon-state.json, spend a try or lose a lease when a
 * pass is stopped mid-flight, or accept a journal that does not replay.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/index.js';
import { DaemonWorld, isAlive, stateName, TOKEN } from './daemon-harness.js';

let world: DaemonWorld;

beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
});

/** A live process that has nothing to do with difflore. */
function stranger(): number {
  const child = world.spawn('sleep', ['600']);
  return child.pid as number;
}

/** A live process whose command line names difflore, as the Rust daemon's does: it may be a daemon. */
function rustLike(): number {
  const child = world.spawn('bash', ['-c', 'exec -a difflore-daemon sleep 600']);
  return child.pid as number;
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

describe('a pid file naming a live process that is not the daemon', () => {
  it('provably not difflore (its command line is `sleep`): stale (LSB 1), stop cleans without signalling, start reclaims', async () => {
    const pid = stranger();
    await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), { what: 'sleep to exec' });
    writeFileSync(world.paths.pidFile, String(pid));
    const status = await world.cli(['daemon', 'status', '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'stale', pid, staleReason: 'identityMismatch' });
    const human = await world.cli(['daemon', 'status']);
    expect(human.stdout).not.toContain('--force');
    const started = await world.start();
    expect(started).not.toBe(pid);
    expect(world.pidFile()).toBe(String(started));
    expect(isAlive(pid)).toBe(true);
    expect((await world.cli(['daemon', 'stop'])).code).toBe(0);
    expect(isAlive(pid)).toBe(true);
  });

  it('without a recorded identity: status says running-unverified, stop refuses and signals nothing', async () => {
    const pid = rustLike();
    await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('difflore'), { what: 'exec -a' });
    writeFileSync(world.paths.pidFile, String(pid));

    const status = await world.cli(['daemon', 'status', '--json']);
    expect(status.code).toBe(4);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'unverified', pid, lockHeld: false });
    const human = await world.cli(['daemon', 'status']);
    expect(human.stdout).toContain(`running-unverified: pid ${pid}`);

    const stop = await world.cli(['daemon', 'stop', '--json']);
    expect(stop.code).toBe(3);
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'refused', refusal: 'unverified', pid });
    const text = await world.cli(['daemon', 'stop']);
    expect(text.code).toBe(3);
    expect(text.stderr).toContain(`refusing to signal pid ${pid}`);
    expect(isAlive(pid)).toBe(true);
    expect(world.pidFile()).toBe(String(pid));

    // Nor does a start claim the home from under it.
    const start = await world.cli(['daemon', 'start', '--timeout', '20s']);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(`another daemon is already running (pid ${pid}, identity unverified)`);
    expect(isAlive(pid)).toBe(true);
    await waitFor(() => world.daemonsAlive().length === 0, { what: 'the refused daemon to exit' });
  });

  it('with a different identity recorded: status says stale, stop cleans the file and signals nothing', async () => {
    const pid = stranger();
    writeFileSync(world.paths.pidFile, String(pid));
    // The daemon that wrote this record had this pid once; the live process is not it (other start time).
    writeFileSync(
      world.paths.stateFile,
      JSON.stringify({
        version: 1,
        pid,
        startedAtMs: 1,
        heartbeatAtMs: 1,
        lastDrainAtMs: null,
        lastAttempted: 0,
        lastConfirmed: 0,
        lastError: null,
        format: 'difflore-ts/1',
        identity: { pid, bootId: bootId(), startTime: '1' },
      }),
    );

    const status = await world.cli(['daemon', 'status', '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'stale', pid, staleReason: 'identityMismatch' });

    const stop = await world.cli(['daemon', 'stop', '--json']);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'staleCleaned', pid });
    expect(isAlive(pid)).toBe(true);
    expect(world.pidFile()).toBeNull();
    expect((await world.cli(['daemon', 'status'])).code).toBe(3);
  });

  it('--force signals a live unverified process', async () => {
    const pid = rustLike();
    await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('difflore'), { what: 'exec -a' });
    writeFileSync(world.paths.pidFile, String(pid));
    const stop = await world.cli(['daemon', 'stop', '--force', '--json']);
    expect(stop.stderr).toContain('signalling an unverified process (--force)');
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'terminated', pid });
    await waitFor(() => !isAlive(pid), { what: 'the process to be gone' });
  });
});

describe('garbage in the files', () => {
  it('a garbage daemon.pid is a stale pid file: clear message, no crash, cleaned by stop, reclaimed by start', async () => {
    writeFileSync(world.paths.pidFile, 'not a pid\n');
    const status = await world.cli(['daemon', 'status']);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain("stale pid file: daemon.pid names 'not a pid', which is not a valid pid");
    expect(status.stderr).toBe('');

    const stop = await world.cli(['daemon', 'stop']);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('removed an unreadable pid file');
    expect(world.pidFile()).toBeNull();

    writeFileSync(world.paths.pidFile, '-1');
    const pid = await world.start();
    expect(world.pidFile()).toBe(String(pid));
    expect(world.journal().some((r) => r.pid === pid && r.to === 'reclaimingStale')).toBe(true);
  });

  it('a garbage daemon-state.json: status explains it, start rewrites it, nothing crashes', async () => {
    writeFileSync(world.paths.stateFile, '{{{ definitely not json');
    const status = await world.cli(['daemon', 'status', '--json']);
    expect(status.code).toBe(3);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'notRunning', stateFile: 'garbage' });
    const human = await world.cli(['daemon', 'status']);
    expect(human.stdout).toMatch(/state file +unusable \(not JSON/);
    expect(human.stderr).toBe('');

    // A minute-long tick: no transition rewrites the file while the test looks at the garbage.
    const pid = await world.start(['--tick', '60s']);
    expect(world.state()?.pid).toBe(pid);
    const running = await world.cli(['daemon', 'status', '--json']);
    expect(JSON.parse(running.stdout)).toMatchObject({ status: 'running', pid, stateFile: 'ok' });

    // Garbage written while it runs: the identity is gone, so status cannot verify it (LSB 4), and
    // stop will not signal it without --force; the daemon's next transition rewrites the file.
    writeFileSync(world.paths.stateFile, '[]');
    const unverified = await world.cli(['daemon', 'status', '--json']);
    expect(unverified.code).toBe(4);
    expect(JSON.parse(unverified.stdout)).toMatchObject({ status: 'unverified', pid, lockHeld: true });
    const refused = await world.cli(['daemon', 'stop']);
    expect(refused.code).toBe(3);
    expect(isAlive(pid)).toBe(true);
    const forced = await world.cli(['daemon', 'stop', '--force', '--json']);
    expect(JSON.parse(forced.stdout)).toMatchObject({ outcome: 'terminated', pid });
    // Its last transitions replaced the garbage, identity included.
    expect(world.state()).toMatchObject({ pid, value: 'stopped', identity: { pid } });
  });

  it('daemon log --verify reports the first record that does not replay (exit 1)', async () => {
    const pid = await world.start();
    await world.idle(pid);
    await world.cli(['daemon', 'stop']);
    expect((await world.cli(['daemon', 'log', '--verify'])).code).toBe(0);
    const lines = readFileSync(world.paths.journal, 'utf8').trimEnd().split('\n');
    const index = lines.findIndex((line) => line.includes('"to":"serving.running"'));
    expect(index).toBeGreaterThan(0);
    lines[index] = (lines[index] as string).replace('"to":"serving.running"', '"to":"stopped"');
    writeFileSync(world.paths.journal, `${lines.join('\n')}\n`);
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(
      new RegExp(
        `journal mismatch: daemon pid ${pid}, record #\\d+: recorded stopped, replay reached serving\\.running`,
      ),
    );
  });
});

describe('SIGTERM while a pass is in flight', () => {
  it('aborts the pass, hands the leases back without spending a try, and records stopped', async () => {
    // Every answer takes 10 minutes: the only way out of this pass is the stop.
    const cloud = await world.cloud(['--latency-ms', '600000']);
    world.enqueue(10, 'mcp_query');
    const pid = await world.start([], { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN });
    await waitFor(() => world.rows().some((r) => r.status === 'processing'), { what: 'rows in flight' });
    expect(stateName(world.state()?.value)).toBe('serving.draining');

    const stop = await world.cli(['daemon', 'stop', '--json']);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'terminated', pid });
    expect(isAlive(pid)).toBe(false);

    const rows = world.rows();
    expect(rows).toHaveLength(10);
    for (const row of rows) expect(row).toMatchObject({ status: 'pending', retry_count: 0, claimed_at: null });

    const run = world.journal().filter((r) => r.machine === 'daemon' && r.pid === pid);
    expect(run.map((r) => r.to)).toEqual(expect.arrayContaining(['stopping.abortingPass', 'stopping.releasing']));
    expect(run.at(-1)).toMatchObject({ to: 'stopped' });
    const aborted = run.find((r) => r.from === 'stopping.abortingPass');
    expect(aborted?.event.type).toBe('xstate.done.actor.awaitAbortedPass');
    expect(stateName(world.state()?.value)).toBe('stopped');
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code, verify.stderr).toBe(0);
  });
});

describe('no token', () => {
  it('the daemon runs, status says delivery waits for a token, and rows stay queued', async () => {
    world.enqueue(2);
    const pid = await world.start(['--tick', '60s']);
    await world.idle(pid);
    const status = await world.cli(['daemon', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({
      status: 'running',
      waitingForToken: true,
      backlog: { pending: 2, processing: 0, abandoned: 0 },
    });
    expect(JSON.parse(status.stdout).tokenProblem).toContain('no cloud token');
    // Waiting rows are not "due": the daemon sleeps until its tick instead of re-running the pass.
    const passes = world.journal().filter((r) => r.pid === pid && r.event.type === 'xstate.done.actor.drainPass');
    expect(passes).toHaveLength(1);
  });
});
