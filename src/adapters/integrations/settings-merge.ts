/**
 * Claude Code's `settings.json`: adding our PostToolUse hook entry and taking it out again without
 * touching anything else in the file. Owns: locating the file, recognising our entries, the pure
 * merge/unmerge, a line diff for --dry-run, and the careful write (backup, temp file, rename).
 *
 * Shape (Claude Code docs): `{ "hooks": { "PostToolUse": [ { "matcher": "Edit|Write", "hooks": [
 * { "type": "command", "command": "...", "timeout": 10 } ] } ] } }`. Our entries are recognised by
 * their command (`… difflore … hook claude-code` or `… cli/main.js … hook claude-code`), so an
 * install from a moved checkout or another node replaces the stale entry instead of adding a second.
 */
import {
  closeSync,
  constants,
  copyFileSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DiffloreError, errnoCode } from '../../errors.js';
import { OBSERVED_TOOLS_MATCHER } from './claude-code-hook.js';
import { shellQuote } from './service-unit.js';
import { fsyncDirectoryBestEffort } from '../home/fsync-dir.js';
import { isJsonRecord, type JsonRecord } from '../../json-record.js';

export interface HookEntrySpec {
  readonly matcher: string;
  readonly command: string;
  /** Seconds Claude Code waits for the hook; ours returns in milliseconds, this only bounds a hang. */
  readonly timeoutSec: number;
}

/**
 * The entry `hook install claude-code` writes for this installation: absolute node and main.js, because
 * Claude Code runs hooks through `sh -c` with whatever PATH it was started with (often without nvm's or
 * npm's global bin), and `npx difflore` would add a package resolution to every edit. A data home the
 * installer chose (`DIFFLORE_HOME`) is baked in, since Claude Code's environment will not carry it.
 */
export function claudeCodeHookSpec(nodePath: string, entryPath: string, dataHome?: string): HookEntrySpec {
  return {
    matcher: OBSERVED_TOOLS_MATCHER,
    command: agentHookCommand(nodePath, entryPath, dataHome, 'claude-code'),
    timeoutSec: 10,
  };
}

/** `[DIFFLORE_HOME=…] <node> <main.js> hook <agent>`, quoted for the `sh -c` every agent runs hooks with. */
export function agentHookCommand(nodePath: string, entryPath: string, dataHome: string | undefined, agent: string) {
  const envPrefix = dataHome === undefined ? '' : `DIFFLORE_HOME=${shellQuote(dataHome)} `;
  return `${envPrefix}${shellQuote(nodePath)} ${shellQuote(entryPath)} hook ${agent}`;
}

/** `rendered`, without its final newline when the file it replaces had none (Rust writes none). */
export function keepFinalNewline(rendered: string, before: string | undefined): string {
  return before !== undefined && before !== '' && !before.endsWith('\n') ? rendered.replace(/\n$/, '') : rendered;
}

/**
 * `<DIR>/.claude/settings.json` for `--project DIR` (DIR defaults to the cwd), `$HOME/.claude/settings.json`
 * for `--user`. Both at once is a usage error; a project directory that does not exist is refused rather
 * than created, since a typo would otherwise leave a stray `.claude/` somewhere.
 */
export function resolveSettingsPath(options: {
  project: string | undefined;
  user: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
}): string {
  if (options.user && options.project !== undefined) {
    throw new DiffloreError('usage', '--project and --user are exclusive: pick the settings file to change.');
  }
  if (options.user) {
    const home = options.env.HOME && options.env.HOME !== '' ? options.env.HOME : homedir();
    return join(home, '.claude', 'settings.json');
  }
  const dir = resolve(options.cwd, options.project ?? '.');
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new DiffloreError('invalid_input', `${dir} is not a directory.`, {
      hint: 'give the root of an existing project with --project DIR, or use --user',
    });
  }
  return join(dir, '.claude', 'settings.json');
}

/** `… difflore hook <name>` or `… cli/main.cjs hook <name>` (main.js before 0.2), for one of `names`. */
function ourCommandPattern(names: readonly string[]): RegExp {
  const alternatives = names.map((n) => n.replace(/[^a-z0-9]/g, (c) => `\\${c}`)).join('|');
  return new RegExp(
    `(?:^|[\\s'"/\\\\])(?:difflore(?:\\.cmd|\\.exe|\\.js)?|cli[/\\\\]main\\.c?js)['"]?\\s+hook\\s+(?:${alternatives})\\s*$`,
  );
}

const CLAUDE_CODE_COMMAND = ourCommandPattern(['claude-code']);

/**
 * True for a hook command that runs `difflore hook <agent>` (Claude Code by default), however difflore
 * was invoked; `names` are the agent's canonical name and aliases.
 */
export function isOurHookCommand(command: unknown, names?: readonly string[]): boolean {
  if (typeof command !== 'string') return false;
  return (names === undefined ? CLAUDE_CODE_COMMAND : ourCommandPattern(names)).test(command);
}

/** Parses settings text; `undefined` (no file) is an empty object. Refuses anything but a JSON object. */
export function parseSettings(text: string | undefined, path: string, agent = 'Claude Code'): JsonRecord {
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DiffloreError(
      'invalid_input',
      `${path} is not valid JSON (${(error as Error).message}); nothing written.`,
      {
        hint: `fix the file by hand (${agent} would not read it either), then run the command again`,
      },
    );
  }
  if (!isJsonRecord(value)) {
    throw new DiffloreError('invalid_input', `${path} does not hold a JSON object; nothing written.`, {
      hint: `${agent} reads a JSON object ({ ... }) there; fix the file and run the command again`,
    });
  }
  return value;
}

/** The `hooks.PostToolUse` array, after checking the shape of what leads to it. */
function postToolUse(settings: JsonRecord, path: string, create: boolean): unknown[] | undefined {
  let hooks = settings.hooks;
  if (hooks === undefined) {
    if (!create) return undefined;
    hooks = {};
    settings.hooks = hooks;
  }
  if (!isJsonRecord(hooks)) {
    throw new DiffloreError('invalid_input', `${path}: "hooks" is not an object; nothing written.`, {
      hint: 'Claude Code expects "hooks": { "PostToolUse": [ ... ] }; fix the file and run the command again',
    });
  }
  let list = hooks.PostToolUse;
  if (list === undefined) {
    if (!create) return undefined;
    list = [];
    hooks.PostToolUse = list;
  }
  if (!Array.isArray(list)) {
    throw new DiffloreError('invalid_input', `${path}: "hooks.PostToolUse" is not an array; nothing written.`, {
      hint: 'Claude Code expects "PostToolUse": [ { "matcher": ..., "hooks": [ ... ] } ]; fix the file first',
    });
  }
  return list;
}

/** Removes our entries from every group; drops a group only when our removal emptied it. */
function stripOurs(groups: unknown[]): number {
  let removed = 0;
  for (let i = groups.length - 1; i >= 0; i--) {
    const group = groups[i];
    if (!isJsonRecord(group) || !Array.isArray(group.hooks)) continue;
    const kept = group.hooks.filter((h) => !(isJsonRecord(h) && isOurHookCommand(h.command)));
    const n = group.hooks.length - kept.length;
    if (n === 0) continue;
    removed += n;
    if (kept.length === 0) groups.splice(i, 1);
    else group.hooks = kept;
  }
  return removed;
}

export interface MergeResult {
  readonly settings: JsonRecord;
  readonly changed: boolean;
}

/**
 * Adds our hook entry. Idempotent: if exactly our entry is already there (same command, in a group with
 * our matcher) nothing changes; stale entries of ours (another path, another matcher) are replaced.
 */
export function addClaudeCodeHook(original: JsonRecord, spec: HookEntrySpec, path: string): MergeResult {
  const settings = structuredClone(original);
  const groups = postToolUse(settings, path, true) ?? [];
  const ours = groups.flatMap((g) =>
    isJsonRecord(g) && Array.isArray(g.hooks)
      ? g.hooks.filter((h) => isJsonRecord(h) && isOurHookCommand(h.command)).map((h) => ({ group: g, hook: h }))
      : [],
  );
  const exact =
    ours.length === 1 &&
    ours[0]?.group.matcher === spec.matcher &&
    isJsonRecord(ours[0].hook) &&
    ours[0].hook.type === 'command' &&
    ours[0].hook.command === spec.command;
  if (exact) return { settings: original, changed: false };
  stripOurs(groups);
  const entry = { type: 'command', command: spec.command, timeout: spec.timeoutSec };
  const home = groups.find((g) => isJsonRecord(g) && g.matcher === spec.matcher && Array.isArray(g.hooks));
  if (isJsonRecord(home) && Array.isArray(home.hooks)) home.hooks.push(entry);
  else groups.push({ matcher: spec.matcher, hooks: [entry] });
  return { settings, changed: true };
}

/**
 * Removes every entry of ours and the containers our removal left empty (a group, the PostToolUse
 * array, the hooks object); anything else, including empty containers that were already empty, stays.
 */
export function removeClaudeCodeHook(original: JsonRecord, path: string): MergeResult & { removed: number } {
  const settings = structuredClone(original);
  const groups = postToolUse(settings, path, false);
  if (!groups) return { settings: original, changed: false, removed: 0 };
  const removed = stripOurs(groups);
  if (removed === 0) return { settings: original, changed: false, removed: 0 };
  const hooks = settings.hooks as JsonRecord;
  if (groups.length === 0) delete hooks.PostToolUse;
  if (Object.keys(hooks).length === 0) delete settings.hooks;
  return { settings, changed: true, removed };
}

/** Renders settings as Claude Code writes them: 2-space JSON (or the file's own indent), trailing newline. */
export function renderSettings(settings: JsonRecord, indent: number | string = 2): string {
  return `${JSON.stringify(settings, null, indent)}\n`;
}

/** The indent the existing file uses, so rewriting it does not reformat every line. 2 if unsure. */
export function detectIndent(text: string | undefined): number | string {
  if (!text) return 2;
  const match = /^\{\s*\n([ \t]+)"/.exec(text);
  const ws = match?.[1];
  if (!ws) return 2;
  return ws.startsWith('\t') ? '\t' : Math.min(ws.length, 10);
}

export interface SettingsFile {
  /** The path given (what we print). */
  readonly path: string;
  /** The file we actually write: the symlink's target when settings.json is a link (dotfiles). */
  readonly target: string;
  /** The current text, or undefined if there is no file. */
  readonly text: string | undefined;
  readonly mode: number | undefined;
}

export function readSettingsFile(path: string): SettingsFile {
  let target = path;
  try {
    if (lstatSync(path).isSymbolicLink()) target = realpathSync(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      // lstat failing means no file; realpath failing means a dangling link, which we will not write through.
      if (!isDanglingLink(path)) return { path, target, text: undefined, mode: undefined };
      throw new DiffloreError('io', `${path} is a symbolic link to a file that does not exist; nothing written.`, {
        hint: 'create the link target or remove the link, then run the command again',
      });
    }
    throw ioError(path, error);
  }
  try {
    const text = readFileSync(target, 'utf8');
    return { path, target, text, mode: statSync(target).mode & 0o777 };
  } catch (error) {
    throw ioError(path, error);
  }
}

function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Writes `text` over `file`: a copy of the old file goes to `settings.json.bak-<UTC timestamp>` first,
 * the new text goes to a temp file that is fsynced and renamed over the old one, so Claude Code never
 * reads a half-written file. Returns the backup path, if any.
 */
export function writeSettingsFile(file: SettingsFile, text: string, nowMs: number): { backup: string | undefined } {
  const target = file.target;
  const dir = dirname(target);
  try {
    mkdirSync(dir, { recursive: true });
    let backup: string | undefined;
    if (file.text !== undefined) backup = backupCopy(target, nowMs);
    const tmp = join(dir, `.${basename(target)}.difflore-tmp-${process.pid}`);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, file.mode ?? 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, target);
    } catch (error) {
      unlinkSync(tmp);
      throw error;
    }
    fsyncDirectoryBestEffort(dir);
    return { backup };
  } catch (error) {
    throw ioError(file.path, error);
  }
}

function backupCopy(target: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace('.', '');
  for (let n = 0; ; n++) {
    const candidate = `${target}.bak-${stamp}${n === 0 ? '' : `-${n}`}`;
    try {
      copyFileSync(target, candidate, constants.COPYFILE_EXCL);
      return candidate;
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST' || n > 100) throw error;
    }
  }
}

function ioError(path: string, error: unknown): DiffloreError {
  if (error instanceof DiffloreError) return error;
  return new DiffloreError('io', `cannot update ${path}: ${(error as Error).message}`, { cause: error });
}

/**
 * A unified diff of two texts (line LCS, 3 lines of context), for --dry-run. Settings files are small;
 * past a size where the LCS table would be large, it shows the whole old and new text instead.
 */
export function lineDiff(before: string, after: string, fromLabel: string, toLabel: string): string {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  const ops = a.length * b.length > 4_000_000 ? wholeReplace(a, b) : lcsOps(a, b);
  const out = [`--- ${fromLabel}`, `+++ ${toLabel}`];
  const context = 3;
  let i = 0;
  while (i < ops.length) {
    if (ops[i]?.kind === ' ') {
      i++;
      continue;
    }
    // A hunk runs from `context` lines before this change to `context` lines after the last change
    // that lies within 2*context lines of the previous one.
    const start = Math.max(0, i - context);
    let end = i;
    let last = i;
    while (end < ops.length) {
      if (ops[end]?.kind !== ' ') last = end;
      else if (end - last > 2 * context) break;
      end++;
    }
    end = Math.min(ops.length, last + 1 + context);
    const slice = ops.slice(start, end);
    const aStart = (ops[start]?.aLine ?? 0) + 1;
    const bStart = (ops[start]?.bLine ?? 0) + 1;
    const aCount = slice.filter((o) => o.kind !== '+').length;
    const bCount = slice.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aCount === 0 ? aStart - 1 : aStart},${aCount} +${bCount === 0 ? bStart - 1 : bStart},${bCount} @@`);
    for (const op of slice) out.push(`${op.kind}${op.text}`);
    i = end;
  }
  return `${out.join('\n')}\n`;
}

interface DiffOp {
  readonly kind: ' ' | '-' | '+';
  readonly text: string;
  /** Index in `a` of this line, or of the next `a` line for an insertion. */
  readonly aLine: number;
  readonly bLine: number;
}

function lcsOps(a: readonly string[], b: readonly string[]): DiffOp[] {
  const n = a.length;
  const m = b.length;
  // lengths[i][j] = LCS length of a[i..] and b[j..], in one flat array.
  const lengths = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => i * (m + 1) + j;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[at(i, j)] =
        a[i] === b[j]
          ? (lengths[at(i + 1, j + 1)] ?? 0) + 1
          : Math.max(lengths[at(i + 1, j)] ?? 0, lengths[at(i, j + 1)] ?? 0);
    }
  }
  const ops: DiffOp[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i] ?? '', aLine: i, bLine: j });
      i++;
      j++;
    } else if (i < n && (j === m || (lengths[at(i + 1, j)] ?? 0) >= (lengths[at(i, j + 1)] ?? 0))) {
      // Deletions first, as diff(1) prints them.
      ops.push({ kind: '-', text: a[i] ?? '', aLine: i, bLine: j });
      i++;
    } else {
      ops.push({ kind: '+', text: b[j] ?? '', aLine: i, bLine: j });
      j++;
    }
  }
  return ops;
}

function wholeReplace(a: readonly string[], b: readonly string[]): DiffOp[] {
  return [
    ...a.map((text, i) => ({ kind: '-' as const, text, aLine: i, bLine: 0 })),
    ...b.map((text, j) => ({ kind: '+' as const, text, aLine: a.length, bLine: j })),
  ];
}
