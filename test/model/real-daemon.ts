/**
 * The daemon machine's generated paths against a real `difflore daemon run` (dist/, with
 * clock-hook.mjs holding its tick and abort-grace timers) in a temp home: the claim and reclaim
 * against real pid files and locks, the passes against a real HTTP cloud behind a gate.
 *
 * What the test controls, and how:
 * - every claim and reclaim waits for the claim lock, held by flock(1) (a gate). While the daemon
 *   waits there the test may stop it (SIGTERM) and shape what the claim will find: a dead pid in
 *   daemon.pid (stale), a live owner (conflict: a fixture daemon from `daemon start` serving the home
 *   before this one starts, or for a reclaim a flock(1) holder of the lifetime lock taken meanwhile),
 *   daemon.pid a symlink (the claim fails), nothing (claimed). Before letting a claim through, the test moves the gate's file aside
 *   (the waiting daemon keeps its descriptor) and puts at the path what the next claim-lock user must
 *   meet: a new gate for a reclaim, a symlink for a release that must fail, or nothing;
 * - a pass that has rows to send sends them to the gate server, which holds every request until
 *   the path says the pass is done, then forwards to the reference cloud (`cloud serve`); a pass
 *   without rows ends by itself. So a STOP, WAKE or RELOAD lands mid-pass exactly when the path says;
 * - WAKE is a row the test commits, RELOAD is SIGHUP, STOP is SIGTERM, the tick is the held timer fired.
 * `planDaemon` walks a path in a model of this world and returns the test's steps, or why no such
 * world gives that path.
 */
import { readdirSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { observationPayload, TOKEN } from '../e2e/daemon-harness.js';
import { eventSignature, type ModelPath } from './harness.js';
import { type HookedCli, type LockHolder, RealHome, until } from './real-world.js';

type ClaimOutcome = 'claimed' | 'stale' | 'conflict' | 'error';

/** What stands at the claim lock's path for the next user after a claim went through. */
type NextClaimLock = 'gate' | 'symlink' | 'plain';

export type DaemonAction =
  | { readonly do: 'claim'; readonly outcome: ClaimOutcome; readonly next: NextClaimLock }
  | { readonly do: 'sigterm' }
  | { readonly do: 'sighup' }
  | { readonly do: 'enqueue' }
  | { readonly do: 'fire'; readonly what: string }
  | { readonly do: 'respond' }
  | { readonly do: 'none' };

export interface DaemonPlan {
  /** Rows queued before the daemon starts (its first pass sends them). */
  readonly rows: number;
  /** The first claim meets a live fixture daemon (`daemon start`), started before this one. */
  readonly liveDaemon: boolean;
  /** One action per path event, in order; after each the journal must have its record. */
  readonly steps: readonly DaemonAction[];
}

class NoWorld extends Error {
  constructor(
    readonly step: number,
    message: string,
  ) {
    super(message);
  }
}

const short = (event: Parameters<typeof eventSignature>[0]) =>
  eventSignature(event)
    .replace(/^xstate\.done\.actor\.(\w+)/, '$1 done')
    .replace(/^xstate\.error\.actor\.(\w+)/, '$1 error')
    .replace(/^xstate\.after\.(\w+)\..*/, 'after $1');

function claimOutcome(sig: string): ClaimOutcome | null {
  if (sig === 'claim error' || sig === 'reclaimStale error') return 'error';
  const kind = /^(?:claim|reclaimStale) done\((\w+)\)$/.exec(sig)?.[1];
  return kind === 'claimed' || kind === 'stale' || kind === 'conflict' ? kind : null;
}

/** The model of the world while walking a path. */
interface Sim {
  rows: number;
  /** The pass in flight sends rows, so the gate server holds it until the test responds. */
  held: boolean;
  /** The home was claimed: `release` has a claim lock to take. */
  claimed: boolean;
}

function simulate(path: ModelPath, initialRows: number): DaemonAction[] {
  const sim: Sim = { rows: initialRows, held: false, claimed: false };
  const sigs = path.events.map(short);
  const steps: DaemonAction[] = [];
  const startPass = () => {
    sim.held = sim.rows > 0;
  };
  for (const [i, sig] of sigs.entries()) {
    const before = path.states[i] ?? '';
    const after = path.states[i + 1] ?? '';
    const fail = (why: string): never => {
      throw new NoWorld(i, `step ${i + 1} (${sig} in ${before}): ${why}`);
    };
    const passRuns = before === 'serving.draining';
    if (passRuns && !sim.held && sig !== 'drainPass done' && sig !== 'drainPass error') {
      fail('the pass has no rows to send: it ends by itself before anything else can happen');
    }
    const outcome = claimOutcome(sig);
    if (outcome !== null) {
      // What stands at the claim lock's path next: a gate when a reclaim follows, a symlink when
      // the release must fail, otherwise nothing in the way.
      const next: NextClaimLock =
        after === 'reclaimingStale' ? 'gate' : sigs.includes('release error') ? 'symlink' : 'plain';
      steps.push({ do: 'claim', outcome, next });
      if (outcome === 'claimed') sim.claimed = true;
      if (after === 'serving.draining') startPass();
      continue;
    }
    switch (sig) {
      case 'STOP':
        steps.push({ do: 'sigterm' });
        break;
      case 'RELOAD':
        steps.push({ do: 'sighup' });
        if (before === 'serving.running') startPass();
        break;
      case 'WAKE':
        steps.push({ do: 'enqueue' });
        sim.rows += 1;
        if (before === 'serving.running') startPass();
        break;
      case 'after untilTick':
        steps.push({ do: 'fire', what: `the tick in ${before}` });
        startPass();
        break;
      case 'drainPass done':
        steps.push(sim.held ? { do: 'respond' } : { do: 'none' });
        // A pass goes on while rows are eligible: what was queued meanwhile went with it.
        sim.rows = 0;
        sim.held = false;
        if (after === 'serving.draining') startPass();
        break;
      case 'awaitAbortedPass done':
        // The STOP aborted the request in flight; the pass hands its rows back and settles by itself.
        steps.push({ do: 'none' });
        break;
      case 'release done':
        if (sigs.includes('release error')) fail('the claim lock is a symlink by now');
        steps.push({ do: 'none' });
        break;
      case 'release error':
        if (!sim.claimed) fail('nothing was claimed, so the release has nothing to fail at');
        steps.push({ do: 'none' });
        break;
      case 'drainPass error':
        fail('the outbox cannot be made to fail mid-pass from outside (root ignores permissions)');
        break;
      case 'awaitAbortedPass error':
        fail('the runtime waits for the aborted pass through a promise that never rejects');
        break;
      case 'after abortGrace':
        fail('an aborted pass settles at once (its request is aborted), never after the grace');
        break;
      default:
        fail('no real world gives this event');
    }
  }
  return steps;
}

export function planDaemon(path: ModelPath): { plan: DaemonPlan | null; reason: string | null } {
  let best: NoWorld | null = null;
  for (const rows of [0, 1]) {
    try {
      const steps = simulate(path, rows);
      const first = steps.find((s) => s.do === 'claim');
      const liveDaemon = first?.do === 'claim' && first.outcome === 'conflict';
      return { plan: { rows, liveDaemon, steps }, reason: null };
    } catch (error) {
      if (!(error instanceof NoWorld)) throw error;
      if (best === null || error.step > best.step) best = error;
    }
  }
  return { plan: null, reason: best?.message ?? 'no world' };
}

// ── the gate in front of the cloud ────────────────────────────────────────────────────────────────

/** An HTTP server that holds every request until told to forward them to the real cloud. */
export class CloudGate {
  private readonly held: { req: IncomingMessage; res: ServerResponse; body: Buffer }[] = [];
  private forwarding = false;
  private constructor(
    private readonly server: Server,
    private readonly upstream: string,
  ) {}

  static async start(upstream: string): Promise<CloudGate> {
    let gate: CloudGate | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => gate?.arrive({ req, res, body: Buffer.concat(chunks) }));
    });
    gate = new CloudGate(server, upstream);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return gate;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests waiting (an aborted one drops out when its socket closes). */
  get waiting(): number {
    return this.held.filter((h) => !h.res.destroyed && !h.req.socket.destroyed).length;
  }

  private arrive(request: { req: IncomingMessage; res: ServerResponse; body: Buffer }): void {
    if (this.forwarding) void this.forward(request);
    else this.held.push(request);
  }

  private async forward({ req, res, body }: { req: IncomingMessage; res: ServerResponse; body: Buffer }) {
    try {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length') headers[k] = v;
      }
      const answer = await fetch(`${this.upstream}${req.url ?? '/'}`, {
        method: req.method ?? 'POST',
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      const text = Buffer.from(await answer.arrayBuffer());
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    } catch {
      res.destroy();
    }
  }

  /** Forwards what waits and everything that comes until `hold`. */
  open(): void {
    this.forwarding = true;
    for (const request of this.held.splice(0)) void this.forward(request);
  }

  hold(): void {
    this.forwarding = false;
  }

  async close(): Promise<void> {
    for (const { res } of this.held.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ── running a plan ────────────────────────────────────────────────────────────────────────────────

export interface DaemonRun {
  readonly cli: HookedCli;
  readonly home: RealHome;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null };
}

function enqueue(home: RealHome, n: number, offset: number): void {
  const db = openDatabase(home.paths.db);
  try {
    new OutboxStore(db).enqueueMany(
      Array.from({ length: n }, (_, i) => ({
        kind: 'observation' as const,
        payloadJson: observationPayload(offset + i),
      })),
    );
  } finally {
    db.close();
  }
}

/** Whether `pid` has `path` open (the daemon waiting on a gate keeps its descriptor across a rename). */
function hasOpen(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

class DaemonDriver {
  private gate: LockHolder | null = null;
  /** A fixture daemon serves the home already: the first claim conflicts with it. */
  liveDaemon = false;
  private gates = 0;
  private rows = 0;

  constructor(
    private readonly home: RealHome,
    private readonly cloud: CloudGate,
    private readonly cli: () => HookedCli,
  ) {}

  async holdClaimLock(): Promise<void> {
    this.home.write(this.home.paths.claimLock, '');
    this.gate = await this.home.holdLock(this.home.paths.claimLock);
  }

  /** Shapes what the waiting claim will find, sets up the claim lock's path for the next user, lets the claim go. */
  async claim(outcome: ClaimOutcome, next: NextClaimLock): Promise<void> {
    const { paths } = this.home;
    const cli = this.cli();
    await until(() => hasOpen(cli.pid, paths.claimLock) || !cli.running, 'the daemon to wait for the claim lock');
    if (outcome === 'stale') {
      this.home.write(paths.pidFile, `${await this.home.deadPid()}\n`);
    } else if (outcome === 'conflict' && !this.liveDaemon) {
      // A reclaim's rival: it takes the lifetime lock between the claim and the reclaim.
      this.home.write(paths.lifetimeLock, '');
      await this.home.holdLock(paths.lifetimeLock);
    } else if (outcome === 'error') {
      this.home.remove(paths.pidFile);
      symlinkSync('/nonexistent-difflore-pid', paths.pidFile);
    }
    // The daemon waits on the gate's file through its own descriptor: move the file aside and the
    // path is free for what the next claim-lock user must meet.
    this.gates += 1;
    renameSync(paths.claimLock, `${paths.claimLock}.gate${this.gates}`);
    const current = this.gate;
    this.gate = null;
    if (next === 'gate') await this.holdClaimLock();
    else if (next === 'symlink') symlinkSync('/nonexistent-difflore-lock', paths.claimLock);
    await current?.release();
  }

  async act(action: DaemonAction): Promise<void> {
    const cli = this.cli();
    switch (action.do) {
      case 'claim':
        return this.claim(action.outcome, action.next);
      case 'sigterm':
        cli.child.kill('SIGTERM');
        return;
      case 'sighup':
        cli.child.kill('SIGHUP');
        return;
      case 'enqueue':
        enqueue(this.home, 1, 1000 + this.rows++);
        return;
      case 'fire':
        return cli.fire(action.what);
      case 'respond':
        this.cloud.open();
        return;
      case 'none':
        return;
    }
  }

  /** After the record of a step: a gate opened for one pass closes again. */
  settled(action: DaemonAction): void {
    if (action.do === 'respond') this.cloud.hold();
  }
}

/** The daemon's records in the journal. */
export function recordsOf(home: RealHome, pid: number) {
  return home.journal().filter((r) => r.machine === 'daemon' && r.pid === pid);
}

/**
 * Runs `daemon run` through `plan`: after each step, waits until the journal holds as many records
 * as the fake run had by then (`counts[i]`), then takes the next step.
 */
export async function runDaemonPlan(plan: DaemonPlan, counts: readonly number[], upstream: string): Promise<DaemonRun> {
  const home = new RealHome();
  const cloud = await CloudGate.start(upstream);
  let cli: HookedCli | null = null;
  const driver = new DaemonDriver(home, cloud, () => cli as HookedCli);
  try {
    if (plan.liveDaemon) {
      await home.startDaemon();
      driver.liveDaemon = true;
    }
    if (plan.rows > 0) enqueue(home, plan.rows, 0);
    await driver.holdClaimLock();
    cli = home.cli(['daemon', 'run', '--batch', '16'], {
      DIFFLORE_CLOUD_URL: cloud.url,
      DIFFLORE_CLOUD_TOKEN: TOKEN,
    });
    const started = cli;
    await until(() => recordsOf(home, started.pid).length >= 1 || !started.running, 'the daemon to start claiming');
    for (const [i, action] of plan.steps.entries()) {
      await driver.act(action);
      const want = counts[i] ?? 0;
      await until(
        () => recordsOf(home, started.pid).length >= want || !started.running,
        `record ${want} (step ${i + 1}: ${action.do})`,
      );
      driver.settled(action);
    }
    const exit = await cli.done;
    return { cli, home, exit };
  } catch (error) {
    // What the daemon did and said, for the failure message.
    const said =
      cli === null
        ? ''
        : `; journal: ${recordsOf(home, cli.pid)
            .map((r) => `${r.from}→${r.to}`)
            .join(', ')}; stderr: ${cli.stderr.slice(-2000)}`;
    await home.dispose();
    throw new Error(`${(error as Error).message}${said}`);
  } finally {
    await cloud.close();
  }
}
