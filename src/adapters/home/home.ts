/**
 * The data home (`DIFFLORE_HOME`, default `~/.difflore`) and the names of every file in it.
 * Owns: resolving the home, creating it 0700, and refusing a home owned by another user (the rule
 * for every file inside is in home-files.ts).
 * Light on purpose: the hook path imports it.
 */
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DiffloreError } from '../../errors.js';
import { checkHomeOwner } from './home-files.js';

export interface HomePaths {
  readonly home: string;
  readonly db: string;
  readonly pidFile: string;
  readonly claimLock: string;
  readonly lifetimeLock: string;
  readonly stateFile: string;
  readonly journal: string;
  readonly drainState: string;
  readonly spillDir: string;
  /** Observations spill here, in the Rust format, where the Rust binary replays them too. */
  readonly observationSpillDir: string;
  /** Every other kind spills here: a sibling the Rust binary does not read. */
  readonly otherSpillDir: string;
  readonly logsDir: string;
  readonly daemonLog: string;
  readonly tokenFile: string;
}

export function homePaths(home: string): HomePaths {
  const spillDir = join(home, 'hook-spill');
  const logsDir = join(home, 'logs');
  return {
    home,
    db: join(home, 'data.db'),
    pidFile: join(home, 'daemon.pid'),
    claimLock: join(home, 'daemon.pid.lock'),
    lifetimeLock: join(home, 'daemon.lock'),
    stateFile: join(home, 'daemon-state.json'),
    journal: join(home, 'daemon-journal.jsonl'),
    drainState: join(home, 'outbox-drain-state.json'),
    spillDir,
    observationSpillDir: join(spillDir, 'observations'),
    otherSpillDir: join(spillDir, 'outbox'),
    logsDir,
    daemonLog: join(logsDir, 'daemon.log'),
    tokenFile: join(home, 'cloud-token'),
  };
}

/** Resolves the data home from the environment without touching the disk. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.DIFFLORE_HOME;
  if (configured !== undefined) {
    if (configured.trim() === '') {
      throw new DiffloreError('config', 'DIFFLORE_HOME is set but empty.', {
        hint: 'unset it to use ~/.difflore, or set it to a directory path',
      });
    }
    return configured;
  }
  const home = homedir();
  if (!home) {
    throw new DiffloreError('config', 'cannot resolve the home directory for ~/.difflore.', {
      hint: 'set DIFFLORE_HOME to a directory path',
    });
  }
  return join(home, '.difflore');
}

/** Creates the home (and parents) if needed and makes it 0700. Returns its paths. */
export function ensureHome(home: string): HomePaths {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const stat = lstatSync(home);
    if (stat.isSymbolicLink()) {
      // A symlinked home is the user's choice (dotfiles repos do this); only files inside must not be links.
    } else if ((stat.mode & 0o777) !== 0o700) {
      chmodSync(home, 0o700);
    }
  } catch (error) {
    throw new DiffloreError('io', `cannot create the data home ${home}: ${(error as Error).message}`, {
      hint: 'check the permissions of its parent, or set DIFFLORE_HOME to a writable directory',
      cause: error,
    });
  }
  checkHomeOwner(home);
  return homePaths(home);
}
