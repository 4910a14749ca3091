/**
 * The composition root of the daemon (DESIGN §2): `runDaemon` builds the live daemon (`daemon run`).
 * `DaemonRuntime` implements the daemon machine's ports (machines/daemon.ts `DaemonPorts`) over files,
 * locks, signals, SQLite and HTTP, and is the sink every transition is recorded through. Nothing here
 * decides policy — when to drain, when to stop, which exit code — the machine does. What the runtime
 * keeps are handles that outlive one effect (the claim and its lifetime lock, the database, the pass in
 * flight) and the Rust state-file fields staged for the next record; the delivery breaker, the delivery
 * summary and where the token came from (`authSource`) are the machine's context, journaled and replayed with the transitions.
 * The stop protocol's root is stop-runtime.ts.
 */
import { type Actor, createActor } from 'xstate';
import { resolveCloudUrl } from '../adapters/delivery/cloud-url.js';
import type { DrainPassReport } from '../adapters/delivery/drain-pass.js';
import { checkHomeEntry } from '../adapters/home/home-files.js';
import { type HomePaths, ensureHome, resolveHome } from '../adapters/home/home.js';
import { type ClaimFinding, type Claimed, claim, reclaimStale, releaseClaim } from '../adapters/lifecycle/claim.js';
import { type DaemonLog, openDaemonLog } from '../adapters/lifecycle/daemon-log.js';
import { type LockHandle, unlock } from '../adapters/lifecycle/flock.js';
import { createRecorder, type Recorder, type RustFieldsPatch, readState } from '../adapters/lifecycle/recorder.js';
import { type ForwardedSignal, installIgnoredSignals, installSignalHandlers } from '../adapters/lifecycle/signals.js';
import { watchCommits } from '../adapters/lifecycle/wake-watcher.js';
import { type Database, openDatabase } from '../adapters/outbox/db.js';
import { leaseOwnerFor, OutboxStore } from '../adapters/outbox/outbox-store.js';
import type { DaemonInspector } from '../cli/inspect.js';
import { describeDelivery } from '../cli/delivery-text.js';
import {
  type ClaimResult,
  type DaemonContext,
  type DaemonMachine,
  type DaemonOutput,
  type DaemonPorts,
  type DaemonTag,
  type DeliveryChange,
  type DrainPassInput,
  type DrainSummary,
  provideDaemon,
  type ReclaimInput,
  type RecordPassParams,
} from '../machines/daemon.js';
import { deliveryBlocked, deliveryRecord } from '../machines/delivery-summary.js';
import type { RecordedStep } from '../machines/transition-record.js';
import type { LogLevel, LogParams, ProcessIdentity, TransitionRecord } from '../machines/types.js';
import { DiffloreError, describeError, describeErrorLine } from '../errors.js';
import { combine, recording, TokenSecrets } from './recording.js';

export interface DaemonRunConfig {
  readonly env: NodeJS.ProcessEnv;
  readonly tickMs: number;
  /** The idle sleep while the wake watcher runs (the heartbeat); default: tickMs. */
  readonly idleMs?: number;
  readonly batchSize: number;
  /** Stream to the Stately inspector at this ws:// URL; null: no inspector. */
  readonly inspectUrl: string | null;
  /** What a user watching should see (the run command passes stderr unless stderr is the daemon log). */
  readonly report?: (line: string) => void;
  /**
   * Called once, right after the first `serving` transition is recorded: the home is claimed and the
   * daemon serves (`daemon start` returns then, before the first pass has finished).
   */
  readonly onServing?: () => void;
}

/** What a pass needs: the drain pipeline, and the token sources the secrets are refreshed from. */
interface Drainer {
  readonly pipeline: typeof import('../adapters/delivery/drain-pass.js');
  readonly readCloudToken: typeof import('../adapters/delivery/cloud-config.js')['readCloudToken'];
}
type DaemonActor = Actor<DaemonMachine>;

/** What the machine's drain pass returns, built from the drainer's richer report. */
function machineSummary(
  report: DrainPassReport,
  times: { readonly startedAt: number; readonly finishedAt: number },
  store: { readonly waitingRows: () => number; readonly leaseExpiry: () => number | null },
): DrainSummary {
  const { startedAt, finishedAt } = times;
  // Rows another claimer holds (`outbox drain`, the Rust binary, a dead daemon) come back when their
  // lease expires: with commits waking us and a long idle heartbeat, that moment must wake us too.
  // Only a future expiry: an expired lease is the next claim's to take back, and a pass that could not
  // claim (the breaker is open) already names when it will try again.
  const leaseEnds = report.waitingForAuth ? null : store.leaseExpiry();
  const expiry = leaseEnds !== null && leaseEnds > finishedAt ? leaseEnds : null;
  const due = report.waitingForAuth ? null : report.nextDueAt;
  return {
    attempted: report.attempted,
    confirmed: report.confirmed,
    retried: report.retried,
    abandoned: report.abandoned,
    // The machine counts rows; the drainer says only whether delivery waits for a token.
    waitingForAuth: report.waitingForAuth ? store.waitingRows() : 0,
    // Rows handed back because the pass was aborted (released rows of a pass that went on are not).
    cancelled: report.cancelled ? report.released : 0,
    // Rows waiting for a token are not due until the token changes (the tick or a RELOAD retries);
    // reporting them as due would have the machine re-run the pass at once, over and over.
    nextDueAt: due === null ? expiry : expiry === null ? due : Math.min(due, expiry),
    lastError: report.lastError,
    startedAt,
    finishedAt,
    breaker: report.breaker,
    outcome: report.observed?.outcome ?? null,
    errorCode: report.observed?.errorCode ?? null,
    rowsWaiting: report.rowsWaiting,
    cloudUrl: report.cloudUrl,
    authSource: report.tokenSource,
  };
}

/**
 * A record that need not be synced on its own: a transition of an idle tick (into a pass, or out of
 * one that sent, handed back and failed nothing), or one on the way out, which the durable `stopped`
 * record follows within milliseconds (syncing the journal up to it).
 */
function isRoutine(transition: TransitionRecord, step: RecordedStep): boolean {
  // A change of delivery state (the cloud went away, a token was refused) is news: synced at once.
  if (deliveryStateOf(step.previous) !== deliveryStateOf(step.current)) return false;
  const was = (tag: DaemonTag): boolean => step.previous?.hasTag(tag) === true;
  const is = (tag: DaemonTag): boolean => step.current.hasTag(tag);
  if (was('idle') && is('draining')) return true;
  if (is('stopping')) return true;
  if (!was('draining') || !is('idle')) return false;
  const output = transition.event.output;
  return (
    transition.event.type === 'xstate.done.actor.drainPass' &&
    typeof output === 'object' &&
    output !== null &&
    output.attempted === 0 &&
    output.cancelled === 0
  );
}

function deliveryStateOf(snapshot: RecordedStep['current'] | undefined): string | undefined {
  return (snapshot?.context as DaemonContext | undefined)?.delivery.state;
}

interface DaemonRuntimeOptions {
  readonly paths: HomePaths;
  readonly env: NodeJS.ProcessEnv;
  readonly log: DaemonLog;
  readonly tokens: TokenSecrets;
  readonly onServing?: () => void;
}

/** The daemon machine's ports over the real home, and the sink its transitions are recorded through. */
class DaemonRuntime implements DaemonPorts {
  readonly #paths: HomePaths;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: DaemonLog;
  readonly #tokens: TokenSecrets;
  readonly #onServing: () => void;
  /**
   * The drainer, its HTTP client and the token sources (node:crypto, the Rust login's reader) are
   * needed only by the first pass: they load once the daemon serves (`#loadDrainer`), not while it
   * claims: evaluating them is CPU on the one thread the claim runs on, and `daemon start` returns
   * once the daemon serves. Null until then.
   */
  #drainer: Promise<Drainer> | null = null;
  /** Records synced to disk before the daemon goes on. */
  readonly #durable: Recorder;
  /**
   * Idle ticks (a pass that found nothing) and the steps of a stop are written and renamed into place
   * like every record, but not fsynced: six syncs every 5 s would be most of an idle daemon's cost (and
   * disk wear), and the next durable record syncs the journal up to it anyway.
   */
  readonly #routine: Recorder;
  /** Our claim, from `claim` until the lifetime lock is handed to `#lifetimeLock` on release. */
  #claimed: Claimed | null = null;
  /** This run's start time as `claim` recorded it, so a rewritten state file keeps the right uptime. */
  #claimedAt = 0;
  /** Let go as the run's last act (`letGo`): a stopper waits for it as the sign the daemon is gone (exit-wait.ts). */
  #lifetimeLock: LockHandle | null = null;
  #db: Database | null = null;
  #store: OutboxStore | null = null;
  /** The pass in flight, settled either way, so a STOP can wait for it to hand its leases back. */
  #inFlight: Promise<void> | null = null;
  /** Rust fields set by the heartbeat/recordPass actions, written with the transition they belong to. */
  #staged: RustFieldsPatch = {};
  /** Each record carries the actor's persisted snapshot; set once the actor exists. */
  #actor: DaemonActor | null = null;

  constructor(options: DaemonRuntimeOptions) {
    this.#paths = options.paths;
    this.#env = options.env;
    this.#log = options.log;
    this.#tokens = options.tokens;
    this.#onServing = options.onServing ?? (() => {});
    const recorderWith = (fsync: boolean): Recorder =>
      createRecorder(
        { stateFile: this.#paths.stateFile, journal: this.#paths.journal },
        { role: 'daemon', fsync, secrets: this.#tokens.current },
      );
    this.#durable = recorderWith(true);
    this.#routine = recorderWith(false);
  }

  /** The actor of the daemon machine over these ports, journaling every transition (and streaming it to `inspector`). */
  createActor(config: DaemonRunConfig, inspector: DaemonInspector | null): DaemonActor {
    const journal = recording(
      'daemon',
      (transition, step) => this.record(transition, step),
      (error) => this.#log.error('cannot record a transition', { error }),
      (context) => deliveryRecord((context as DaemonContext).delivery),
    );
    const idleMs = config.idleMs ?? config.tickMs;
    this.#actor = createActor(provideDaemon(this), {
      input: { tickMs: config.tickMs, idleMs, batchSize: config.batchSize },
      inspect: inspector === null ? journal : combine(journal, (event) => inspector.inspect.next?.(event)),
    });
    return this.#actor;
  }

  // ── the machine's ports ───────────────────────────────────────────────────────────────────────────

  async claim(): Promise<ClaimResult> {
    return this.#afterClaim(await claim(this.#paths));
  }

  async reclaimStale(input: ReclaimInput): Promise<ClaimResult> {
    return this.#afterClaim(await reclaimStale(this.#paths, input));
  }

  async drainPass(input: DrainPassInput, signal: AbortSignal): Promise<DrainSummary> {
    const drain = await this.#loadDrainer();
    const store = this.#store;
    if (store === null) throw new DiffloreError('internal', 'the outbox is not open');
    this.#tokens.refresh(drain.readCloudToken);
    const startedAt = Date.now();
    // The breaker is the machine's (context), closed again by a RELOAD before the pass starts.
    const pass = drain.pipeline.runDrainPass({
      store,
      paths: this.#paths,
      env: this.#env,
      signal,
      batchSize: input.batchSize,
      breaker: input.breaker,
    });
    this.#inFlight = pass.then(
      () => undefined,
      () => undefined,
    );
    const report = await pass;
    this.#logPass(input, report);
    return machineSummary(
      report,
      { startedAt, finishedAt: Date.now() },
      { waitingRows: () => store.counts().pending, leaseExpiry: () => store.nextLeaseExpiryAt() },
    );
  }

  awaitAbortedPass(): Promise<void> {
    return this.#inFlight ?? Promise.resolve();
  }

  /** Closes the database and releases the claim, keeping the lifetime lock for `letGo`. Idempotent. */
  async release(): Promise<void> {
    // A drainer never loaded opened no client.
    (await this.#drainer?.catch(() => null))?.pipeline.closeSharedCloudClient();
    try {
      this.#db?.close();
    } finally {
      this.#db = null;
      this.#store = null;
      const held = this.#claimed;
      // `#claimed` stays set until the lock is released: the transition into `releasing` (recorded
      // while this runs) is still the owner's to write into the state file.
      try {
        if (held !== null) {
          this.#lifetimeLock = held.lifetime;
          await releaseClaim(this.#paths, held, { keepLifetimeLock: true });
        }
      } finally {
        this.#claimed = null;
      }
    }
  }

  watchWakes(wake: () => void): (() => void) | null {
    if (this.#db === null) return null;
    // Our own connection: data_version then changes only for other processes' commits.
    return watchCommits({
      dbPath: this.#paths.db,
      connection: this.#db,
      onWake: wake,
      onError: (error) => this.#log.warn('wake watcher problem; the tick still drains', { error }),
    });
  }

  heartbeat(): void {
    this.#staged = { ...this.#staged, heartbeatAtMs: Date.now() };
  }

  recordPass({ summary, error }: RecordPassParams): void {
    const passFields: RustFieldsPatch =
      summary === null
        ? { lastError: error }
        : {
            lastDrainAtMs: summary.finishedAt,
            lastAttempted: summary.attempted,
            lastConfirmed: summary.confirmed,
            lastError: summary.lastError,
          };
    this.#staged = { ...this.#staged, heartbeatAtMs: summary?.finishedAt ?? Date.now(), ...passFields };
    if (error !== null) this.#log.error('drain pass failed', { error });
  }

  reportDelivery({ previous, current, authSource }: DeliveryChange): void {
    if (authSource.current !== null && authSource.current !== authSource.previous) {
      // The source, never the token: a new login or key source shows in the log once.
      this.#log.info('token source', { source: authSource.current });
    }
    if (current.state === previous.state) return;
    const said = describeDelivery(current);
    // The reason belongs in the log line: the log is where a user looks when status is gone.
    const why = current.lastError === null ? {} : { lastError: current.lastError };
    if (deliveryBlocked(current.state)) this.#log.warn(`delivery: ${said}`, { state: current.state, ...why });
    else if (deliveryBlocked(previous.state)) this.#log.info(`delivery: ${said} again`, { state: current.state });
  }

  log({ level, message }: LogParams, context: DaemonContext): void {
    const detail = level === 'info' || level === 'debug' ? null : (context.outcome?.detail ?? context.lastError);
    this.#log.log(level, message, detail === null ? {} : { detail });
  }

  // ── recording ─────────────────────────────────────────────────────────────────────────────────────

  /** The journal sink: one record per transition, synced unless routine, then `onServing` once. */
  record(transition: TransitionRecord, step: RecordedStep): void {
    const fields = this.#staged;
    this.#staged = {};
    const recorder = isRoutine(transition, step) ? this.#routine : this.#durable;
    recorder.record(transition, {
      snapshot: this.#actor?.getPersistedSnapshot(),
      delivery: (step.current.context as DaemonContext).delivery,
      tags: [...step.current.tags],
      ...this.#ownership(fields),
    });
    // Recorded first, so whoever is told can read it in the state file too.
    if (step.previous?.hasTag('serving') !== true && step.current.hasTag('serving')) {
      this.#onServing();
      void this.#loadDrainer();
    }
  }

  /** Loads the drainer once; a failure is the first pass's to report. */
  #loadDrainer(): Promise<Drainer> {
    if (this.#drainer === null) {
      this.#drainer = Promise.all([
        import('../adapters/delivery/drain-pass.js'),
        import('../adapters/delivery/cloud-config.js'),
      ]).then(([pipeline, { readCloudToken }]) => ({ pipeline, readCloudToken }));
      this.#drainer.catch(() => undefined);
    }
    return this.#drainer;
  }

  /**
   * While we hold the claim the home is ours, and each record re-asserts who we are (a state file
   * someone replaced proves it again at once). Before the claim and after the release, a state file
   * naming another daemon's run is that daemon's to write.
   */
  #ownership(fields: RustFieldsPatch): { fields: RustFieldsPatch; onlyIfPid?: number; identity?: ProcessIdentity } {
    const owner = this.#claimed;
    if (owner === null) return { fields, onlyIfPid: process.pid };
    return { fields: { ...fields, pid: owner.identity.pid, startedAtMs: this.#claimedAt }, identity: owner.identity };
  }

  /** Lets go of the lifetime lock: the run's very last act. */
  letGo(): void {
    if (this.#lifetimeLock !== null) unlock(this.#lifetimeLock);
    this.#lifetimeLock = null;
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────────

  /** After a successful claim the home is ours: open the outbox (a failure here is a fatal claim). */
  #afterClaim(result: ClaimFinding): ClaimResult {
    if (result.kind === 'stale') return { kind: 'stale', pid: result.pid, reason: result.reason };
    if (result.kind === 'conflict') return result;
    this.#claimed = result;
    const recorded = readState(this.#paths.stateFile);
    this.#claimedAt =
      recorded.kind === 'ok' && recorded.state.pid === process.pid ? recorded.state.startedAtMs : Date.now();
    this.#db = openDatabase(this.#paths.db);
    // Our leases name us, so whoever claims the home after a crash of ours can hand our rows back.
    const owner = leaseOwnerFor(result.identity);
    this.#store = new OutboxStore(this.#db, owner === null ? {} : { leaseOwner: owner });
    this.#handBackLeasesOf(this.#store, result.deadPredecessor);
    return { kind: 'claimed', identity: result.identity };
  }

  /**
   * The rows a provably dead daemon had claimed (killed mid-pass, say) go back to pending before our
   * first pass, instead of waiting out its lease. Only ever the dead predecessor's own leases: a live
   * claimer (`outbox drain`, the Rust binary) stamps other owners or none. Failing here costs only
   * the wait the lease would have cost anyway.
   */
  #handBackLeasesOf(store: OutboxStore, dead: ProcessIdentity | null): void {
    const owner = dead === null ? null : leaseOwnerFor(dead);
    if (dead === null || owner === null) return;
    try {
      const rows = store.releaseLeasesOf(owner);
      if (rows > 0) this.#log.info('handed back the rows a dead daemon had claimed', { deadPid: dead.pid, rows });
    } catch (error) {
      this.#log.warn('cannot hand back the rows a dead daemon had claimed; they return when their lease expires', {
        deadPid: dead.pid,
        error,
      });
    }
  }

  #logPass(input: DrainPassInput, report: DrainPassReport): void {
    if (report.tokenRefreshed !== null) {
      this.#log.info('the cloud refused the token; the Rust login was refreshed', { by: report.tokenRefreshed });
    }
    if (report.attempted === 0 && !report.spill?.attempted) return;
    this.#log.info('pass', {
      trigger: input.trigger,
      attempted: report.attempted,
      confirmed: report.confirmed,
      retried: report.retried,
      abandoned: report.abandoned,
      cancelled: report.cancelled,
      ...(report.lastError === null ? {} : { lastError: report.lastError }),
    });
  }
}

// ── running it ──────────────────────────────────────────────────────────────────────────────────────

/**
 * The home-files rule for what every transition writes: a daemon that cannot record would run
 * unobservable, and `daemon start` would wait for a "serving" it can never see. Refuse to start.
 */
function refuseUnrecordableHome(paths: HomePaths, log: DaemonLog): void {
  try {
    for (const file of [paths.stateFile, paths.journal, `${paths.journal}.1`]) checkHomeEntry(file);
  } catch (error) {
    log.error('cannot start: a file the daemon records to is unusable', { detail: describeErrorLine(error) });
    log.close();
    throw error;
  }
}

async function openInspector(
  url: string,
  tokens: TokenSecrets,
  log: DaemonLog,
  report: (line: string) => void,
): Promise<DaemonInspector> {
  const { startInspector } = await import('../cli/inspect.js');
  const inspector = await startInspector({
    url,
    secrets: tokens.current,
    onProblem: (message) => {
      log.warn(message);
      report(`difflore: ${message}`);
    },
  });
  log.info('streaming to the Stately inspector', { url: inspector.url });
  report(`difflore: streaming to the Stately inspector at ${inspector.url}`);
  return inspector;
}

/**
 * Signals and crashes reach the machine or the log for as long as the daemon runs; returns the
 * removal. Installed before claiming (DESIGN §3.1): a SIGTERM during start-up is a clean stop, not a
 * stale pid file (events sent before start() wait in the actor's mailbox).
 */
function installProcessHooks(actor: DaemonActor, log: DaemonLog): () => void {
  // A crash still leaves a line saying why in logs/daemon.log (Node then prints it and exits as usual).
  const onCrash = (error: Error, origin: string): void => log.error('daemon crashed', { error, origin });
  process.on('uncaughtExceptionMonitor', onCrash);
  const removeSignalHandlers = installSignalHandlers((signal: ForwardedSignal) => {
    log.info(`received ${signal}`);
    actor.send(signal === 'SIGHUP' ? { type: 'RELOAD' } : { type: 'STOP', signal });
  });
  const removeIgnoredSignals = installIgnoredSignals((signal) =>
    log.info(
      `received ${signal}: ignored (it neither stops the daemon nor opens a debugger; use difflore daemon stop)`,
    ),
  );
  return () => {
    removeSignalHandlers();
    removeIgnoredSignals();
    process.off('uncaughtExceptionMonitor', onCrash);
  };
}

function logStarting(paths: HomePaths, config: DaemonRunConfig, log: DaemonLog): void {
  let cloudUrl: string;
  try {
    cloudUrl = resolveCloudUrl(config.env);
  } catch (error) {
    cloudUrl = `invalid (${describeError(error)})`;
  }
  log.info('daemon starting', {
    home: paths.home,
    tickMs: config.tickMs,
    idleMs: config.idleMs ?? config.tickMs,
    batchSize: config.batchSize,
    cloudUrl,
    node: process.version,
  });
}

/** Runs the actor to its final state; a machine error (an effect threw where no onError exists) is a fatal exit. */
async function runToEnd(actor: DaemonActor, runtime: DaemonRuntime, log: DaemonLog): Promise<DaemonOutput> {
  const finished = new Promise<void>((resolve, reject) => {
    actor.subscribe({ complete: () => resolve(), error: (error) => reject(error) });
  });
  try {
    actor.start();
    await finished;
    return actor.getSnapshot().output ?? { exitCode: 1, reason: 'fatal', detail: 'no output', conflictPid: null };
  } catch (error) {
    // Clean up what we hold, exit failed.
    log.error('daemon machine failed', { error });
    try {
      await runtime.release();
    } catch (releaseError) {
      log.error('cleanup after the failure failed', { error: releaseError });
    }
    return { exitCode: 1, reason: 'fatal', detail: describeError(error), conflictPid: null };
  }
}

/**
 * Runs the daemon in this process until it stops; resolves with the machine's output (its
 * `exitCode` is the process's). Throws only for a bad configuration found before claiming (an
 * inspector URL, an unusable home).
 */
export async function runDaemon(config: DaemonRunConfig): Promise<DaemonOutput> {
  const paths = ensureHome(resolveHome(config.env));
  const tokens = new TokenSecrets(paths, config.env);
  const log = openDaemonLog(paths.daemonLog, { secrets: tokens.current });
  refuseUnrecordableHome(paths, log);
  const report = config.report ?? (() => {});
  const inspector = config.inspectUrl === null ? null : await openInspector(config.inspectUrl, tokens, log, report);
  const runtime = new DaemonRuntime({ paths, env: config.env, log, tokens, onServing: config.onServing });
  const actor = runtime.createActor(config, inspector);
  const removeProcessHooks = installProcessHooks(actor, log);
  logStarting(paths, config, log);
  let output: DaemonOutput;
  try {
    output = await runToEnd(actor, runtime, log);
  } finally {
    removeProcessHooks();
  }
  const level: LogLevel = output.reason === 'stopped' ? 'info' : output.reason === 'conflict' ? 'warn' : 'error';
  log.log(level, 'daemon stopped', {
    reason: output.reason,
    exitCode: output.exitCode,
    ...(output.detail === null ? {} : { detail: output.detail }),
  });
  try {
    await inspector?.close();
    log.close();
  } finally {
    runtime.letGo();
  }
  return output;
}
