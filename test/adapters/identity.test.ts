import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  asProcessIdentity,
  identityOf,
  isAlive,
  isStillAlive,
  parseProcStat,
  sameProcess,
  selfIdentity,
} from '../../src/adapters/lifecycle/process-identity.js';
import { deadPid, killAllChildren, startAdapterChild, startCommand } from './fixtures/child.js';
import { waitFor } from '../helpers/index.js';

const linux = process.platform === 'linux';
const hasPerl = spawnSync('perl', ['-e', '0']).status === 0;

afterEach(async () => {
  await killAllChildren();
});

describe('parseProcStat', () => {
  it('parses after the last ")", whatever the command name holds', () => {
    // Field 9, the kernel's flags, as a live node process has them: PF_RANDOMIZE | PF_FORKNOEXEC.
    const rest = 'S 1 2 3 4 5 4194368 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21';
    const running = { state: 'S', startTime: '987654', exiting: false };
    expect(parseProcStat(`123 (node) ${rest}`)).toEqual(running);
    expect(parseProcStat(`123 (a) (b) c ) ${rest}`)).toEqual(running);
    expect(parseProcStat(`123 (x) Z 1 2 3 4 5 4194308 7 8 9 10 11 12 13 14 15 16 17 18 55`)).toEqual({
      state: 'Z',
      startTime: '55',
      exiting: true,
    });
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x) S 1 2')).toBeUndefined();
  });

  it('tells a process inside exit_group(2) by PF_EXITING in its flags, whatever its state', () => {
    // R while the kernel frees its memory: the state alone would call it running.
    const exiting = parseProcStat('77 (node) R 1 2 3 4 5 4194372 7 8 9 10 11 12 13 14 15 16 17 18 4242 20');
    expect(exiting).toEqual({ state: 'R', startTime: '4242', exiting: true });
  });
});

describe('identity', () => {
  it.skipIf(!linux)('knows this process: boot id from /proc and start time from field 22', () => {
    const me = selfIdentity();
    expect(me.pid).toBe(process.pid);
    expect(me.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    const stat = readFileSync('/proc/self/stat', 'utf8');
    expect(me.startTime).toBe(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  });

  it('tells a live child, then the same pid after it was killed and reaped', async () => {
    const child = startAdapterChild(['bystander']);
    await child.next((m) => m.event === 'ready');
    const alive = identityOf(child.pid);
    expect(alive.kind).toBe('alive');
    if (alive.kind !== 'alive') return;
    expect(sameProcess(alive.identity)).toEqual({ kind: 'same' });
    expect(isAlive(child.pid)).toEqual({ kind: 'alive', signalable: true });

    // The same pid with another start time is a reused pid; another boot id, a reboot.
    expect(sameProcess({ ...alive.identity, startTime: `${alive.identity.startTime}1` })).toEqual({
      kind: 'different',
      reason: 'reused',
    });
    if (alive.identity.bootId !== null) {
      expect(sameProcess({ ...alive.identity, bootId: 'another-boot' })).toEqual({
        kind: 'different',
        reason: 'rebooted',
      });
    }
    expect(sameProcess(alive.identity, child.pid + 1)).toEqual({ kind: 'different', reason: 'otherPid' });
    // Without a recorded start time (a platform that has none) nothing can be proven either way.
    expect(sameProcess({ ...alive.identity, startTime: null }).kind).toBe('unknown');

    expect(isStillAlive(child.pid, alive.identity)).toEqual({ kind: 'alive', signalable: true });
    expect(isStillAlive(child.pid, null)).toEqual({ kind: 'alive', signalable: true });
    expect(isStillAlive(child.pid, { ...alive.identity, startTime: '1' })).toEqual({ kind: 'replaced' });

    child.proc.kill('SIGKILL');
    await child.exited;
    expect(isStillAlive(child.pid, alive.identity)).toEqual({ kind: 'dead', zombie: false });
    expect(identityOf(child.pid)).toEqual({ kind: 'dead', zombie: false });
    expect(isAlive(child.pid)).toEqual({ kind: 'dead', zombie: false });
    expect(sameProcess(alive.identity)).toEqual({ kind: 'different', reason: 'dead' });
  });

  it('never probes pid ≤ 1 or a non-integer', () => {
    for (const pid of [0, 1, -1, -42, 1.5, Number.NaN, 2 ** 31]) {
      expect(isAlive(pid)).toEqual({ kind: 'invalid' });
      expect(identityOf(pid).kind).toBe('unknown');
    }
    const me = selfIdentity();
    expect(sameProcess({ ...me, pid: 1 }, 1)).toEqual({ kind: 'different', reason: 'invalidPid' });
  });

  it('a reaped pid is dead', async () => {
    const pid = await deadPid();
    expect(isAlive(pid)).toEqual({ kind: 'dead', zombie: false });
  });

  it.skipIf(!linux || !hasPerl)(
    'a zombie (exited, never reaped by its parent) counts as dead although kill(pid, 0) succeeds',
    async () => {
      // perl forks a child that exits at once and never waits for it: the child stays a zombie.
      const parent = startCommand('perl', [
        '-e',
        '$| = 1; my $p = fork(); exit 0 if $p == 0; print qq({"event":"pid","pid":$p}\\n); sleep 1000;',
      ]);
      const { pid } = (await parent.next((m) => m.event === 'pid')) as unknown as { pid: number };
      await waitFor(() => parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.state === 'Z', { what: 'zombie' });
      expect(() => process.kill(pid, 0)).not.toThrow();
      // The kernel's own flags word: PF_EXITING, set when it entered exit and never cleared, against
      // the live parent's (the field and the bit parseProcStat reads, as this kernel writes them).
      expect(parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.exiting).toBe(true);
      expect(parseProcStat(readFileSync(`/proc/${parent.proc.pid}/stat`, 'utf8'))?.exiting).toBe(false);
      expect(isAlive(pid)).toEqual({ kind: 'dead', zombie: true });
      expect(identityOf(pid)).toEqual({ kind: 'dead', zombie: true });
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'EPERM is alive-but-not-ours: a process of another user probes ours and may not signal it',
    async () => {
      const bystander = startAdapterChild(['bystander']);
      await bystander.next((m) => m.event === 'ready');
      const prober = startAdapterChild(['probe', String(bystander.pid)], { uid: 65534 });
      const result = await prober.next((m) => m.event === 'probe', 'probe result');
      expect(result.alive).toEqual({ kind: 'alive', signalable: false });
      expect(result.send).toEqual({ kind: 'eperm' });
      await prober.exited;
      expect(bystander.messages.filter((m) => m.event === 'signal')).toEqual([]);
    },
  );

  it('validates identities read back from JSON', () => {
    expect(asProcessIdentity({ pid: 42, bootId: 'b', startTime: '7' })).toEqual({
      pid: 42,
      bootId: 'b',
      startTime: '7',
    });
    expect(asProcessIdentity({ pid: 42, bootId: null, startTime: null })).toEqual({
      pid: 42,
      bootId: null,
      startTime: null,
    });
    expect(asProcessIdentity({ pid: 42, bootId: null, startTime: '7' })).toEqual({
      pid: 42,
      bootId: null,
      startTime: '7',
    });
    for (const bad of [
      null,
      'x',
      {},
      { pid: 1, bootId: 'b', startTime: '7' },
      { pid: 42, bootId: 3, startTime: '7' },
      { pid: 42, bootId: 'b', startTime: '' },
    ]) {
      expect(asProcessIdentity(bad)).toBeUndefined();
    }
  });
});
