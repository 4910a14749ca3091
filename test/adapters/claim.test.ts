import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Claimed, claim, cleanStale, reclaimStale, releaseClaim } from '../../src/adapters/lifecycle/claim.js';
import { probeLock } from '../../src/adapters/lifecycle/flock.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { probeLiveness } from '../../src/adapters/lifecycle/liveness.js';
import { identityOf, selfIdentity } from '../../src/adapters/lifecycle/process-identity.js';
import { readState, recordClaim } from '../../src/adapters/lifecycle/recorder.js';
import { makeTempHome } from '../helpers/index.js';
import { type Child, deadPid, killAllChildren, startAdapterChild, startCommand } from './fixtures/child.js';

const hasPerl = spawnSync('perl', ['-e', '0']).status === 0;
let paths: HomePaths;
let cleanup: () => void;
const held: Claimed[] = [];

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
});

afterEach(async () => {
  for (const c of held.splice(0)) await releaseClaim(paths, c);
  await killAllChildren();
  cleanup();
});

async function claimHere(): Promise<Claimed> {
  const result = await claim(paths);
  expect(result.kind).toBe('claimed');
  if (result.kind !== 'claimed') throw new Error(`expected claimed, got ${JSON.stringify(result)}`);
  held.push(result);
  return result;
}

/** An unrelated live process that reports any signal it gets. */
async function bystander(): Promise<Child> {
  const child = startAdapterChild(['bystander']);
  await child.next((m) => m.event === 'ready', 'bystander ready');
  return child;
}

/** A bystander whose command line mentions difflore, as the Rust daemon's does: it may be a daemon. */
async function rustLike(): Promise<Child> {
  const child = startAdapterChild(['bystander', 'difflore-rust-daemon']);
  await child.next((m) => m.event === 'ready', 'bystander ready');
  return child;
}

function signalsReceived(child: Child): unknown[] {
  return child.messages.filter((m) => m.event === 'signal');
}

describe('claim', () => {
  it('claims an empty home: pid file, lifetime lock held, identity recorded; release undoes it in order', async () => {
    const claimed = await claimHere();
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(process.pid));
    expect(claimed.identity).toEqual(selfIdentity());
    expect(probeLock(paths.lifetimeLock).kind).toBe('held');
    // The claim lock is not kept.
    expect(probeLock(paths.claimLock, 'exclusive').kind).toBe('free');
    const state = readState(paths.stateFile);
    expect(state.kind).toBe('ok');
    if (state.kind === 'ok') {
      expect(state.state.identity).toEqual(claimed.identity);
      expect(state.state.pid).toBe(process.pid);
    }
    expect(probeLiveness(paths)).toEqual({
      kind: 'running',
      pid: process.pid,
      identity: claimed.identity,
      lockHeld: true,
    });

    held.pop();
    expect(await releaseClaim(paths, claimed)).toEqual({ pidFile: 'removed' });
    expect(existsSync(paths.pidFile)).toBe(false);
    expect(probeLock(paths.lifetimeLock).kind).toBe('free');
    expect(probeLiveness(paths)).toEqual({ kind: 'notRunning', lockHeld: false });
  });

  it('a second claim while the first holds is a verified conflict, and takes nothing', async () => {
    await claimHere();
    expect(await claim(paths)).toEqual({ kind: 'conflict', pid: process.pid, verified: true });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(process.pid));
  });

  it('20 claimers in 20 processes at once: exactly one claims, the others see it as a verified conflict', async () => {
    const children = Array.from({ length: 20 }, () => startAdapterChild(['claim', paths.home]));
    await Promise.all(children.map((c) => c.next((m) => m.event === 'ready', 'claimer ready')));
    for (const c of children) c.send('go');
    const results = await Promise.all(
      children.map((c) => c.next((m) => m.event === 'result' || m.event === 'error', 'claim result')),
    );
    const winners = results.filter((r) => r.kind === 'claimed');
    expect(winners).toHaveLength(1);
    const winnerPid = winners[0]?.pid;
    const losers = results.filter((r) => r.kind !== 'claimed');
    expect(losers).toHaveLength(19);
    for (const r of losers)
      expect(r).toMatchObject({ event: 'result', kind: 'conflict', pid: winnerPid, verified: true });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(winnerPid));
    const live = probeLiveness(paths);
    expect(live).toMatchObject({ kind: 'running', pid: winnerPid, lockHeld: true });

    // kill -9 the winner: the kernel frees the lifetime lock, the pid file stays behind, stale.
    const winner = children.find((c) => c.pid === winnerPid);
    winner?.proc.kill('SIGKILL');
    await winner?.exited;
    expect(probeLiveness(paths)).toEqual({ kind: 'stale', pid: winnerPid, reason: 'dead', lockHeld: false });
    const stale = await claim(paths);
    expect(stale).toEqual({ kind: 'stale', pid: winnerPid, reason: 'dead' });
    if (stale.kind !== 'stale') return;
    const reclaimed = await reclaimStale(paths, stale);
    expect(reclaimed.kind).toBe('claimed');
    if (reclaimed.kind === 'claimed') held.push(reclaimed);
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(process.pid));
  });

  it('a pid file naming a live process that is provably not difflore: stale, reclaimed, never signalled', async () => {
    // Its command line has nothing of difflore (start-stop-daemon's --exec check): the pid was reused.
    const other = await bystander();
    writeFileSync(paths.pidFile, String(other.pid));
    expect(probeLiveness(paths)).toEqual({
      kind: 'stale',
      pid: other.pid,
      reason: 'identityMismatch',
      lockHeld: false,
    });
    const stale = await claim(paths);
    expect(stale).toEqual({ kind: 'stale', pid: other.pid, reason: 'identityMismatch' });
    if (stale.kind !== 'stale') return;
    const reclaimed = await reclaimStale(paths, stale);
    expect(reclaimed.kind).toBe('claimed');
    if (reclaimed.kind === 'claimed') held.push(reclaimed);
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(process.pid));
    expect(signalsReceived(other)).toEqual([]);
    expect(identityOf(other.pid).kind).toBe('alive');
  });

  it('a pid file naming a live process that may be the Rust daemon: unverified conflict, never signalled', async () => {
    const other = await rustLike();
    writeFileSync(paths.pidFile, String(other.pid));
    expect(await claim(paths)).toEqual({ kind: 'conflict', pid: other.pid, verified: false });
    expect(probeLiveness(paths)).toEqual({ kind: 'unverified', pid: other.pid, lockHeld: false });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(other.pid));
    expect(signalsReceived(other)).toEqual([]);
    expect(identityOf(other.pid).kind).toBe('alive');
  });

  it('a pid reused by an unrelated process (recorded identity differs) is stale, reclaimed, and the process untouched', async () => {
    const other = await bystander();
    const real = identityOf(other.pid);
    if (real.kind !== 'alive') throw new Error('bystander not alive');
    // What a crashed daemon with this pid would have recorded: same pid, another start time.
    recordClaim(paths.stateFile, { ...real.identity, startTime: `${real.identity.startTime}9` }, { fsync: false });
    writeFileSync(paths.pidFile, String(other.pid));

    expect(probeLiveness(paths)).toEqual({
      kind: 'stale',
      pid: other.pid,
      reason: 'identityMismatch',
      lockHeld: false,
    });
    const stale = await claim(paths);
    expect(stale).toEqual({ kind: 'stale', pid: other.pid, reason: 'identityMismatch' });
    if (stale.kind !== 'stale') return;
    const reclaimed = await reclaimStale(paths, stale);
    expect(reclaimed.kind).toBe('claimed');
    if (reclaimed.kind === 'claimed') held.push(reclaimed);
    expect(signalsReceived(other)).toEqual([]);
    expect(identityOf(other.pid).kind).toBe('alive');
  });

  it.each([
    ['empty', ''],
    ['text', 'not a pid'],
    ['pid 0', '0'],
    ['pid 1', '1'],
    ['pid -1', '-1'],
  ])('a garbage pid file (%s) is stale with no pid, and is reclaimed', async (_name, text) => {
    writeFileSync(paths.pidFile, text);
    expect(probeLiveness(paths)).toEqual({ kind: 'stale', pid: null, reason: 'invalidPid', text, lockHeld: false });
    const stale = await claim(paths);
    expect(stale).toEqual({ kind: 'stale', pid: null, reason: 'invalidPid', text });
    if (stale.kind !== 'stale') return;
    const reclaimed = await reclaimStale(paths, stale);
    expect(reclaimed.kind).toBe('claimed');
    if (reclaimed.kind === 'claimed') held.push(reclaimed);
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(process.pid));
  });

  it('a pid file naming a dead process is stale; naming this very process is identityMismatch', async () => {
    const dead = await deadPid();
    writeFileSync(paths.pidFile, String(dead));
    expect(await claim(paths)).toEqual({ kind: 'stale', pid: dead, reason: 'dead' });
    writeFileSync(paths.pidFile, String(process.pid));
    expect(await claim(paths)).toEqual({ kind: 'stale', pid: process.pid, reason: 'identityMismatch' });
    // Nothing is held after a stale answer.
    expect(probeLock(paths.lifetimeLock).kind).toBe('free');
  });

  it.skipIf(process.platform !== 'linux' || !hasPerl)('a pid file naming a zombie is stale', async () => {
    const parent = startCommand('perl', [
      '-e',
      '$| = 1; my $p = fork(); exit 0 if $p == 0; print qq({"event":"pid","pid":$p}\\n); sleep 1000;',
    ]);
    const { pid } = (await parent.next((m) => m.event === 'pid')) as unknown as { pid: number };
    writeFileSync(paths.pidFile, String(pid));
    const { waitFor } = await import('../helpers/index.js');
    const result = await waitFor(async () => {
      const r = await claim(paths);
      return r.kind === 'stale' && r.reason === 'zombie' ? r : undefined;
    });
    expect(result).toEqual({ kind: 'stale', pid, reason: 'zombie' });
  });

  it('reclaimStale re-checks under the lock: a pid file that changed meanwhile is returned, not removed', async () => {
    const dead = await deadPid();
    writeFileSync(paths.pidFile, String(dead));
    const stale = await claim(paths);
    expect(stale.kind).toBe('stale');
    if (stale.kind !== 'stale') return;
    // Meanwhile the file came to name a live process (another claimer, a Rust daemon).
    const other = await rustLike();
    writeFileSync(paths.pidFile, String(other.pid));
    expect(await reclaimStale(paths, stale)).toEqual({ kind: 'conflict', pid: other.pid, verified: false });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(other.pid));
    // Or another dead pid: stale still, but not the one we were asked to remove.
    const dead2 = await deadPid();
    writeFileSync(paths.pidFile, String(dead2));
    expect(await reclaimStale(paths, stale)).toEqual({ kind: 'stale', pid: dead2, reason: 'dead' });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(dead2));
    expect(signalsReceived(other)).toEqual([]);
  });

  it('a daemon holding the lifetime lock without a pid file (deleted by someone) still conflicts', async () => {
    const claimed = await claimHere();
    const { unlinkSync } = await import('node:fs');
    unlinkSync(paths.pidFile);
    expect(await claim(paths)).toEqual({ kind: 'conflict', pid: claimed.identity.pid, verified: true });
    expect(existsSync(paths.pidFile)).toBe(false);
  });

  it('refuses a symlinked pid file or lock file, and leaves their targets alone', async () => {
    const target = join(paths.home, 'target');
    writeFileSync(target, '12345');
    symlinkSync(target, paths.pidFile);
    await expect(claim(paths)).rejects.toMatchObject({ code: 'unsafe_file' });
    expect(readFileSync(target, 'utf8')).toBe('12345');
    expect(() => probeLiveness(paths)).toThrow(/symbolic link/);
    const { unlinkSync } = await import('node:fs');
    unlinkSync(paths.pidFile);
    unlinkSync(paths.lifetimeLock);
    symlinkSync(target, paths.lifetimeLock);
    await expect(claim(paths)).rejects.toMatchObject({ code: 'unsafe_file' });
    expect(existsSync(paths.pidFile)).toBe(false);
  });

  it('waits for a claim lock held by another claimer (as the Rust binary would hold it), and gives up with conflict', async () => {
    const rust = startAdapterChild(['hold-lock', paths.claimLock, 'exclusive']);
    await rust.next((m) => m.event === 'locked');
    await expect(claim(paths, { claimLockTimeoutMs: 0 })).rejects.toMatchObject({ code: 'conflict' });
    expect(existsSync(paths.pidFile)).toBe(false);
    const pending = claim(paths, { claimLockTimeoutMs: 30_000 });
    rust.send('release');
    const result = await pending;
    expect(result.kind).toBe('claimed');
    if (result.kind === 'claimed') held.push(result);
  });

  it('if recording the identity fails, the claim undoes itself: no pid file, no lock, the error surfaces', async () => {
    await expect(
      claim(paths, {
        recordIdentity: () => {
          throw new Error('disk full');
        },
      }),
    ).rejects.toThrow('disk full');
    expect(existsSync(paths.pidFile)).toBe(false);
    expect(probeLock(paths.lifetimeLock).kind).toBe('free');
    expect(probeLock(paths.claimLock, 'exclusive').kind).toBe('free');
  });

  it('a liveness probe holding the lifetime lock shared for an instant is not mistaken for a daemon', async () => {
    const prober = startAdapterChild(['hold-lock', paths.lifetimeLock, 'shared']);
    await prober.next((m) => m.event === 'locked');
    const pending = claim(paths);
    prober.send('release');
    const result = await pending;
    expect(result.kind).toBe('claimed');
    if (result.kind === 'claimed') held.push(result);
  });
});

describe('deadPredecessor: the daemon recorded before us, when it is provably gone', () => {
  it('is the identity of a daemon killed with SIGKILL, found stale and reclaimed', async () => {
    const daemon = startAdapterChild(['claim', paths.home]);
    await daemon.next((m) => m.event === 'ready');
    daemon.send('go');
    await daemon.next((m) => m.event === 'result' && m.kind === 'claimed');
    const victim = identityOf(daemon.pid);
    if (victim.kind !== 'alive') throw new Error('claimer not alive');
    daemon.proc.kill('SIGKILL');
    await daemon.exited;

    const stale = await claim(paths);
    expect(stale).toEqual({ kind: 'stale', pid: daemon.pid, reason: 'dead' });
    if (stale.kind !== 'stale') return;
    const reclaimed = await reclaimStale(paths, stale);
    if (reclaimed.kind !== 'claimed') throw new Error(`expected claimed, got ${JSON.stringify(reclaimed)}`);
    held.push(reclaimed);
    expect(reclaimed.deadPredecessor).toEqual(victim.identity);
  });

  it('is also reported when the dead daemon left no pid file (daemon stop removed it after SIGKILL)', async () => {
    const dead = await deadPid();
    const recorded = { pid: dead, bootId: selfIdentity().bootId, startTime: '12345' };
    recordClaim(paths.stateFile, recorded, { fsync: false });
    expect((await claimHere()).deadPredecessor).toEqual(recorded);
  });

  it('is a process whose pid now belongs to someone else (start time differs), which is left alone', async () => {
    const other = await bystander();
    const real = identityOf(other.pid);
    if (real.kind !== 'alive') throw new Error('bystander not alive');
    const recorded = { ...real.identity, startTime: `${real.identity.startTime}9` };
    recordClaim(paths.stateFile, recorded, { fsync: false });
    expect((await claimHere()).deadPredecessor).toEqual(recorded);
    expect(signalsReceived(other)).toEqual([]);
  });

  it('is null on a first start, for a live recorded process, and for one that cannot be checked', async () => {
    const first = await claimHere();
    expect(first.deadPredecessor).toBeNull();
    // We released and claim again: the recorded daemon (us) is alive, so it is not gone.
    held.pop();
    await releaseClaim(paths, first);
    expect((await claimHere()).deadPredecessor).toBeNull();
    await releaseClaim(paths, held.pop() as Claimed);

    const other = await bystander();
    const live = identityOf(other.pid);
    if (live.kind !== 'alive') throw new Error('bystander not alive');
    recordClaim(paths.stateFile, live.identity, { fsync: false });
    expect((await claimHere()).deadPredecessor).toBeNull();
    await releaseClaim(paths, held.pop() as Claimed);

    // No start time recorded: a live pid cannot be told from a reused one.
    recordClaim(paths.stateFile, { ...live.identity, startTime: null }, { fsync: false });
    expect((await claimHere()).deadPredecessor).toBeNull();
  });
});

describe('cleanStale (daemon stop on a stale pid file)', () => {
  it('removes a dead pid file without signalling anything', async () => {
    const dead = await deadPid();
    writeFileSync(paths.pidFile, String(dead));
    expect(await cleanStale(paths, { pid: dead })).toEqual({ kind: 'removed' });
    expect(existsSync(paths.pidFile)).toBe(false);
  });

  it('leaves the file when it now names a live process or a daemon holds the lifetime lock', async () => {
    const other = await rustLike();
    writeFileSync(paths.pidFile, String(other.pid));
    expect(await cleanStale(paths, { pid: other.pid })).toEqual({
      kind: 'changed',
      now: { kind: 'conflict', pid: other.pid, verified: false },
    });
    expect(existsSync(paths.pidFile)).toBe(true);
    expect(signalsReceived(other)).toEqual([]);

    const { unlinkSync } = await import('node:fs');
    unlinkSync(paths.pidFile);
    expect(await cleanStale(paths, { pid: 5 })).toEqual({
      kind: 'changed',
      now: { kind: 'missing' },
    });
    const claimed = await claimHere();
    expect(await cleanStale(paths, { pid: process.pid })).toEqual({
      kind: 'changed',
      now: { kind: 'conflict', pid: process.pid, verified: true },
    });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe(String(claimed.identity.pid));
  });
});

describe('after SIGKILL of a verified daemon', () => {
  it('cleanStale removes the pid file the victim left, once it is dead', async () => {
    const daemon = startAdapterChild(['claim', paths.home]);
    await daemon.next((m) => m.event === 'ready');
    daemon.send('go');
    await daemon.next((m) => m.event === 'result' && m.kind === 'claimed');
    expect(await cleanStale(paths, { pid: daemon.pid })).toMatchObject({ kind: 'changed' });
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
    expect(await cleanStale(paths, { pid: daemon.pid })).toEqual({ kind: 'removed' });
    expect(probeLiveness(paths)).toEqual({ kind: 'notRunning', lockHeld: false });
  });
});

describe('liveness', () => {
  it('lock held but no identity that matches → unverified; no pid file and no lock → notRunning', async () => {
    expect(probeLiveness(paths)).toEqual({ kind: 'notRunning', lockHeld: false });
    const holder = startAdapterChild(['hold-lock', paths.lifetimeLock, 'exclusive']);
    await holder.next((m) => m.event === 'locked');
    expect(probeLiveness(paths)).toEqual({ kind: 'unverified', pid: null, lockHeld: true });
    writeFileSync(paths.pidFile, String(holder.pid));
    expect(probeLiveness(paths)).toEqual({ kind: 'unverified', pid: holder.pid, lockHeld: true });
    const identity = identityOf(holder.pid);
    if (identity.kind !== 'alive') throw new Error('holder not alive');
    recordClaim(paths.stateFile, identity.identity, { fsync: false });
    expect(probeLiveness(paths)).toEqual({
      kind: 'running',
      pid: holder.pid,
      identity: identity.identity,
      lockHeld: true,
    });
  });

  it('a garbage state file does not break the probe: the identity is simply unknown', async () => {
    const other = await rustLike();
    writeFileSync(paths.pidFile, String(other.pid));
    writeFileSync(paths.stateFile, '{ not json');
    expect(probeLiveness(paths)).toEqual({ kind: 'unverified', pid: other.pid, lockHeld: false });
  });
});
