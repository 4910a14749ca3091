/**
 * The daemon as a user drives it, with real processes in a temp home: start → status → stop, the
 * journal replaying to the recorded state, 20 concurrent starts giving one daemon, a wake-up from a
 * row committed by another process (with a tick too long to explain the delivery), kill -9 and the
 * reclaim that follows, a SIGSTOPped daemon escalated to SIGKILL, and `daemon run` in the foreground.
 */
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, waitFor } from '../helpers/index.js';
import { DaemonWorld, isAlive, observationPayload, stateName, TOKEN } from './daemon-harness.js';

let world: DaemonWorld;

beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
});

describe('daemon start, status, stop', () => {
  it('starts one daemon, reports it, stops it, and the journal replays to the recorded state', async () => {
    const cloud = await world.cloud();
    const env = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };

    const first = await world.cli(['daemon', 'start'], env);
    expect(first.code).toBe(0);
    const pid = Number(/started \(pid (\d+)\)/.exec(first.stdout)?.[1]);
    world.track(pid);
    expect(isAlive(pid)).toBe(true);
    expect(world.pidFile()).toBe(String(pid));

    const again = await world.cli(['daemon', 'start'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`already running (pid ${pid})`);

    await world.idle(pid);
    const status = await world.cli(['daemon', 'status', '--json'], env);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout);
    expect(report).toMatchObject({
      status: 'running',
      pid,
      machineState: 'serving.running',
      waitingForToken: false,
      backlog: { pending: 0, processing: 0, abandoned: 0 },
    });
    expect(report.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(report.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
    const human = await world.cli(['daemon', 'status'], env);
    expect(human.stdout).toContain(`running (pid ${pid})`);
    expect(human.stdout).toContain('state        serving.running');

    const stop = await world.cli(['daemon', 'stop', '--json']);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'terminated', pid, exitCode: 0 });
    expect(isAlive(pid)).toBe(false);
    expect(world.pidFile()).toBeNull();
    expect(stateName(world.state()?.value)).toBe('stopped');
    expect(stateName((world.state()?.lastStop as { value?: unknown } | null)?.value)).toBe('terminated');

    const after = await world.cli(['daemon', 'status']);
    expect(after.code).toBe(3);
    expect(after.stdout).toContain('not running');
    const stopAgain = await world.cli(['daemon', 'stop']);
    expect(stopAgain.code).toBe(0);
    expect(stopAgain.stdout).toContain('not running');

    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(`the newest daemon run (pid ${pid}) ends in stopped`);

    const log = await world.cli(['daemon', 'log', '--limit', '0']);
    expect(log.stdout).toMatch(
      new RegExp(`daemon pid ${pid} +#\\d+ +serving\\.running → stopping\\.releasing +\\[STOP \\(SIGTERM\\)\\]`),
    );
    expect(log.stdout).toMatch(/stop +pid \d+ +#\d+ +polling\.checking → terminated/);
    for (const file of [world.paths.stateFile, world.paths.journal, world.paths.daemonLog]) {
      const { readFileSync } = await import('node:fs');
      expect(readFileSync(file, 'utf8')).not.toContain(TOKEN);
    }
  });

  it('20 concurrent starts leave exactly one daemon, and every start reports its pid', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => world.cli(['daemon', 'start', '--json'])));
    world.trackDaemons();
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const outcomes = results.map((r) => JSON.parse(r.stdout) as { status: string; pid: number });
    expect(outcomes.filter((o) => o.status === 'started')).toHaveLength(1);
    const pids = new Set(outcomes.map((o) => o.pid));
    expect(pids.size).toBe(1);
    const [pid] = [...pids] as [number];
    world.track(pid);
    // The losers' `daemon run` children find the conflict and exit; one daemon stays.
    await waitFor(() => world.daemonsAlive().length === 1, { what: 'the losing daemons to exit' });
    expect(world.daemonsAlive()).toEqual([pid]);
    expect(world.pidFile()).toBe(String(pid));
    expect(world.state()?.pid).toBe(pid);
    expect(stateName(world.state()?.value)).toMatch(/^serving\./);
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('20 concurrent `daemon run` claimers: one serves, the others yield (exit 0) without touching its state', async () => {
    const runs = Array.from({ length: 20 }, () => {
      const child = spawn(process.execPath, [CLI, 'daemon', 'run', '--tick', '60s'], {
        env: world.env(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      world.track(child.pid);
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
        child.once('close', (code) => resolve({ code, stderr })),
      );
      return { pid: child.pid as number, exited };
    });
    await waitFor(() => world.daemonsAlive().length === 1, { what: 'all but one claimer to give up' });
    const [winner] = world.daemonsAlive() as [number];
    const losers = runs.filter((r) => r.pid !== winner);
    expect(losers).toHaveLength(19);
    for (const loser of losers) {
      const { code, stderr } = await loser.exited;
      expect(code).toBe(0);
      expect(stderr).toContain('difflore: yielding: another daemon is already running');
    }
    await waitFor(() => stateName(world.state()?.value).startsWith('serving.'), { what: 'the winner to serve' });
    expect(world.pidFile()).toBe(String(winner));
    expect(world.state()?.pid).toBe(winner);
    // Every loser journaled its run (claiming → stopped) but left the winner's state file alone.
    const journaled = new Set(
      world
        .journal()
        .filter((r) => r.to === 'stopped')
        .map((r) => r.pid),
    );
    for (const loser of losers) expect(journaled.has(loser.pid)).toBe(true);
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code, verify.stderr).toBe(0);
    const stop = await world.cli(['daemon', 'stop', '--json']);
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'terminated', pid: winner });
  });

  it('a row committed by another process reaches the cloud without waiting for the tick', async () => {
    const cloud = await world.cloud();
    const env = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    const pid = await world.start(['--tick', '60s'], env);
    await world.idle(pid);
    // The start-up pass is over; the next tick is a minute away, well past the deadline below.
    const enqueued = await world.cli(['enqueue', 'observation', observationPayload(1)], env);
    expect(enqueued.code).toBe(0);
    await waitFor(async () => (await cloud.stats()).received.observation === 1, {
      what: 'the observation at the cloud',
      timeoutMs: 30_000,
    });
    await waitFor(() => world.rows().length === 0, { what: 'the row to be confirmed' });
    const wake = world.journal().find((r) => r.pid === pid && r.event.type === 'WAKE');
    expect(wake).toMatchObject({ from: 'serving.running', to: 'serving.draining' });

    // SIGHUP is RELOAD: a pass at once (breaker reset), again without waiting for the tick.
    await world.idle(pid);
    process.kill(pid, 'SIGHUP');
    await waitFor(() => world.journal().some((r) => r.pid === pid && r.event.type === 'RELOAD'), {
      what: 'the RELOAD transition',
    });
    expect(world.journal().find((r) => r.pid === pid && r.event.type === 'RELOAD')).toMatchObject({
      from: 'serving.running',
      to: 'serving.draining',
    });
    await world.idle(pid);
    expect(isAlive(pid)).toBe(true);
  });
});

describe('restart, log and status details', () => {
  it('restart replaces the daemon; log --json and --follow print the transitions', async () => {
    const first = await world.start();
    await world.idle(first);
    const follower = spawn(process.execPath, [CLI, 'daemon', 'log', '--follow', '--json', '--limit', '1'], {
      env: world.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    world.track(follower.pid);
    let followed = '';
    follower.stdout?.setEncoding('utf8').on('data', (d: string) => {
      followed += d;
    });
    const followerClosed = new Promise<number | null>((resolve) => follower.once('close', (code) => resolve(code)));
    await waitFor(() => followed.includes('\n'), { what: 'the follower to print the last entry' });

    const restart = await world.cli(['daemon', 'restart', '--json']);
    expect(restart.code, restart.stderr).toBe(0);
    const [stopLine, startLine] = restart.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(stopLine).toMatchObject({ outcome: 'terminated', pid: first });
    expect(startLine.status).toBe('started');
    world.track(startLine.pid);
    expect(startLine.pid).not.toBe(first);
    expect(isAlive(first)).toBe(false);

    await waitFor(() => followed.includes(`"pid":${startLine.pid}`), { what: 'the new run in the followed journal' });
    follower.kill('SIGINT');
    expect(await followerClosed).toBe(0);
    const records = followed
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { machine: string; pid: number; to: string });
    expect(records.some((r) => r.pid === first && r.to === 'stopped')).toBe(true);
    expect(records.some((r) => r.machine === 'stop' && r.to === 'terminated')).toBe(true);
  });

  it('status says the backlog is unknown when data.db cannot be read, without an error', async () => {
    const pid = await world.start(['--tick', '60s']);
    await world.idle(pid);
    await world.cli(['daemon', 'stop']);
    const { writeFileSync } = await import('node:fs');
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        writeFileSync(`${world.paths.db}${suffix}`, suffix === '' ? 'this is not a database, not at all' : '');
      } catch {
        // -wal/-shm may be gone after a clean close.
      }
    }
    const status = await world.cli(['daemon', 'status']);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain('backlog      unknown: cannot read the outbox database');
    expect(status.stderr).toBe('');
  });
});

describe('crashes and stuck daemons', () => {
  it('after kill -9 the pid file is stale, and the next start reclaims it and drains what was left', async () => {
    const cloud = await world.cloud();
    const env = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    const dead = await world.start([], env);
    await world.idle(dead);
    process.kill(dead, 'SIGKILL');
    await waitFor(() => !isAlive(dead), { what: 'the daemon to die' });

    const status = await world.cli(['daemon', 'status', '--json']);
    expect(status.code).toBe(1);
    const stale = JSON.parse(status.stdout);
    expect(stale).toMatchObject({ status: 'stale', pid: dead });
    // Reparented to init, it is reaped at once, or lingers as a zombie where init does not reap.
    expect(['dead', 'zombie']).toContain(stale.staleReason);

    world.enqueue(5);
    const pid = await world.start([], env);
    expect(pid).not.toBe(dead);
    await waitFor(async () => (await cloud.stats()).received.observation === 5, { what: 'the 5 rows at the cloud' });
    await waitFor(() => world.rows().length === 0, { what: 'the rows to be confirmed' });
    const reclaim = world.journal().find((r) => r.pid === pid && r.to === 'reclaimingStale');
    expect(reclaim).toBeDefined();
    const verify = await world.cli(['daemon', 'log', '--verify']);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('a SIGSTOPped daemon is continued after SIGTERM (as systemd does) and stops cleanly', async () => {
    const pid = await world.start();
    await world.idle(pid);
    process.kill(pid, 'SIGSTOP');
    // A grace far longer than the test: the daemon must not sit it out stopped, nor be killed.
    const stop = await world.cli(['daemon', 'stop', '--grace', '60s', '--json']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).not.toContain('SIGKILL');
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'terminated', pid, exitCode: 0 });
    expect(isAlive(pid)).toBe(false);
    expect(world.pidFile()).toBeNull();
    const status = await world.cli(['daemon', 'status']);
    expect(status.code).toBe(3);
    // The poll loop's records are bounded whatever the grace: this run wrote a handful, not hundreds.
    const stopRecords = world.journal().filter((r) => r.machine === 'stop');
    expect(stopRecords.length).toBeLessThan(60);
  });
});

describe('daemon run in the foreground', () => {
  it('exits 0 on SIGINT, and 0 saying so when another daemon already serves the home', async () => {
    const pid = await world.start();
    // Not a failure: a service manager restarting on failure must not loop into this conflict.
    const conflict = await world.cli(['daemon', 'run']);
    expect(conflict.code).toBe(0);
    expect(conflict.stdout).toBe('');
    expect(conflict.stderr).toBe(
      `difflore: yielding: another daemon is already running (pid ${pid}); it owns this data home, so this one exits with nothing to do\n`,
    );
    expect(isAlive(pid)).toBe(true);
    expect(world.pidFile()).toBe(String(pid));
    const help = await world.cli(['daemon', 'run', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      'Exit codes: 0 after a clean stop, and when another daemon already serves the data home',
    );
    await world.cli(['daemon', 'stop']);

    const child = spawn(process.execPath, [CLI, 'daemon', 'run', '--tick', '60s'], {
      env: world.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    world.track(child.pid);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => world.state()?.pid === child.pid && stateName(world.state()?.value) === 'serving.running', {
      what: 'the foreground daemon to serve',
    });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(world.pidFile()).toBeNull();
    expect(world.journal().at(-1)).toMatchObject({ pid: child.pid, to: 'stopped' });
  });

  it('refuses bad options with usage errors', async () => {
    expect((await world.cli(['daemon', 'run', '--tick', '5'])).code).toBe(2);
    expect((await world.cli(['daemon', 'run', '--inspect', 'http://example.com'])).code).toBe(2);
    expect((await world.cli(['daemon', 'stop', '--grace', 'soon'])).code).toBe(2);
    const help = await world.cli(['daemon', 'stop', '--help']);
    expect(help.stdout).toContain('daemon stop --grace 30s');
  });
});
