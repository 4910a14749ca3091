/**
 * The stop protocol's generated paths against real processes: `difflore daemon stop` (dist/, with
 * clock-hook.mjs) against a target process in a temp home, with real pid files, locks, signals and
 * uids.
 *
 * Planning (pure): a path says what each effect returns. Some results come from the world as it is
 * when the effect runs (probe, signal, checkAlive, cleanStale); the others are things the test does
 * at that point (fire the held poll timer, let the lifetime lock go). `planStop` searches a small
 * space of worlds — who the target is, what it does on SIGTERM, whether it can be reaped, which uid
 * runs what, the grace and kill budgets (1 ms, waited out before the test acts, or an hour: a check
 * is overdue or not whatever the scheduler does), the claim lock — for one whose results are the path's, and returns it with the
 * test's actions in order, or the reason no world gives that path.
 *
 * The world's parts (a refused stop meets a real `daemon start` daemon whose recorded identity was
 * removed; where the path goes on to signal, a fixture stands in for the daemon, whose own exit after
 * SIGTERM would race the stopper's checks):
 * - target T: `sleep` (dies on SIGTERM; SIGSTOPped until the stopper continues it), `sh` ignoring
 *   SIGTERM then `exec sleep`, or node under
 *   `setpriv --ruid` that gives up its uids on SIGTERM (so SIGTERM is permitted and SIGKILL is not);
 *   either our child (reaped when it dies) or the child of a `sleep` that never reaps it (a zombie);
 * - the lifetime lock held by flock(1) (L) while the path has the daemon hold it: the stopper's wait
 *   for the daemon's exit then ends exactly when the test lets L go;
 * - daemon.pid naming T, a dead pid, or a symlink; the identity recorded for T, or none;
 * - the claim lock: plain, a symlink (cleanStale fails), or held (H) so cleanStale waits.
 */
import { readFileSync, symlinkSync } from 'node:fs';
import { identityOf } from '../../src/adapters/lifecycle/process-identity.js';
import { recordClaim } from '../../src/adapters/lifecycle/recorder.js';
import type { ModelPath } from './harness.js';
import { eventSignature } from './harness.js';
import {
  type HookedCli,
  type LockHolder,
  NOBODY_UID,
  output,
  procState,
  RealHome,
  USER_UID,
  until,
} from './real-world.js';

const LONG_MS = 3_600_000;
/**
 * A budget spent by the first check (`--grace` must be positive): the test acts only once the clock
 * is past it (see `HookedCli.pastDeadline`), so the check that follows is overdue whatever the scheduler did.
 */
const SPENT_MS = 1;

type ProbeWorld = 'notRunning' | 'stale' | 'running' | 'unverified' | 'unverifiedDead' | 'daemon' | 'symlink';

export interface StopWorld {
  readonly probe: ProbeWorld;
  readonly force: boolean;
  /** What T does on SIGTERM: die, ignore it, or give up its uids (SIGKILL then is EPERM). */
  readonly onTerm: 'die' | 'ignore' | 'dropUid';
  /** T's parent never reaps it: dead, it stays a zombie. */
  readonly zombie: boolean;
  /** T belongs to `nobody` and the stopper runs as another user. */
  readonly foreign: boolean;
  readonly graceMs: number;
  readonly killTimeoutMs: number;
  readonly claimLock: 'plain' | 'symlink' | 'held';
}

export type StopAction =
  | { readonly do: 'fire'; readonly what: string }
  | { readonly do: 'releaseLifetime'; readonly inWaiting: boolean }
  | { readonly do: 'releaseClaimLock' }
  | { readonly do: 'killTarget' }
  | { readonly do: 'settleTarget' }
  | { readonly do: 'awaitDropped' };

export interface StopPlan {
  readonly world: StopWorld;
  readonly actions: readonly StopAction[];
}

class NoWorld extends Error {
  constructor(
    readonly step: number,
    message: string,
  ) {
    super(message);
  }
}

/** The world as the simulation sees it while walking a path. */
interface Sim {
  lifetimeHeld: boolean;
  /** T: alive, dead-but-unreaped (zombie), reaped (gone), or none (no process in this world). */
  target: 'alive' | 'zombie' | 'gone' | 'none';
  /** T changed since the last action: the test waits for it to settle before acting again. */
  unsettled: boolean;
  dropped: boolean;
  identity: boolean;
  claimHeld: boolean;
}

function probeResult(world: StopWorld, sim: Sim): string {
  switch (world.probe) {
    case 'symlink':
      return 'probe error';
    case 'notRunning':
      return 'probe done(notRunning)';
    case 'stale':
      return 'probe done(stale)';
    case 'running':
      return 'probe done(running)';
    default:
      return sim.lifetimeHeld ? 'probe done(unverified)' : 'never';
  }
}

function permitted(world: StopWorld, sim: Sim): boolean {
  return !world.foreign && !sim.dropped;
}

function signalResult(world: StopWorld, sim: Sim, signal: 'TERM' | 'KILL'): string {
  // The identity check before a signal: a process that is no longer the one probed is gone.
  if (sim.identity && sim.target !== 'alive') return 'esrch';
  if (sim.target === 'gone' || sim.target === 'none') return 'esrch';
  if (!permitted(world, sim)) return 'eperm';
  if (signal === 'KILL' || world.onTerm === 'die') {
    if (sim.target === 'alive') {
      sim.target = world.zombie ? 'zombie' : 'gone';
      sim.unsettled = true;
    }
  } else if (world.onTerm === 'dropUid') {
    sim.dropped = true;
    sim.unsettled = true;
  }
  return 'ok';
}

function aliveResult(sim: Sim): 'alive' | 'gone' {
  if (sim.target === 'alive') return 'alive';
  // A zombie whose lifetime lock is still held is a daemon on its way out (see runStop's checkAlive).
  if (sim.target === 'zombie' && sim.lifetimeHeld) return 'alive';
  return 'gone';
}

function cleanResult(world: StopWorld, sim: Sim): string {
  if (world.claimLock === 'symlink' || sim.lifetimeHeld) return 'cleanStale error';
  return 'cleanStale done';
}

/** Before a check runs: make T gone if the path wants it gone and it still lives (the test may kill its own child). */
function prepareCheck(world: StopWorld, sim: Sim, next: string | undefined, actions: StopAction[]): void {
  if (next !== 'checkAlive done(gone)' || aliveResult(sim) === 'gone') return;
  if (sim.target !== 'alive') return;
  actions.push({ do: 'killTarget' });
  sim.target = world.zombie ? 'zombie' : 'gone';
  sim.unsettled = true;
}

function settle(sim: Sim, world: StopWorld, actions: StopAction[]): void {
  if (!sim.unsettled) return;
  if (sim.dropped && world.onTerm === 'dropUid' && sim.target === 'alive') actions.push({ do: 'awaitDropped' });
  else actions.push({ do: 'settleTarget' });
  sim.unsettled = false;
}

/** The wait for the daemon's exit ends: the test lets the lifetime lock go, or it ends by itself. */
function exitSeen(
  world: StopWorld,
  sim: Sim,
  at: { readonly before: string; readonly next: string | undefined },
  actions: StopAction[],
  fail: (why: string) => never,
): void {
  const { before, next } = at;
  if (!sim.lifetimeHeld) {
    // The wait for the exit is one per run: seen once, the next one (killing) ends at once, right
    // after SIGKILL went out; deterministic only if that SIGKILL changed nothing.
    if (before !== 'killing.waiting') fail('the exit already seen ends the wait in killing.waiting, not here');
    if (sim.unsettled) fail('the check right after SIGKILL would race the kernel delivering it');
    return;
  }
  if (before.endsWith('checking') || before.endsWith('signalling')) {
    fail('the lock let go while a check or a signal runs: those settle within one macrotask, no exit is seen there');
  }
  if (before.endsWith('cleaningUp') && !sim.claimHeld) fail('cleanStale would not wait for the claim lock');
  settle(sim, world, actions);
  sim.lifetimeHeld = false;
  if (before.endsWith('waiting')) prepareCheck(world, sim, next, actions);
  settle(sim, world, actions);
  actions.push({ do: 'releaseLifetime', inWaiting: before.endsWith('waiting') });
  if (before.endsWith('cleaningUp')) {
    actions.push({ do: 'releaseClaimLock' });
    sim.claimHeld = false;
  }
}

const short = (type: string) =>
  type
    .replace(/^xstate\.done\.actor\.(\w+)/, '$1 done')
    .replace(/^xstate\.error\.actor\.(\w+)/, '$1 error')
    .replace(/^xstate\.after\.(\w+)\..*/, 'after $1');

/** Walks `path` in `world`; the test's actions, or NoWorld naming the first step this world cannot give. */
function simulate(path: ModelPath, world: StopWorld): StopAction[] {
  const actions: StopAction[] = [];
  const sim: Sim = {
    lifetimeHeld: world.probe !== 'notRunning' && world.probe !== 'stale' && world.probe !== 'symlink',
    target: world.probe === 'running' || world.probe === 'unverified' || world.probe === 'daemon' ? 'alive' : 'none',
    unsettled: false,
    dropped: false,
    identity: world.probe === 'running',
    claimHeld: world.claimLock === 'held',
  };
  const sigs = path.events.map((e) => short(eventSignature(e)));
  for (const [i, event] of path.events.entries()) {
    const sig = sigs[i] ?? '';
    const before = path.states[i] ?? '';
    const after = path.states[i + 1] ?? '';
    const next = sigs[i + 1];
    const fail = (why: string): never => {
      throw new NoWorld(i, `step ${i + 1} (${sig} in ${before}): ${why}`);
    };
    if (event.type === 'RESUME') fail('nothing sends RESUME to a real stop run');
    if (sig === 'signal error' || sig === 'checkAlive error') {
      fail('the real effect cannot fail: it sends or checks only valid pids and turns every errno into a result');
    }
    if (world.probe === 'daemon' && i > 0) {
      fail('a real daemon exits on SIGTERM on its own time: its death would race the stopper’s checks');
    }
    if (sig.startsWith('probe')) {
      if (probeResult(world, sim) !== sig) fail('the probe sees another world');
      if (!sig.includes('running') && !sig.includes('unverified')) sim.identity = false;
    } else if (sig.startsWith('cleanStale')) {
      if (sim.claimHeld) fail('cleanStale would wait out the held claim lock');
      if (cleanResult(world, sim) !== sig) fail('cleanStale meets another world');
    } else if (sig.startsWith('signal done')) {
      const result = signalResult(world, sim, before === 'terming' ? 'TERM' : 'KILL');
      if (`signal done(${result})` !== sig) fail(`the signal gets ${result}`);
    } else if (sig.startsWith('after nextPoll')) {
      if (!sim.lifetimeHeld && before.startsWith('killing')) fail('the exit already seen ends this wait at once');
      settle(sim, world, actions);
      prepareCheck(world, sim, next, actions);
      settle(sim, world, actions);
      actions.push({ do: 'fire', what: `${sig} in ${before}` });
    } else if (sig === 'awaitExit done(released)') {
      exitSeen(world, sim, { before, next }, actions, fail);
    } else if (sig.startsWith('checkAlive done')) {
      const got = aliveResult(sim);
      if (`checkAlive done(${got})` !== sig) fail(`the check finds the target ${got}`);
      if (got === 'alive') {
        const budget = before.startsWith('polling') ? world.graceMs : world.killTimeoutMs;
        const overdue = !after.endsWith('waiting');
        if (overdue !== (budget === SPENT_MS)) fail(overdue ? 'needs a spent budget' : 'needs budget left');
      }
    } else {
      fail('no real world gives this event');
    }
  }
  if (world.claimLock === 'held' && !actions.some((a) => a.do === 'releaseClaimLock')) {
    throw new NoWorld(path.events.length, 'the claim lock holder plays no part');
  }
  return actions;
}

function* worlds(force: boolean, first: ProbeWorld[]): Generator<StopWorld> {
  for (const probe of first)
    for (const onTerm of ['ignore', 'die', 'dropUid'] as const)
      for (const zombie of [false, true])
        for (const foreign of [false, true])
          for (const graceMs of [LONG_MS, SPENT_MS])
            for (const killTimeoutMs of [LONG_MS, SPENT_MS])
              for (const claimLock of ['plain', 'symlink', 'held'] as const) {
                if (foreign && onTerm === 'dropUid') continue;
                // The fixture daemon is root's and only refused: nothing about a target applies.
                if (probe === 'daemon' && (foreign || zombie || onTerm !== 'ignore')) continue;
                yield { probe, force, onTerm, zombie, foreign, graceMs, killTimeoutMs, claimLock };
              }
}

function probeWorlds(path: ModelPath): ProbeWorld[] {
  const first = path.events[0] === undefined ? '' : short(eventSignature(path.events[0]));
  if (first === 'probe error') return ['symlink'];
  const kind = /probe done\((\w+)\)/.exec(first)?.[1];
  if (kind === 'unverified') return ['daemon', 'unverified', 'unverifiedDead'];
  if (kind === 'notRunning' || kind === 'stale' || kind === 'running') return [kind];
  return [];
}

/** A world and the test's actions that make `daemon stop` take `path`, or why there is none. */
export function planStop(path: ModelPath): { plan: StopPlan | null; reason: string | null } {
  const force = (path.input as { force?: boolean }).force === true;
  let best: NoWorld | null = null;
  for (const world of worlds(force, probeWorlds(path))) {
    try {
      return { plan: { world, actions: simulate(path, world) }, reason: null };
    } catch (error) {
      if (!(error instanceof NoWorld)) throw error;
      // The world that got furthest along the path names the step no world gives.
      if (best === null || error.step > best.step) best = error;
    }
  }
  return { plan: null, reason: best?.message ?? 'no probe result' };
}

// ── running a plan ────────────────────────────────────────────────────────────────────────────────

/** T per the world: its pid, and how to wait for it. */
interface Target {
  readonly pid: number;
  readonly direct: import('node:child_process').ChildProcess | null;
}

async function line(child: import('node:child_process').ChildProcess, prefix: string): Promise<string> {
  await until(
    () =>
      output(child)
        .split('\n')
        .some((l) => l.startsWith(prefix)),
    `a fixture to print '${prefix}'`,
  );
  return (
    output(child)
      .split('\n')
      .find((l) => l.startsWith(prefix)) ?? ''
  );
}

async function spawnTarget(home: RealHome, world: StopWorld): Promise<Target> {
  const uid = world.foreign ? NOBODY_UID : undefined;
  const trap = world.onTerm === 'ignore' ? `trap '' TERM; ` : '';
  if (world.onTerm === 'dropUid') {
    const script = `process.on('SIGTERM',()=>{process.setuid(${NOBODY_UID});process.stdout.write('dropped\\n')});process.stdout.write('ready\\n');setInterval(()=>{},1<<30)`;
    const child = home.spawn('setpriv', ['--ruid', String(USER_UID), '--clear-groups', process.execPath, '-e', script]);
    await line(child, 'ready');
    return { pid: child.pid ?? 0, direct: child };
  }
  if (world.zombie) {
    // T is the background sleep; its parent becomes a sleep that never reaps it.
    const child = home.spawn('sh', ['-c', `${trap}sleep 1000000 & echo "pid $!"; exec sleep 1000000`], {
      group: true,
      ...(uid === undefined ? {} : { uid }),
    });
    const said = await line(child, 'pid ');
    return { pid: Number(said.slice(4)), direct: null };
  }
  const child = home.spawn('sh', ['-c', `${trap}exec sleep 1000000`], uid === undefined ? {} : { uid });
  // Once it runs sleep, the shell has set its trap: a SIGTERM cannot catch it half-way.
  await until(() => {
    try {
      return readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  }, 'the target to exec sleep');
  return { pid: child.pid ?? 0, direct: child };
}

/**
 * T per the world. One that dies on SIGTERM is SIGSTOPped first (a stopped daemon): SIGTERM only
 * takes effect once the stopper continues it, as it must (runStop sends SIGCONT after SIGTERM).
 */
async function startTarget(home: RealHome, world: StopWorld): Promise<Target> {
  const target = await spawnTarget(home, world);
  if (world.onTerm === 'die') {
    process.kill(target.pid, 'SIGSTOP');
    await until(() => procState(target.pid) === 'T', `target ${target.pid} to stop`);
  }
  return target;
}

export interface StopRun {
  readonly cli: HookedCli;
  readonly home: RealHome;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null };
}

async function buildWorld(home: RealHome, world: StopWorld) {
  const { paths } = home;
  let target: Target | null = null;
  let lifetime: LockHolder | null = null;
  let claim: LockHolder | null = null;
  if (world.probe === 'symlink') symlinkSync('/nonexistent-difflore-pid', paths.pidFile);
  if (world.probe === 'stale' || world.probe === 'unverifiedDead')
    home.write(paths.pidFile, `${await home.deadPid()}\n`);
  if (world.probe === 'running' || world.probe === 'unverified') {
    target = await startTarget(home, world);
    home.write(paths.pidFile, `${target.pid}\n`);
    if (world.probe === 'running') {
      const identity = identityOf(target.pid);
      if (identity.kind !== 'alive') throw new Error(`target ${target.pid} is not alive`);
      recordClaim(paths.stateFile, identity.identity, { fsync: false });
    }
  }
  if (world.probe === 'daemon') {
    // A live fixture daemon whose identity is no longer on record: nothing proves it is ours.
    await home.startDaemon();
    home.remove(paths.stateFile);
  }
  if (world.claimLock === 'symlink') symlinkSync('/nonexistent-difflore-lock', paths.claimLock);
  home.chownAll();
  if (world.probe === 'running' || world.probe === 'unverified' || world.probe === 'unverifiedDead') {
    home.write(paths.lifetimeLock, '');
    home.chownAll();
    lifetime = await home.holdLock(paths.lifetimeLock);
  }
  if (world.claimLock === 'held') {
    home.write(paths.claimLock, '');
    home.chownAll();
    claim = await home.holdLock(paths.claimLock);
  }
  return { target, lifetime, claim };
}

async function act(
  action: StopAction,
  cli: HookedCli,
  parts: Awaited<ReturnType<typeof buildWorld>>,
  flockExits: { seen: number },
): Promise<void> {
  const { target, lifetime, claim } = parts;
  switch (action.do) {
    case 'fire':
      await cli.pastDeadline(SPENT_MS);
      return cli.fire(action.what);
    case 'releaseLifetime':
      // In a waiting state the stopper must be there first (it holds the poll timer).
      if (action.inWaiting) await cli.waiting('the lock to be let go');
      await cli.pastDeadline(SPENT_MS);
      await lifetime?.release();
      // The stopper's wait for the exit (a flock(1) child) ends, and the machine has taken it.
      await until(() => cli.exits('flock') > flockExits.seen || !cli.running, 'the exit wait to end');
      flockExits.seen = cli.exits('flock');
      return;
    case 'releaseClaimLock':
      return claim?.release();
    case 'killTarget':
      // Only once the stopper waits (its SIGTERM sent): killed earlier, the probe would see it gone.
      await cli.waiting('the target to be killed');
      if (target !== null) process.kill(target.pid, 'SIGKILL');
      return settleTarget(target);
    case 'settleTarget':
      return settleTarget(target);
    case 'awaitDropped':
      if (target?.direct) {
        const child = target.direct;
        await until(() => output(child).includes('dropped'), 'the target to give up its uids');
      }
      return;
  }
}

async function settleTarget(target: Target | null): Promise<void> {
  if (target === null) return;
  // Our own child is reaped by us; a zombie's parent never reaps it.
  await until(() => {
    const state = procState(target.pid);
    return state === null || state === 'Z';
  }, `target ${target.pid} to die`);
}

/** Runs `daemon stop` through `plan`; resolves once the stopper exited. */
export async function runStopPlan(plan: StopPlan): Promise<StopRun> {
  const { world } = plan;
  const home = new RealHome(world.foreign || world.onTerm === 'dropUid' ? USER_UID : 0);
  try {
    const parts = await buildWorld(home, world);
    const args = [
      'daemon',
      'stop',
      '--json',
      '--grace',
      `${world.graceMs}ms`,
      '--kill-timeout',
      `${world.killTimeoutMs}ms`,
    ];
    const cli = home.cli(world.force ? [...args, '--force'] : args);
    const flockExits = { seen: 0 };
    for (const action of plan.actions) await act(action, cli, parts, flockExits);
    const exit = await cli.done;
    return { cli, home, exit };
  } catch (error) {
    await home.dispose();
    throw error;
  }
}
