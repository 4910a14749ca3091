/**
 * The view's journal tail on real files: it delivers each record once, in order, across the
 * recorder's rotation to `.1`, a replaced (shrunk) journal, half-written lines, and a journal that
 * does not exist yet or is a symbolic link.
 */
import { appendFileSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JournalTail } from '../../src/view/journal-tail.js';
import { makeTempHome } from '../helpers/index.js';

let home: string;
let cleanup: () => void;
let journal: string;

beforeEach(() => {
  ({ home, cleanup } = makeTempHome('difflore-view-tail-'));
  mkdirSync(home, { recursive: true, mode: 0o700 });
  journal = join(home, 'daemon-journal.jsonl');
});
afterEach(() => cleanup());

function line(seq: number, pid = 100): string {
  return `${JSON.stringify({ machine: 'daemon', seq, atMs: seq, pid, from: 'a', event: { type: 'WAKE' }, to: 'b' })}\n`;
}

const seqs = (tail: JournalTail) => tail.poll().map((r) => r.seq);

describe('JournalTail', () => {
  it('starts at the end, then delivers appended records once, waiting for a line to be complete', () => {
    writeFileSync(journal, line(1) + line(2));
    const tail = new JournalTail(journal);
    tail.skipToEnd();
    expect(seqs(tail)).toEqual([]);
    const third = line(3);
    appendFileSync(journal, third.slice(0, 10));
    expect(seqs(tail)).toEqual([]);
    appendFileSync(journal, third.slice(10) + line(4));
    expect(seqs(tail)).toEqual([3, 4]);
    expect(seqs(tail)).toEqual([]);
  });

  it('follows rotation: the rest of the old file from .1, then the new file from its start', () => {
    writeFileSync(journal, line(1));
    const tail = new JournalTail(journal);
    tail.skipToEnd();
    appendFileSync(journal, line(2));
    renameSync(journal, `${journal}.1`);
    writeFileSync(journal, line(3) + line(4));
    expect(seqs(tail)).toEqual([2, 3, 4]);
    appendFileSync(journal, line(5));
    expect(seqs(tail)).toEqual([5]);
  });

  it('reads a replaced, shorter journal from its start, and waits for a journal that does not exist yet', () => {
    const tail = new JournalTail(journal);
    tail.skipToEnd();
    expect(seqs(tail)).toEqual([]);
    writeFileSync(journal, line(1) + line(2) + line(3));
    expect(seqs(tail)).toEqual([1, 2, 3]);
    // Same inode, truncated and rewritten shorter.
    writeFileSync(journal, line(9));
    expect(seqs(tail)).toEqual([9]);
  });

  it('skips lines that are not records and never follows a symbolic link', () => {
    writeFileSync(journal, `not json\n${line(1)}{"machine":"daemon"}\n`);
    const tail = new JournalTail(journal);
    expect(seqs(tail)).toEqual([1]);
    const elsewhere = join(home, 'elsewhere.jsonl');
    writeFileSync(elsewhere, line(7));
    const linked = join(home, 'linked.jsonl');
    symlinkSync(elsewhere, linked);
    const linkTail = new JournalTail(linked);
    expect(seqs(linkTail)).toEqual([]);
  });
});
