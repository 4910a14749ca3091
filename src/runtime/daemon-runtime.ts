/**
 * The composition root (DESIGN §2): the one place where the adapters are wired into the machines.
 * `runDaemon` builds the live daemon (`daemon run`), `runStop` the stop protocol (`daemon stop`).
 * Nothing here decides policy — when to drain, when to escalate, which exit code — the machines do;
 * this module only connects their named effects to files, locks, signals, SQLite and HTTP, records
 * every transition through `transitionRecorder`, and keeps the few handles that outlive one effect
 * (the lifetime lock, the database, the pass in flight). The delivery breaker and the delivery summary
 * are the machine's context, not handles here: they are journaled and replayed with the transitions.
 *
 * Heavy modules (the database, the drain pass and its HTTP client, the wake watcher, the inspector,
 * the claim protocol, the daemon machine) load inside `runDaemon`, so `daemon stop` pays only for
 * xstate, the stop machine and the probes.
 */
import { createActor, type InspectionEvent, type Observer } from 'xstate';
import type { Claimed, ClaimFinding } from '../adapters/lifecycle/claim.js';
import { seenLoginSecrets } from '../adapters/auth/login-memory.js';
import { type DaemonLog, openDaemonLog } from '../adapters/lifecycle/daemon-log.js';
import { checkHomeEntry } from '../adapters/home/home-files.js';
import { type HomePaths, ensureHome, homePaths, resolveHome } from '../adapters/home/home.js';
import { probeLock, unlock } from '../adapters/lifecycle/flock.js';
import { probeLiveness } from '../adapters/lifecycle/liveness.js';
import { readPidFile } from '../adapters/lifecycle/pid-file.js';
import { isStillAlive, sameProcess } from '../adapters/lifecycle/process-identity.js';
import {
  createRecorder,
  preloadWriter,
  type Recorder,
  type RustFieldsPatch,
  readState,
} from '../adapters/lifecycle/recorder.js';
import {
  type ForwardedSignal,
  installIgnoredSignals,
  installSignalHandlers,
  sendSignal,
} from '../adapters/lifecycle/signals.js';
import type { ClaimResult, DaemonOutput, DaemonPorts, DaemonTag, DrainSummary } from '../machines/daemon.js';
import { type RecordedStep, transitionRecorder } from '../machines/transition-record.js';
import { provideStop, type StopOutput, type StopPorts } from '../machines/stop.js';
import type { LogLevel, MachineName, ProcessIdentity, RecordedObject, TransitionRecord } from '../machines/types.js';
import { DiffloreError, describeError, describeErrorLine } from '../errors.js';

// ── shared wiring ─────────────────────────────────────────────────────────────────────────────────

/**
 * The secrets to scrub from logs, journal, state file and inspector frames: every cloud token this
 * process has seen (the environment, the token file, the Rust login), so an old token stays scrubbed after a
 * change. Re-read before each pass, as the drainer re-reads it.
 */
function tokenSecrets(
  paths: HomePaths,
  env: NodeJS.ProcessEnv,
  read: typeof import('../adapters/delivery/cloud-config.js').readCloudToken,
) {
  const seen = new Set<string>();
  const refresh = (): void => {
    const fromEnv = env.DIFFLORE_CLOUD_TOKEN?.trim();
    if (fromEnv) seen.add(fromEnv);
    try {
      const token = read(paths, env);
      if (token.kind === 'token') seen.add(token.token);
    } catch {
      // An unreadable token file is the drainer's to report.
    }
  };
  refresh();
  // The Rust login's tokens (and refreshed ones) are remembered where they are read.
  return { refresh, current: (): string[] => [...seen, ...seenLoginSecrets()] };
}

/** The inspect callback that journals the root machine's transitions; recorder failures are logged, never thrown into XState. */
function recording(
  machine: MachineName,
  sink: (transition: TransitionRecord, step: RecordedStep) => void,
  onError: (error: unknown) => void,
  delivery?: (context: unknown) => RecordedObject | null,
): (event: InspectionEvent) => void {
  const options = { pid: process.pid, now: Date.now, ...(delivery === undefined ? {} : { delivery }) };
  const record = transitionRecorder(machine, options, (transition, step) => {
    try {
      sink(transition, step);
    } catch (error) {
      onError(error);
    }
  });
  return record;
}

/**
 * A record that need not be synced on its own: a transition of an idle tick (into a pass, or out of
 * one that sent, handed back and failed nothing), or one on the way out, which the durable `stopped`
 * record follows within milliseconds (syncing the journal up to it).
 */
function isRoutine(transition: TransitionRecord, step: RecordedStep, deliveryChanged: boolean): boolean {
  // A change of delivery state (the cloud went away, a token was refused) is news: synced at once.
  if (deliveryChanged) return false;
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

function combine(...observers: ((event: InspectionEvent) => void)[]): Observer<InspectionEvent> {
  return {
    next: (event) => {
      for (const observe of observers) observe(event);
    },
  };
}

// ── the daemon ────────────────────────────────────────────────────────────────────────────────────

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

/** What the machine's drain pass returns, built from the drainer's richer summary. */
function machineSummary(
  summary: import('../adapters/delivery/drain-pass.js').DrainPassReport,
  startedAt: number,
  finishedAt: number,
  waitingRows: () => number,
  leaseExpiry: () => number | null,
): DrainSummary {
  // Rows another claimer holds (`outbox drain`, the Rust binary, a dead daemon) come back when their
  // lease expires: with commits waking us and a long idle heartbeat, that moment must wake us too.
  // Only a future expiry: an expired lease is the next claim's to take back, and a pass that could not
  // claim (the breaker is open) already names when it will try again.
  const leaseEnds = summary.waitingForAuth ? null : leaseExpiry();
  const expiry = leaseEnds !== null && leaseEnds > finishedAt ? leaseEnds : null;
  const due = summary.waitingForAuth ? null : summary.nextDueAt;
  const nextDueAt = due === null ? expiry : expiry === null ? due : Math.min(due, expiry);
  return {
    attempted: summary.attempted,
    confirmed: summary.confirmed,
    retried: summary.retried,
    abandoned: summary.abandoned,
    // The machine counts rows; the drainer says only whether delivery waits for a token.
    waitingForAuth: summary.waitingForAuth ? waitingRows() : 0,
    // Rows handed back because the pass was aborted (released rows of a pass that went on are not).
    cancelled: summary.cancelled ? summary.released : 0,
    // Rows waiting for a token are not due until the token changes (the tick or a RELOAD retries);
    // reporting them as due would have the machine re-run the pass at once, over and over.
    nextDueAt,
    lastError: summary.lastError,
    startedAt,
    finishedAt,
    breaker: summary.breaker,
    outcome: summary.observed?.outcome ?? null,
    errorCode: summary.observed?.errorCode ?? null,
    rowsWaiting: summary.rowsWaiting,
    cloudUrl: summary.cloudUrl,
  };
}

/**
 * Runs the daemon in this process until it stops; resolves with the machine's output (its
 * `exitCode` is the process's). Throws only for a bad configuration found before claiming (an
 * inspector URL, an unusable home).
 */
export async function runDaemon(config: DaemonRunConfig): Promise<DaemonOutput> {
  const { env } = config;
  const paths = ensureHome(resolveHome(env));
  const [
    { readCloudToken, resolveCloudUrl },
    { openDatabase },
    { OutboxStore, leaseOwnerFor },
    { watchCommits },
    { describeDelivery, deliveryBlocked },
    { deliveryRecord },
    { claim, reclaimStale, releaseClaim },
    { provideDaemon },
  ] = await Promise.all([
    import('../adapters/delivery/cloud-config.js'),
    import('../adapters/outbox/db.js'),
    import('../adapters/outbox/outbox-store.js'),
    import('../adapters/lifecycle/wake-watcher.js'),
    import('../cli/delivery-text.js'),
    import('../machines/delivery-summary.js'),
    import('../adapters/lifecycle/claim.js'),
    import('../machines/daemon.js'),
  ]);
  // The drainer and its HTTP client are needed only by the first pass: they load while the home is
  // claimed, so `daemon start` (which returns once the daemon serves) does not wait for them.
  const draining = import('../adapters/delivery/drain-pass.js');
  draining.catch(() => undefined);
  const tokens = tokenSecrets(paths, env, readCloudToken);
  const log = openDaemonLog(paths.daemonLog, { secrets: tokens.current });
  const report = config.report ?? (() => {});
  // The home-files rule for what every transition writes: a daemon that cannot record would run
  // unobservable, and `daemon start` would wait for a "serving" it can never see. Refuse to start.
  try {
    for (const file of [paths.stateFile, paths.journal, `${paths.journal}.1`]) checkHomeEntry(file);
  } catch (error) {
    log.error('cannot start: a file the daemon records to is unusable', { detail: describeErrorLine(error) });
    log.close();
    throw error;
  }

  let inspector: import('../cli/inspect.js').DaemonInspector | null = null;
  if (config.inspectUrl !== null) {
    const { startInspector } = await import('../cli/inspect.js');
    inspector = await startInspector({
      url: config.inspectUrl,
      secrets: tokens.current,
      onProblem: (message) => {
        log.warn(message);
        report(`difflore: ${message}`);
      },
    });
    log.info('streaming to the Stately inspector', { url: inspector.url });
    report(`difflore: streaming to the Stately inspector at ${inspector.url}`);
  }

  const recorderWith = (fsync: boolean): Recorder =>
    createRecorder(
      { stateFile: paths.stateFile, journal: paths.journal },
      { role: 'daemon', fsync, secrets: tokens.current },
    );
  const durable = recorderWith(true);
  // Idle ticks (a pass that found nothing) and the steps of a stop are written and renamed into
  // place like every record, but not fsynced: six syncs every 5 s would be most of an idle daemon's
  // cost (and disk wear), and the next durable record syncs the journal up to it anyway.
  const routine = recorderWith(false);

  // Handles that outlive one effect.
  let claimed: Claimed | null = null;
  /** Let go as runDaemon's last act: a stopper waits for it as the sign the daemon is gone (exit-wait.ts). */
  let lifetimeLock: import('../adapters/lifecycle/flock.js').LockHandle | null = null;
  let claimedAt = 0;
  let db: import('../adapters/outbox/db.js').Database | null = null;
  let store: import('../adapters/outbox/outbox-store.js').OutboxStore | null = null;
  let inFlight: Promise<void> | null = null;
  /** Rust fields set by the heartbeat/recordPass actions, written with the transition they belong to. */
  let pendingFields: RustFieldsPatch = {};

  /**
   * The rows a provably dead daemon had claimed (killed mid-pass, say) go back to pending before our
   * first pass, instead of waiting out its lease. Only ever the dead predecessor's own leases: a live
   * claimer (`outbox drain`, the Rust binary) stamps other owners or none. Failing here costs only
   * the wait the lease would have cost anyway.
   */
  const handBackLeasesOf = (
    current: import('../adapters/outbox/outbox-store.js').OutboxStore,
    dead: ProcessIdentity | null,
  ): void => {
    const owner = dead === null ? null : leaseOwnerFor(dead);
    if (dead === null || owner === null) return;
    try {
      const rows = current.releaseLeasesOf(owner);
      if (rows > 0) log.info('handed back the rows a dead daemon had claimed', { deadPid: dead.pid, rows });
    } catch (error) {
      log.warn('cannot hand back the rows a dead daemon had claimed; they return when their lease expires', {
        deadPid: dead.pid,
        error,
      });
    }
  };

  /** After a successful claim the home is ours: open the outbox (a failure here is a fatal claim). */
  const afterClaim = (result: ClaimFinding): ClaimResult => {
    if (result.kind === 'stale') return { kind: 'stale', pid: result.pid, reason: result.reason };
    if (result.kind === 'conflict') return result;
    claimed = result;
    // The start time `claim` just recorded; kept so a rewritten state file keeps the right uptime.
    const recorded = readState(paths.stateFile);
    claimedAt = recorded.kind === 'ok' && recorded.state.pid === process.pid ? recorded.state.startedAtMs : Date.now();
    db = openDatabase(paths.db);
    // Our leases name us, so whoever claims the home after a crash of ours can hand our rows back.
    const owner = leaseOwnerFor(result.identity);
    store = new OutboxStore(db, owner === null ? {} : { leaseOwner: owner });
    handBackLeasesOf(store, result.deadPredecessor);
    return { kind: 'claimed', identity: result.identity };
  };

  /** The token source of the last pass, to log a change once. */
  let tokenSource: string | null = null;

  const ports: DaemonPorts = {
    claim: async () => afterClaim(await claim(paths)),
    reclaimStale: async (input) => afterClaim(await reclaimStale(paths, input)),
    async drainPass(input, signal) {
      const drain = await draining;
      const current = store;
      if (current === null) throw new DiffloreError('internal', 'the outbox is not open');
      tokens.refresh();
      const startedAt = Date.now();
      // The breaker is the machine's (context), closed again by a RELOAD before the pass starts.
      const pass = drain.runDrainPass({
        store: current,
        paths,
        env,
        signal,
        batchSize: input.batchSize,
        breaker: input.breaker,
      });
      inFlight = pass.then(
        () => undefined,
        () => undefined,
      );
      const summary = await pass;
      if (summary.tokenSource !== null && summary.tokenSource !== tokenSource) {
        // The source, never the token: a new login or key source shows in the log once.
        tokenSource = summary.tokenSource;
        log.info('token source', { source: tokenSource });
      }
      if (summary.tokenRefreshed !== null) {
        log.info('the cloud refused the token; the Rust login was refreshed', { by: summary.tokenRefreshed });
      }
      if (summary.attempted > 0 || summary.spill?.attempted) {
        log.info('pass', {
          trigger: input.trigger,
          attempted: summary.attempted,
          confirmed: summary.confirmed,
          retried: summary.retried,
          abandoned: summary.abandoned,
          cancelled: summary.cancelled,
          ...(summary.lastError === null ? {} : { lastError: summary.lastError }),
        });
      }
      return machineSummary(
        summary,
        startedAt,
        Date.now(),
        () => current.counts().pending,
        () => current.nextLeaseExpiryAt(),
      );
    },
    awaitAbortedPass: () => inFlight ?? Promise.resolve(),
    async release() {
      (await draining.catch(() => null))?.closeSharedCloudClient();
      try {
        if (db !== null) db.close();
      } finally {
        db = null;
        store = null;
        const held = claimed;
        // `claimed` stays set until the lock is released: the transition into `releasing` (recorded
        // while this runs) is still the owner's to write into the state file.
        try {
          if (held !== null) {
            lifetimeLock = held.lifetime;
            await releaseClaim(paths, held, { keepLifetimeLock: true });
          }
        } finally {
          claimed = null;
        }
      }
    },
    watchWakes(wake) {
      if (db === null) return null;
      // Our own connection: data_version then changes only for other processes' commits.
      return watchCommits({
        dbPath: paths.db,
        connection: db,
        onWake: wake,
        onError: (error) => log.warn('wake watcher problem; the tick still drains', { error }),
      });
    },
    heartbeat() {
      pendingFields = { ...pendingFields, heartbeatAtMs: Date.now() };
    },
    recordPass({ summary, error }) {
      const at = summary?.finishedAt ?? Date.now();
      pendingFields = {
        ...pendingFields,
        heartbeatAtMs: at,
        ...(summary === null
          ? { lastError: error }
          : {
              lastDrainAtMs: summary.finishedAt,
              lastAttempted: summary.attempted,
              lastConfirmed: summary.confirmed,
              lastError: summary.lastError,
            }),
      };
      if (error !== null) log.error('drain pass failed', { error });
    },
    reportDelivery({ previous, current }) {
      if (current.state === previous.state) return;
      const said = describeDelivery(current);
      // The reason belongs in the log line: the log is where a user looks when status is gone.
      const why = current.lastError === null ? {} : { lastError: current.lastError };
      if (deliveryBlocked(current.state)) log.warn(`delivery: ${said}`, { state: current.state, ...why });
      else if (deliveryBlocked(previous.state)) log.info(`delivery: ${said} again`, { state: current.state });
    },
    log({ level, message }, context) {
      const detail = level === 'info' || level === 'debug' ? null : (context.outcome?.detail ?? context.lastError);
      log.log(level, message, detail === null ? {} : { detail });
    },
  };

  const machine = provideDaemon(ports);
  /** The delivery state the journal last recorded: a record that changes it is synced at once. */
  let recordedDeliveryState: unknown;
  let announced = false;
  let actor: ReturnType<typeof createActor<typeof machine>> | undefined;
  const journal = recording(
    'daemon',
    (transition, step) => {
      const fields = pendingFields;
      pendingFields = {};
      const owner = claimed;
      const deliveryState = transition.delivery?.state;
      const deliveryChanged = deliveryState !== undefined && deliveryState !== recordedDeliveryState;
      if (deliveryState !== undefined) recordedDeliveryState = deliveryState;
      (isRoutine(transition, step, deliveryChanged) ? routine : durable).record(transition, {
        snapshot: actor?.getPersistedSnapshot(),
        fields,
        ...(actor === undefined ? {} : { delivery: actor.getSnapshot().context.delivery }),
        // While we hold the lifetime lock the home is ours, and each record re-asserts who we are
        // (a state file someone replaced proves it again at once). Before the claim and after the
        // release, a state file naming another daemon's run is that daemon's to write.
        ...(owner === null
          ? { onlyIfPid: process.pid }
          : {
              fields: { ...fields, pid: owner.identity.pid, startedAtMs: claimedAt },
              identity: owner.identity,
            }),
      });
      if (!announced && step.current.hasTag('serving')) {
        // Recorded first, so whoever is told can read it in the state file too.
        announced = true;
        config.onServing?.();
      }
    },
    (error) => log.error('cannot record a transition', { error }),
    (context) => deliveryRecord((context as { delivery: Parameters<typeof deliveryRecord>[0] }).delivery),
  );
  actor = createActor(machine, {
    input: { tickMs: config.tickMs, idleMs: config.idleMs ?? config.tickMs, batchSize: config.batchSize },
    inspect: inspector === null ? journal : combine(journal, (event) => inspector?.inspect.next?.(event)),
  });
  const running = actor;

  // Before claiming (DESIGN §3.1): a SIGTERM during start-up is a clean stop, not a stale pid file.
  // Events sent before start() wait in the actor's mailbox.
  // A crash still leaves a line saying why in logs/daemon.log (Node then prints it and exits as usual).
  const onCrash = (error: Error, origin: string): void => log.error('daemon crashed', { error, origin });
  process.on('uncaughtExceptionMonitor', onCrash);
  const removeSignalHandlers = installSignalHandlers((signal: ForwardedSignal) => {
    log.info(`received ${signal}`);
    running.send(signal === 'SIGHUP' ? { type: 'RELOAD' } : { type: 'STOP', signal });
  });
  const removeIgnoredSignals = installIgnoredSignals((signal) =>
    log.info(
      `received ${signal}: ignored (it neither stops the daemon nor opens a debugger; use difflore daemon stop)`,
    ),
  );
  const finished = new Promise<void>((resolve, reject) => {
    running.subscribe({ complete: () => resolve(), error: (error) => reject(error) });
  });
  let cloudUrl: string;
  try {
    cloudUrl = resolveCloudUrl(env);
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

  let output: DaemonOutput;
  try {
    running.start();
    await finished;
    output = running.getSnapshot().output ?? { exitCode: 1, reason: 'fatal', detail: 'no output', conflictPid: null };
  } catch (error) {
    // A machine error (an effect threw where no onError exists): clean up what we hold, exit failed.
    log.error('daemon machine failed', { error });
    try {
      await ports.release({ reason: 'fatal' });
    } catch (releaseError) {
      log.error('cleanup after the failure failed', { error: releaseError });
    }
    output = { exitCode: 1, reason: 'fatal', detail: describeError(error), conflictPid: null };
  } finally {
    removeSignalHandlers();
    removeIgnoredSignals();
    process.off('uncaughtExceptionMonitor', onCrash);
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
    if (lifetimeLock !== null) unlock(lifetimeLock);
  }
  return output;
}

// ── the stop protocol ─────────────────────────────────────────────────────────────────────────────

/** How long a stop run's records may wait to be written: a long grace period still shows up as it goes. */
const RECORDS_HELD_MS = 1_000;

export interface StopRunConfig {
  readonly env: NodeJS.ProcessEnv;
  readonly graceMs: number;
  readonly killTimeoutMs: number;
  readonly force: boolean;
  /** The machine's log actions (progress an operator should see, e.g. the SIGKILL escalation). */
  readonly onLog?: (level: LogLevel, message: string) => void;
}

export interface StopRunResult {
  readonly output: StopOutput;
  /** The home the protocol ran against. */
  readonly home: string;
}

/** Runs the stop protocol once; resolves with the machine's output (its `exitCode` is the command's). */
export async function runStop(config: StopRunConfig): Promise<StopRunResult> {
  const paths = homePaths(resolveHome(config.env));
  // A home that does not exist holds no daemon, and nothing needs recording in it.
  const { existsSync } = await import('node:fs');
  const homeExists = existsSync(paths.home);
  let identity: ProcessIdentity | null = null;
  let log: DaemonLog | null = null;
  const daemonLog = (): DaemonLog | null => {
    if (!homeExists) return null;
    try {
      log ??= openDaemonLog(paths.daemonLog, { secrets: () => [config.env.DIFFLORE_CLOUD_TOKEN] });
    } catch {
      return null;
    }
    return log;
  };

  const stillHoldsHome = (pid: number): boolean => {
    try {
      if (probeLock(paths.lifetimeLock, 'shared').kind !== 'held') return false;
      const named = readPidFile(paths.pidFile);
      return named.kind === 'pid' && named.pid === pid;
    } catch {
      return false;
    }
  };

  /** One wait for the daemon's death per run (exit-wait.ts), loaded only once a signal goes out. */
  let exits: Promise<import('../adapters/lifecycle/exit-wait.js').ExitWaiter> | null = null;
  const waitForExit = (): Promise<import('../machines/stop.js').ExitHint> => {
    exits ??= import('../adapters/lifecycle/exit-wait.js').then(({ exitWaiter }) => exitWaiter(paths.lifetimeLock));
    return exits.then((waiter) => waiter.wait());
  };
  const ports: StopPorts = {
    async probe() {
      const found = probeLiveness(paths);
      switch (found.kind) {
        case 'notRunning':
          return { kind: 'notRunning' };
        case 'stale':
          return { kind: 'stale', pid: found.pid };
        case 'running':
          identity = found.identity;
          return { kind: 'running', pid: found.pid, verified: true };
        case 'unverified':
          return { kind: 'unverified', pid: found.pid };
      }
    },
    async cleanStale(input) {
      // Only a stale pid file needs the claim protocol's cleanup; a plain stop does not load it.
      const { cleanStale } = await import('../adapters/lifecycle/claim.js');
      const result = await cleanStale(paths, input);
      if (result.kind === 'changed' && result.now.kind === 'conflict') {
        const who = result.now.pid === null ? 'a daemon' : `a daemon (pid ${result.now.pid})`;
        throw new DiffloreError('conflict', `${who} started while the stale pid file was being removed`);
      }
    },
    async signal({ pid, signal }) {
      // The process probed must still be the one signalled: a pid that died and was reused in
      // between is gone as far as this protocol is concerned.
      if (identity !== null && sameProcess(identity, pid).kind === 'different') return { kind: 'esrch' };
      // The wait for its death starts before the signal: a daemon exits in about the time it takes
      // to load and spawn the waiter.
      if (signal === 'SIGTERM') void waitForExit();
      const sent = sendSignal(pid, signal);
      // As systemd does: a SIGSTOPped daemon cannot act on SIGTERM until it is continued, and would
      // otherwise sit out the whole grace period before being killed. SIGCONT is harmless otherwise.
      if (sent.kind === 'ok' && signal === 'SIGTERM') sendSignal(pid, 'SIGCONT');
      if (sent.kind === 'ok') {
        daemonLog()?.info(`daemon stop sent ${signal}`, { target: pid });
        // The outcome record needs the state-file writer: load it while the daemon exits.
        if (homeExists) setImmediate(preloadWriter);
        return { kind: 'ok', at: Date.now() };
      }
      if (sent.kind === 'refused')
        throw new DiffloreError('internal', `refusing to signal pid ${pid}: not a valid pid`);
      return sent;
    },
    async checkAlive({ pid }) {
      const found = isStillAlive(pid, identity);
      // A killed daemon's main thread shows as a zombie while its other threads are still exiting
      // with its files, and so its lifetime lock, open: it is gone once that lock is free (or the
      // pid file names someone else), so that cleaning up after SIGKILL finds the home released.
      const exiting = found.kind === 'dead' && found.zombie && stillHoldsHome(pid);
      return { alive: found.kind === 'alive' || exiting, at: Date.now() };
    },
    awaitExit: () => waitForExit(),
    log({ level, message }) {
      daemonLog()?.log(level, `daemon stop: ${message}`);
      config.onLog?.(level, message);
    },
  };

  // A stop run's records are held back and written together with its outcome, in one durable
  // write (one journal append, one state-file rewrite, one lock), not one by one: a stopper writing
  // a record per step would cost more than the rest of the run, and while the daemon exits it
  // needs the state lock for its own last records. Records are held at most RECORDS_HELD_MS, so a
  // long grace period still shows up as it goes.
  const recorderWith = (fsync: boolean): Recorder | null =>
    homeExists
      ? createRecorder(
          { stateFile: paths.stateFile, journal: paths.journal },
          { role: 'stop', fsync, secrets: () => [config.env.DIFFLORE_CLOUD_TOKEN] },
        )
      : null;
  const progress = recorderWith(false);
  const outcome = recorderWith(true);
  const problems: unknown[] = [];
  const held: TransitionRecord[] = [];
  let heldSince = 0;
  const flush = (recorder: Recorder | null): void => {
    const batch = held.splice(0);
    try {
      recorder?.recordAll(batch);
    } catch (error) {
      problems.push(error);
    }
  };
  const journal = recording(
    'stop',
    (transition) => {
      if (held.length === 0) heldSince = Date.now();
      held.push(transition);
      if (Date.now() - heldSince >= RECORDS_HELD_MS) flush(progress);
    },
    (error) => problems.push(error),
  );
  const stopper = createActor(provideStop(ports), {
    input: { graceMs: config.graceMs, killTimeoutMs: config.killTimeoutMs, force: config.force },
    inspect: journal,
  });
  const finished = new Promise<void>((resolve, reject) => {
    stopper.subscribe({ complete: () => resolve(), error: (error) => reject(error) });
  });
  try {
    stopper.start();
    await finished;
  } finally {
    // The outcome and everything held before it, synced.
    flush(outcome);
    // A wait still under way (the target would not die) must not outlive the run.
    const started = exits as Promise<import('../adapters/lifecycle/exit-wait.js').ExitWaiter> | null;
    (await started)?.cancel();
  }
  const output = stopper.getSnapshot().output as StopOutput;
  const logged = daemonLog();
  if (problems.length > 0) logged?.warn('daemon stop could not record its run', { error: problems[0] });
  logged?.log(output.exitCode === 0 ? 'info' : 'warn', `daemon stop: ${output.outcome}`, {
    target: output.pid,
    ...(output.detail === null ? {} : { detail: output.detail }),
  });
  logged?.close();
  return { output, home: paths.home };
}
