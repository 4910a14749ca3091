/**
 * `difflore daemon log`: the transition journal (daemon-journal.jsonl and its rotated `.1`) for
 * people or scripts, followed live with `--follow`, or replayed through the machines with `--verify`
 * (DESIGN §3.3: replaying the journal reproduces the recorded states).
 */
import type { TransitionRecord } from '../../machines/types.js';
import { usageError } from '../exit-codes.js';
import { type CommandIo, defineCommand, flag, value } from '../command-spec.js';
import { journalPrinter, printable, stateLabel } from '../daemon-text.js';
import { parseNumber } from '../option-numbers.js';
import { nextStopSignal } from '../stop-signals.js';

export default defineCommand({
  paths: [['daemon', 'log']],
  usage: {
    category: 'Daemon',
    description: 'Show the journal of state-machine transitions',
    details: `
      Every transition of the daemon and of each \`daemon stop\` run is journaled in
      \`daemon-journal.jsonl\` (rotated to \`.1\` at 1 MiB). This prints the last \`--limit\` entries as
      \`time  machine  pid  #seq  from → to  [event]\`, and each change of the daemon's delivery state
      (\`delivery ok → unreachable (ENOTFOUND)\`) on a line of its own after the transition that made it;
      \`--json\` prints the records as JSON lines (a record that changed the delivery summary carries it);
      \`--follow\` keeps printing new entries until interrupted.

      \`--verify\` replays the journal through the real machines, one process's run at a time, checks
      that each recorded transition leads to the recorded state, and that the newest daemon run ends
      where \`daemon-state.json\` says it is. Exit code 0 when everything replays, 1 at the first
      mismatch (which is printed) and when the journal has records but no run in it can be replayed
      (nothing was verified). The daemon's log messages are in \`logs/daemon.log\`.
    `,
    examples: [
      ['The last 50 transitions', '$0 daemon log'],
      ['Watch transitions as they happen', '$0 daemon log --follow'],
      ['Check that the journal replays', '$0 daemon log --verify'],
      ['Everything, for a script', '$0 daemon log --limit 0 --json'],
    ],
  },
  options: {
    limit: value('--limit', 'Entries to print, newest last (0 = all)', '50'),
    follow: flag('-f,--follow', 'Keep printing new entries'),
    json: flag('--json', 'Print the records as JSON lines'),
    verify: flag('--verify', 'Replay the journal through the machines'),
  },
  parse: (raw) => ({ ...raw, limit: parseNumber('--limit', raw.limit, { whole: true, min: 0 }) }),
  run: (args, io) => new JournalView(args, io).run(),
});

interface LogArgs {
  readonly limit: number;
  readonly follow: boolean;
  readonly json: boolean;
  readonly verify: boolean;
}

/** One run of `daemon log`: the records it prints, and the delivery state each process last showed. */
class JournalView {
  constructor(
    private readonly args: LogArgs,
    private readonly io: CommandIo,
  ) {}

  private print(line = ''): void {
    this.io.stdout.write(`${line}\n`);
  }

  private printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  private warn(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  async run(): Promise<number> {
    if (this.args.verify && this.args.follow) usageError('--verify and --follow cannot be combined');
    const [{ homePaths, resolveHome }, { readJournal, readState }] = await Promise.all([
      import('../../adapters/home/home.js'),
      import('../../adapters/lifecycle/recorder.js'),
    ]);
    const paths = homePaths(resolveHome(this.io.env));
    const journal = readJournal(paths.journal);
    for (const bad of journal.bad.slice(0, 5)) {
      this.warn(printable(`difflore: skipped line ${bad.line} of ${bad.file}: ${bad.error}`));
    }
    if (journal.bad.length > 5) this.warn(`difflore: skipped ${journal.bad.length - 5} more unreadable lines`);

    if (this.args.verify) {
      // A line that does not parse (a write torn by a crash or a full disk) is a record lost: the
      // journal cannot prove what happened there, so it does not verify.
      if (journal.bad.length > 0) {
        const text = `journal not verified: ${journal.bad.length} unreadable lines (first: line ${journal.bad[0]?.line} of ${journal.bad[0]?.file})`;
        if (this.args.json) this.printJson({ ok: false, unreadableLines: journal.bad.length, reason: text });
        else this.warn(`difflore: ${printable(text)}`);
        return 1;
      }
      const state = readState(paths.stateFile);
      return this.verifyJournal(journal.entries, state.kind === 'ok' ? state.state : null);
    }

    const shown = this.args.limit === 0 ? journal.entries : journal.entries.slice(-this.args.limit);
    if (shown.length === 0 && !this.args.json && !this.args.follow)
      this.print(`(no transitions recorded in ${paths.journal})`);
    const print = this.args.json ? (record: TransitionRecord) => this.print(JSON.stringify(record)) : this.printer();
    // Records before the shown ones still tell which delivery state the first shown change left.
    if (!this.args.json)
      for (const record of journal.entries.slice(0, journal.entries.length - shown.length)) this.seen(record);
    for (const record of shown) print(record);
    if (this.args.follow) await this.followJournal(paths.journal, print);
    return 0;
  }

  private async verifyJournal(
    entries: readonly TransitionRecord[],
    state: { readonly pid: number; readonly value: unknown } | null,
  ): Promise<number> {
    const { replayJournal } = await import('../../machines/journal-replay.js');
    // Processes append concurrently (20 racing claimers, a stopper during a pass): replay each
    // process's records on their own, in the order it wrote them.
    const groups = new Map<string, TransitionRecord[]>();
    for (const entry of entries) {
      if (entry.machine !== 'daemon' && entry.machine !== 'stop') continue;
      const key = `${entry.machine} ${entry.pid}`;
      const list = groups.get(key) ?? [];
      list.push(entry);
      groups.set(key, list);
    }
    let replayed = 0;
    let runs = 0;
    let skipped = 0;
    const finals = new Map<number, string | null>();
    for (const [key, list] of groups) {
      const machine = key.startsWith('daemon') ? 'daemon' : 'stop';
      const first = list[0] as TransitionRecord;
      const result = replayJournal(machine, list);
      if (!result.ok) {
        const text = `journal mismatch: ${machine} pid ${first.pid}, record #${result.seq}: recorded ${result.expected}, replay reached ${result.actual} (${result.reason})`;
        if (this.args.json) this.printJson({ ...result, machine, pid: first.pid });
        else this.warn(`difflore: ${printable(text)}`);
        return 1;
      }
      replayed += result.replayed;
      runs += result.runs;
      skipped += result.skippedRuns;
      if (machine === 'daemon') finals.set(first.pid, result.finalState);
    }
    // A journal with records but nothing replayed proves nothing, and must not pass as verified: every
    // run's start rotated out, or the records are damaged (a one-letter token once scrubbed the
    // `x` out of every `xstate.init`).
    if (replayed === 0 && entries.length > 0) {
      const why =
        groups.size === 0
          ? 'none of them is a record of the daemon or stop machine'
          : `none of its ${skipped} runs has a readable start: the \`xstate.init\` records are missing, rotated out or damaged`;
      const text = `journal not verified: it holds ${entries.length} records, but nothing could be replayed (${why})`;
      if (this.args.json)
        this.printJson({ ok: false, transitions: 0, records: entries.length, skippedRuns: skipped, reason: text });
      else this.warn(`difflore: ${printable(text)}`);
      return 1;
    }
    // The newest daemon run must end where the state file says it is.
    if (state !== null && finals.has(state.pid)) {
      const recorded = stateLabelOrEmpty(state.value);
      const replayedTo = finals.get(state.pid) ?? null;
      if (replayedTo !== null && recorded !== replayedTo) {
        const text = `the state file says pid ${state.pid} is in ${recorded}, but its journal replays to ${replayedTo}`;
        if (this.args.json)
          this.printJson({ ok: false, pid: state.pid, expected: recorded, actual: replayedTo, reason: text });
        else this.warn(`difflore: ${printable(text)}`);
        return 1;
      }
    }
    const summary = {
      ok: true,
      transitions: replayed,
      runs,
      skippedRuns: skipped,
      stateFile: state !== null && finals.has(state.pid) ? stateLabelOrEmpty(state.value) : null,
    };
    if (this.args.json) this.printJson(summary);
    else {
      this.print(`journal verified: ${replayed} transitions in ${runs} runs replay to their recorded states`);
      if (summary.stateFile !== null)
        this.print(
          `the newest daemon run (pid ${state?.pid}) ends in ${summary.stateFile}, as daemon-state.json records`,
        );
      if (skipped > 0) this.print(`${skipped} runs whose start was rotated out of the journal were skipped`);
    }
    return 0;
  }

  #printer: ((record: TransitionRecord) => void) | null = null;
  #lastDelivery = new Map<number, string>();

  /** The text printer: each record, and each delivery change on its own line. */
  private printer(): (record: TransitionRecord) => void {
    this.#printer ??= journalPrinter((line) => this.print(line), this.#lastDelivery);
    return this.#printer;
  }

  /** Notes a record's delivery state without printing it. */
  private seen(record: TransitionRecord): void {
    const state = (record.delivery as { state?: unknown } | undefined)?.state;
    if (typeof state === 'string') this.#lastDelivery.set(record.pid, state);
  }

  /** Prints entries appended after now until SIGINT/SIGTERM; follows the rotation to `.1`. */
  private async followJournal(path: string, print: (record: TransitionRecord) => void): Promise<void> {
    const [{ closeSync, constants, readSync, statSync }, { openHomeFile }] = await Promise.all([
      import('node:fs'),
      import('../../adapters/home/home-files.js'),
    ]);
    const size = (): number => {
      try {
        return statSync(path).size;
      } catch {
        return 0;
      }
    };
    let offset = size();
    let partial = '';
    const poll = (): void => {
      const now = size();
      if (now < offset) {
        // Rotated: the new file starts from scratch.
        offset = 0;
        partial = '';
      }
      if (now === offset) return;
      let fd: number | undefined;
      try {
        // The home-files rule: a FIFO or link planted at the journal must not hang or redirect us.
        fd = openHomeFile(path, constants.O_RDONLY);
      } catch {
        return;
      }
      if (fd === undefined) return;
      try {
        const buffer = Buffer.alloc(now - offset);
        const n = readSync(fd, buffer, 0, buffer.length, offset);
        offset += n;
        const lines = (partial + buffer.subarray(0, n).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (line.trim() === '') continue;
          try {
            print(JSON.parse(line) as TransitionRecord);
          } catch {
            // A torn line from a crashed writer; the next line is whole.
          }
        }
      } finally {
        closeSync(fd);
      }
    };
    const stopped = nextStopSignal();
    const timer = setInterval(poll, 200);
    await stopped;
    clearInterval(timer);
    poll();
  }
}

function stateLabelOrEmpty(value: unknown): string {
  return stateLabel(value) ?? '∅';
}
