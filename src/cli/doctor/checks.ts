/**
 * The doctor's judgement: facts in, one check per concern out, each `ok`, `warn` or `fail` with a
 * one-line detail and, for every problem, the command that fixes it. Pure (no I/O, no clock), so
 * every verdict is unit-tested from hand-made facts.
 */
import { describeTokenSource } from '../../adapters/delivery/cloud-config.js';
import type { DaemonStatusReport } from '../daemon-status.js';
import { clockTime, deliveryBlocked } from '../delivery-text.js';
import { ABANDONED_RECENT_MS, type DoctorFacts, type FileFact } from './facts.js';
import { count, formatAge, formatSize, shellPath } from './format.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  /** Stable: daemon, delivery, backlog, abandoned, spill, token, cloud_url, home, files, database. */
  readonly name: string;
  readonly status: CheckStatus;
  /** One line for people. */
  readonly detail: string;
  /** The command (or commands, `;`-separated) that fixes the problem. Absent when status is ok. */
  readonly fix?: string;
  /** Further lines under the detail (abandoned reasons, offending files). */
  readonly notes?: readonly string[];
}

/** A running daemon whose last heartbeat is older than this is probably hung (it beats at least every 60 s). */
export const HEARTBEAT_STALE_MS = 120_000;
/**
 * A sendable row still pending after this long is not getting through: a healthy daemon sends a row
 * within seconds, and a row that keeps failing has spent most of its 8 backed-off tries by then.
 */
export const BACKLOG_OLD_MS = 15 * 60_000;

const mode = (m: number): string => m.toString(8).padStart(3, '0');

export function runChecks(facts: DoctorFacts): Check[] {
  return [
    daemonCheck(facts),
    deliveryCheck(facts),
    backlogCheck(facts),
    abandonedCheck(facts),
    spillCheck(facts),
    tokenCheck(facts),
    cloudUrlCheck(facts),
    homeCheck(facts),
    filesCheck(facts),
    databaseCheck(facts),
  ];
}

/** Rows waiting to be delivered: sendable pending, in flight, and spill files not yet queued. */
function backlogOf(facts: DoctorFacts): number {
  const db = facts.database;
  const rows = db.kind === 'ok' ? Object.values(db.pendingByKind).reduce((a, b) => a + b, 0) + db.processing : 0;
  const spill = 'error' in facts.spill ? 0 : facts.spill.count;
  return rows + spill;
}

function age(facts: DoctorFacts, atMs: number): string {
  return `${formatAge(Math.max(0, facts.nowMs - atMs))} ago`;
}

function describeRunning(facts: DoctorFacts, d: DaemonStatusReport): string {
  const parts = [`running, pid ${d.pid}`];
  if (d.machineState !== null) parts.push(`state ${d.machineState}`);
  if (d.uptimeMs !== null) parts.push(`up ${formatAge(d.uptimeMs)}`);
  if (d.heartbeatAgeMs !== null) parts.push(`heartbeat ${formatAge(d.heartbeatAgeMs)} ago`);
  const p = d.lastPass;
  if (p !== null && p.atMs !== null) {
    parts.push(`last pass ${age(facts, p.atMs)} (${p.attempted} attempted, ${p.confirmed} confirmed)`);
  }
  return parts.join(', ');
}

const STALE_WHY: Readonly<Record<NonNullable<DaemonStatusReport['staleReason']>, string>> = {
  dead: 'is not running',
  zombie: 'has exited (zombie)',
  identityMismatch: 'now belongs to another process',
  invalidPid: 'is not a valid pid',
};

function daemonCheck(facts: DoctorFacts): Check {
  const d = facts.daemon;
  const backlog = backlogOf(facts);
  switch (d.status) {
    case 'unknown': {
      // The probe could not read the pid, lock or state file (a symlink, a FIFO, no permission).
      const links = facts.files.filter((f) => f.type === 'symlink' && f.mustNotBeLink);
      return {
        name: 'daemon',
        status: 'fail',
        detail: d.summary.split('\n')[0] ?? d.summary,
        fix:
          links.length > 0
            ? `rm ${links.map((f) => shellPath(f.path)).join(' ')}; difflore daemon start`
            : 'remove the file the message names (difflore recreates it), then difflore daemon start',
      };
    }
    case 'running': {
      const detail = describeRunning(facts, d);
      if (d.heartbeatAgeMs !== null && d.heartbeatAgeMs > HEARTBEAT_STALE_MS) {
        return {
          name: 'daemon',
          status: 'warn',
          detail: `${detail}: no heartbeat for ${formatAge(d.heartbeatAgeMs)}, it may be hung`,
          fix: 'difflore daemon restart',
        };
      }
      return { name: 'daemon', status: 'ok', detail };
    }
    case 'unverified':
      return {
        name: 'daemon',
        status: 'warn',
        detail:
          d.pid === null
            ? 'a daemon holds the lifetime lock but no pid file names it'
            : `pid ${d.pid} holds the pid file but cannot be verified as our daemon (the Rust daemon, or a reused pid)`,
        fix: 'difflore daemon status; if it is not a difflore daemon: difflore daemon stop --force',
      };
    case 'stale': {
      const who = d.pid === null ? 'it' : `pid ${d.pid}`;
      const why = d.staleReason === null ? 'is not our daemon' : STALE_WHY[d.staleReason];
      return {
        name: 'daemon',
        status: 'fail',
        detail: `stale pid file ${facts.paths.pidFile}: ${who} ${why}; no daemon delivers${backlog > 0 ? ` (${count(backlog, 'row')} waiting)` : ''}`,
        fix: 'difflore daemon start',
      };
    }
    case 'notRunning':
      if (backlog > 0) {
        return {
          name: 'daemon',
          status: 'warn',
          detail: `not running; ${count(backlog, 'row')} waiting to be delivered`,
          fix: 'difflore daemon start',
        };
      }
      return {
        name: 'daemon',
        status: 'ok',
        detail: 'not running (nothing queued; hooks start it when they queue work)',
      };
  }
}

/** What to do about each blocked delivery state. */
function deliveryFix(facts: DoctorFacts, state: string, url: string): string {
  const tokenPath = shellPath(facts.paths.tokenFile);
  const newToken = `difflore cloud login (the Rust login), or write a new token to ${tokenPath} (chmod 600); the daemon reads it on its next pass`;
  switch (state) {
    case 'unreachable':
      return `check the network and any proxy (curl -sI ${shellPath(url)}); if DIFFLORE_CLOUD_URL is wrong, fix it and difflore daemon restart; rows are kept and sent once the cloud is reachable`;
    case 'failing':
      return 'nothing to fix on this machine: rows are kept and retried with backoff; if it lasts, check that DIFFLORE_CLOUD_URL is the right cloud, and once it recovers difflore outbox retry sends what gave up';
    case 'auth-rejected':
      return newToken;
    case 'waiting-for-token':
      return newToken;
    default:
      return 'difflore daemon restart; the reason is in logs/daemon.log';
  }
}

/** Is the running daemon's data getting out (issue 16): fails once delivery has been blocked past the grace. */
function deliveryCheck(facts: DoctorFacts): Check {
  const d = facts.daemon.delivery;
  if (d === null) {
    const why = facts.daemon.status === 'running' ? 'the daemon has not finished a pass yet' : 'no daemon of ours runs';
    return { name: 'delivery', status: 'ok', detail: `unknown: ${why}` };
  }
  const since = d.since ?? facts.daemon.startedAtMs;
  const stuckFor = since === null ? 0 : Math.max(0, facts.nowMs - since);
  const waiting = (d.rowsWaiting ?? 0) > 0;
  const blocked = deliveryBlocked(d.state) || (d.state === 'never-tried' && waiting);
  if (!blocked) return { name: 'delivery', status: 'ok', detail: d.summary };
  if (stuckFor <= facts.deliveryGraceMs) {
    return {
      name: 'delivery',
      status: 'ok',
      detail: `${d.summary} (for ${formatAge(stuckFor)}, within the ${formatAge(facts.deliveryGraceMs)} grace)`,
    };
  }
  const url = d.cloudUrl ?? (facts.cloudUrl.ok ? facts.cloudUrl.url : 'the cloud URL');
  return {
    name: 'delivery',
    status: 'fail',
    detail: since === null ? d.summary : `${d.summary} (blocked since ${clockTime(since, facts.nowMs)})`,
    fix: deliveryFix(facts, d.state, url),
    ...(d.lastError === null ? {} : { notes: [`last error: ${d.lastError}`] }),
  };
}

/** How status and doctor name rows of a kind this version does not know. */
export function unknownKindNote(kind: string, rows: number): string {
  const name = JSON.stringify(kind).slice(1, -1);
  return `${rows} ${rows === 1 ? 'row' : 'rows'} of kind '${name}' this version does not know; a newer difflore will send them`;
}

function backlogCheck(facts: DoctorFacts): Check {
  const db = facts.database;
  if (db.kind === 'missing') return { name: 'backlog', status: 'ok', detail: 'nothing queued (no database yet)' };
  if (db.kind === 'error') return { name: 'backlog', status: 'warn', detail: 'unknown: the database cannot be read' };
  const kinds = Object.entries(db.pendingByKind);
  const sendable = kinds.reduce((n, [, c]) => n + c, 0);
  const parts: string[] = [];
  parts.push(
    sendable === 0 ? 'nothing pending' : `${sendable} pending (${kinds.map(([k, n]) => `${k} ${n}`).join(', ')})`,
  );
  if (db.processing > 0) parts.push(`${db.processing} being sent`);
  if (db.awaitingApproval > 0)
    parts.push(`${db.awaitingApproval} mined candidates awaiting approval (never sent until approved)`);
  for (const [kind, n] of Object.entries(db.unknownKinds)) parts.push(unknownKindNote(kind, n));
  let detail = parts.join('; ');
  if (db.oldestPendingAtMs !== null) detail += `; oldest queued ${age(facts, db.oldestPendingAtMs)}`;
  if (db.oldestPendingAtMs !== null && facts.nowMs - db.oldestPendingAtMs > BACKLOG_OLD_MS) {
    return {
      name: 'backlog',
      status: 'fail',
      detail: `${detail}: rows are not getting through (older than ${formatAge(BACKLOG_OLD_MS)})`,
      fix: 'difflore daemon status (why delivery is stuck); difflore outbox drain (a foreground pass that shows it)',
    };
  }
  return { name: 'backlog', status: 'ok', detail };
}

function abandonedCheck(facts: DoctorFacts): Check {
  const db = facts.database;
  if (db.kind !== 'ok' || db.abandoned === 0) {
    return { name: 'abandoned', status: 'ok', detail: 'no abandoned rows' };
  }
  const notes = db.abandonedGroups.map((g) => `${g.count}× ${g.reason} (${g.kinds.join(', ')})`);
  const shown = db.abandonedGroups.reduce((n, g) => n + g.count, 0);
  if (shown < db.abandoned) notes.push(`${db.abandoned - shown} more with other reasons`);
  // Recent losses are news (something broke today); old ones were seen before and only warn.
  const recent =
    db.abandonedRecently > 0 ? `, ${db.abandonedRecently} in the last ${formatAge(ABANDONED_RECENT_MS)}` : '';
  return {
    name: 'abandoned',
    status: db.abandonedRecently > 0 ? 'fail' : 'warn',
    detail: `${count(db.abandoned, 'row')} gave up and will not be sent again by themselves${recent}`,
    fix: 'difflore outbox list --status abandoned (why); difflore outbox retry --older-than 1d (send again once fixed) or difflore outbox purge --status abandoned (drop them)',
    notes,
  };
}

function spillCheck(facts: DoctorFacts): Check {
  const s = facts.spill;
  if ('error' in s) return { name: 'spill', status: 'warn', detail: `cannot read the spill directory: ${s.error}` };
  if (s.count === 0 && s.bad === 0) return { name: 'spill', status: 'ok', detail: 'no spill files' };
  const notes: string[] = [];
  const parts: string[] = [];
  if (s.count > 0) {
    parts.push(`${count(s.count, 'file')} (${formatSize(s.bytes)}) waiting to be queued`);
    if (s.oldestCreatedAtMs !== null) notes.push(`oldest from ${age(facts, s.oldestCreatedAtMs)}`);
    if (s.newestError !== null) notes.push(`newest error: ${s.newestError}`);
  }
  if (s.bad > 0) parts.push(`${count(s.bad, 'quarantined file')} (.bad, never replayed)`);
  const fixes: string[] = [];
  const running = facts.daemon.status === 'running' || facts.daemon.status === 'unverified';
  if (s.count > 0)
    fixes.push(running ? 'difflore outbox drain (replays them now)' : 'difflore daemon start (replays them)');
  if (s.bad > 0) {
    const dir = shellPath(s.path);
    fixes.push(`look at ${dir}/*/*.bad, then rm ${dir}/*/*.bad`);
  }
  return {
    name: 'spill',
    status: 'warn',
    detail: `${parts.join('; ')} in ${s.path}`,
    fix: fixes.join('; '),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

function tokenCheck(facts: DoctorFacts): Check {
  const t = facts.token;
  const file = facts.files.find((f) => f.path === facts.paths.tokenFile);
  const tokenPath = shellPath(facts.paths.tokenFile);
  if (facts.daemon.status === 'running' && facts.daemon.waitingForToken === true) {
    // The daemon's environment is not this shell's: what counts is what its last pass found.
    return {
      name: 'token',
      status: 'fail',
      detail: `the running daemon has no usable token: ${facts.daemon.tokenProblem ?? 'missing or refused by the cloud'}`,
      fix: `difflore cloud login (the Rust binary; the daemon reads cloud-auth.db again on every pass), or write the token to ${tokenPath} (chmod 600 ${tokenPath}); the daemon reads it again on every pass`,
    };
  }
  if (t.kind === 'token') {
    return {
      name: 'token',
      status: 'ok',
      detail:
        t.source === 'env'
          ? 'present (DIFFLORE_CLOUD_TOKEN in this environment)'
          : `present (${describeTokenSource(t.source, facts.paths)})`,
    };
  }
  if (t.kind === 'none') {
    return {
      name: 'token',
      status: 'warn',
      detail: 'no cloud token: rows wait in the outbox until there is one',
      fix: `set DIFFLORE_CLOUD_TOKEN, or write the token to ${tokenPath} and chmod 600 ${tokenPath}, or difflore cloud login (the Rust binary)`,
    };
  }
  if (/Rust login/.test(t.message)) {
    // The login is there but cannot be opened here (key, host): the message says which.
    return {
      name: 'token',
      status: 'fail',
      detail: t.message,
      fix: 'difflore cloud login (the Rust binary), or set DIFFLORE_CLOUD_TOKEN; set DIFFLORE_MASTER_KEY if the key is elsewhere',
    };
  }
  let fix = `rm ${tokenPath} and write the token again (chmod 600 ${tokenPath})`;
  if (file?.type === 'file' && (file.mode & 0o077) !== 0) fix = `chmod 600 ${tokenPath}`;
  else if (file?.type === 'symlink') fix = `rm ${tokenPath}; write the token there as a plain file (chmod 600)`;
  // The message names the file and its mode, never the token.
  return { name: 'token', status: 'fail', detail: t.message.replace(/\s*Fix: .*$/, ''), fix };
}

function cloudUrlCheck(facts: DoctorFacts): Check {
  const c = facts.cloudUrl;
  if (c.ok) {
    return {
      name: 'cloud_url',
      status: 'ok',
      detail: `${c.url}${c.configured ? ' (DIFFLORE_CLOUD_URL)' : ' (default)'}`,
    };
  }
  return {
    name: 'cloud_url',
    status: 'fail',
    detail: `${c.message} The daemon refuses it and delivers nothing.`,
    fix: 'unset DIFFLORE_CLOUD_URL (the default is https://difflore.dev/api), or set an https:// URL (plain http:// only to 127.0.0.1, localhost or [::1])',
  };
}

function homeCheck(facts: DoctorFacts): Check {
  const h = facts.home;
  const home = facts.paths.home;
  const quoted = shellPath(home);
  if (!h.exists)
    return { name: 'home', status: 'ok', detail: `${home} does not exist yet (created on first use, 0700)` };
  if (h.type === 'other') {
    return { name: 'home', status: 'fail', detail: `${home} is not a directory`, fix: `mv ${quoted} ${quoted}.old` };
  }
  if (h.foreignOwner) {
    return {
      name: 'home',
      status: 'fail',
      detail: `${home} belongs to another user`,
      fix: `sudo chown -R "$(id -u)" ${quoted}, or set DIFFLORE_HOME to a directory of your own`,
    };
  }
  const via = h.type === 'symlink' ? ` (a link to ${h.target ?? 'somewhere unreadable'})` : '';
  if ((h.mode & 0o077) !== 0) {
    return {
      name: 'home',
      status: 'fail',
      detail: `${home}${via} is mode ${mode(h.mode)}: other users can look inside; it must be 0700`,
      fix: `chmod 700 ${quoted}`,
    };
  }
  return { name: 'home', status: 'ok', detail: `${home}${via}, mode ${mode(h.mode)}` };
}

function filesCheck(facts: DoctorFacts): Check {
  const links = facts.files.filter((f) => f.type === 'symlink' && f.mustNotBeLink);
  const foreign = facts.files.filter((f) => f.foreignOwner && f.type !== 'symlink');
  const open = facts.files.filter((f) => f.type === 'file' && f.private && (f.mode & 0o077) !== 0);
  // The home-files rule (DESIGN §6): a FIFO, socket, device or directory where a file belongs is
  // refused by every command, exactly as a link is.
  const odd = facts.files.filter(
    (f) => f.type === 'other' || (f.type === 'directory') !== (f.directory === true && f.type !== 'symlink'),
  );
  const notes: string[] = [];
  const fixes: string[] = [];
  for (const f of links) notes.push(`${f.name} is a symbolic link${f.target ? ` to ${f.target}` : ''}: refused`);
  for (const f of odd) {
    const what = f.type === 'directory' ? 'a directory' : f.type === 'file' ? 'a file' : 'a FIFO, socket or device';
    notes.push(`${f.name} is ${what}: refused`);
  }
  for (const f of foreign) notes.push(`${f.name} belongs to another user`);
  for (const f of open) notes.push(`${f.name} is mode ${mode(f.mode)} (should be 600)`);
  if (links.length > 0) fixes.push(`rm ${links.map((f: FileFact) => shellPath(f.path)).join(' ')}`);
  for (const f of odd) fixes.push(`mv ${shellPath(f.path)} ${shellPath(`${f.path}.aside`)}`);
  if (foreign.length > 0) fixes.push(`sudo chown "$(id -u)" ${foreign.map((f) => shellPath(f.path)).join(' ')}`);
  if (open.length > 0) fixes.push(`chmod 600 ${open.map((f) => shellPath(f.path)).join(' ')}`);
  if (notes.length === 0) {
    const n = facts.files.length;
    return {
      name: 'files',
      status: 'ok',
      detail: n === 0 ? 'no files yet' : `${count(n, 'file')} checked: no links, private where they should be`,
    };
  }
  // A link where a pid or state file belongs stops the daemon; loose modes inside a 0700 home do not.
  const status = links.length > 0 || foreign.length > 0 || odd.length > 0 ? 'fail' : 'warn';
  const what = [
    links.length > 0 ? count(links.length, 'symbolic link') : '',
    odd.length > 0
      ? `${count(odd.length, 'entry', 'entries')} that ${odd.length === 1 ? 'is' : 'are'} not a regular file`
      : '',
    foreign.length > 0 ? `${count(foreign.length, 'file')} owned by another user` : '',
    open.length > 0 ? `${count(open.length, 'file')} readable by others` : '',
  ].filter(Boolean);
  return { name: 'files', status, detail: what.join(', '), fix: fixes.join('; '), notes };
}

function databaseCheck(facts: DoctorFacts): Check {
  const db = facts.database;
  const path = facts.paths.db;
  if (db.kind === 'missing')
    return { name: 'database', status: 'ok', detail: `${path} not created yet (nothing was ever queued)` };
  if (db.kind === 'error') {
    return {
      name: 'database',
      status: 'fail',
      detail: db.message,
      fix: db.hint ?? `mv ${shellPath(path)} ${shellPath(`${path}.broken`)} (rows spill to disk until it is recreated)`,
    };
  }
  const shared = db.sharedWithRust ? ', shared with the Rust binary' : '';
  if (db.schemaVersion === null) {
    return {
      name: 'database',
      status: 'ok',
      detail: `${path} opens; written by the Rust binary only so far (our columns are added on the first write)${shared}`,
    };
  }
  if (db.schemaVersion > db.currentSchemaVersion) {
    return {
      name: 'database',
      status: 'warn',
      detail: `${path} has schema v${db.schemaVersion}, newer than this difflore (v${db.currentSchemaVersion})`,
      fix: `upgrade difflore to a release that knows schema v${db.schemaVersion}`,
    };
  }
  const behind = db.schemaVersion < db.currentSchemaVersion ? ` (v${db.currentSchemaVersion} on the next write)` : '';
  return { name: 'database', status: 'ok', detail: `${path} opens, schema v${db.schemaVersion}${behind}${shared}` };
}
