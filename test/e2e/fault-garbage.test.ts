/**
 * Fault suite, garbage files: 1,000 generated (fast-check) pid files, state files, spill files and
 * payload files. Nothing crashes and each gets a clear answer:
 * - pid/state files: the liveness probe and the state reader call every one stale / not running /
 *   garbage without throwing (in-process, 1,000 cases each, the functions `daemon status` is built
 *   on); a sample goes through the real `daemon status` (LSB code and a message naming the file) and
 *   `daemon start` (reclaims and starts).
 * - spill files: 1,000 garbage records among valid ones → every garbage file renamed `.bad`, the
 *   valid ones queued and delivered, by `outbox drain` and by the daemon's own pass.
 * - payloads: `enqueue` refuses every one with exit 2 and a one-line reason, writing nothing
 *   (1,000 in-process through the fast path the CLI runs, a sample as real processes).
 */
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { homePaths } from '../../src/adapters/home/home.js';
import { probeLiveness } from '../../src/adapters/lifecycle/liveness.js';
import { readPidFile } from '../../src/adapters/lifecycle/pid-file.js';
import { readState } from '../../src/adapters/lifecycle/recorder.js';
import { route, runRoute } from '../../src/cli/router.js';
import { CLI, type CliResult, waitFor } from '../helpers/index.js';
import {
  countByKind,
  isOurCliProcess,
  type Lab,
  labPerTest,
  type LabHome,
  mapLimit,
  sized,
  waitForDelivery,
  workRow,
} from './fault-harness.js';

const useLab = labPerTest();

/** One seed per run, printed on failure, so a failing set of files can be generated again. */
const SEED = Number(process.env.DIFFLORE_FAULT_SEED ?? Date.now() % 2_147_483_647);
const GARBAGE = 1000;
const CLI_SAMPLE = sized(12, 120);
/** CLI processes at once. */
const PARALLEL = 4;
/** Per-test deadline: the soak sizes run ten times the processes. */
const TEST_TIMEOUT = sized(60_000, 600_000);

const NO_STACK = /\n\s+at [^\n]*:\d+:\d+/;

// ---------------------------------------------------------------------------------------------
// Generators. Each yields only garbage, by construction (and a filter where construction alone
// cannot promise it), so the expected answer never depends on the code under test.

const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('latin1')),
);

const pidFileGarbage: fc.Arbitrary<Buffer> = fc
  .oneof(
    anyText.map((s) => Buffer.from(s, 'utf8')),
    fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
    // Numbers no pid file may hold: ≤ 1, beyond i32, signed, fractional, hex, exponent, padded past 64 bytes.
    fc.integer({ min: -2_147_483_648, max: 1 }).map((n) => Buffer.from(String(n))),
    fc.bigInt({ min: 2n ** 31n, max: 2n ** 80n }).map((n) => Buffer.from(n.toString())),
    fc
      .integer({ min: 2, max: 99_999 })
      .chain((n) =>
        fc
          .constantFrom(
            `+${n}`,
            `${n}.5`,
            `0x${n.toString(16)}`,
            `${n}e0`,
            `${n} ${n}`,
            `pid=${n}`,
            `${'0'.repeat(70)}${n}`,
          )
          .map((s) => Buffer.from(s)),
      ),
    fc.constantFrom('', ' ', '\n', '\t\n ').map((s) => Buffer.from(s)),
  )
  // A plain decimal pid > 1 (after trimming) is a pid file, not garbage; keep only what cannot be one.
  .filter((b) => {
    const t = b.toString('utf8').trim();
    return !(/^[0-9]+$/.test(t) && b.length <= 64 && Number(t) > 1 && Number(t) <= 2 ** 31 - 1);
  });

const stateLike = fc.record({
  version: fc.constant(1),
  pid: fc.integer({ min: 2, max: 4_000_000 }),
  startedAtMs: fc.nat(),
  heartbeatAtMs: fc.nat(),
  format: fc.constant('difflore-ts/1'),
  value: fc.constantFrom('serving', 'stopped', { serving: 'running' }),
  identity: fc.record({ pid: fc.nat(), bootId: fc.string(), startTime: fc.string() }),
});

/** True when the text is what the state reader accepts: an object with numeric version and pid. */
function looksLikeState(text: string): boolean {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    return typeof v === 'object' && v !== null && typeof v.version === 'number' && typeof v.pid === 'number';
  } catch {
    return false;
  }
}

const stateFileGarbage: fc.Arbitrary<Buffer> = fc
  .oneof(
    anyText.map((s) => Buffer.from(s, 'utf8')),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    // A real-looking state file cut short (a torn write, which the atomic rename should prevent).
    stateLike.chain((s) => {
      const text = JSON.stringify(s, null, 2);
      return fc.integer({ min: 0, max: text.length - 2 }).map((cut) => Buffer.from(text.slice(0, cut)));
    }),
    // The right shape with the wrong types.
    stateLike.chain((s) =>
      fc
        .constantFrom<Record<string, unknown>>(
          { ...s, version: String(s.version) },
          { ...s, pid: String(s.pid) },
          { ...s, pid: null },
          { ...s, version: undefined },
        )
        .map((v) => Buffer.from(JSON.stringify(v))),
    ),
  )
  .filter((b) => !looksLikeState(b.toString('utf8')));

interface SpillGarbage {
  readonly dir: 'observations' | 'outbox';
  readonly content: Buffer;
}

const badKind = fc.string({ maxLength: 20 }).filter((s) => !/^[a-z][a-z0-9_]*$/.test(s));
const goodRecord = fc.record({
  version: fc.constant(1),
  kind: fc.constant('observation'),
  payloadJson: fc.constant('{"a":1}'),
  createdAtMs: fc.nat(),
  lastError: fc.constant(null),
});

const spillGarbage: fc.Arbitrary<SpillGarbage> = fc.record({
  dir: fc.constantFrom('observations' as const, 'outbox' as const),
  content: fc
    .oneof(
      anyText.filter((s) => !parses(s)).map((s) => Buffer.from(s, 'utf8')),
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
      fc
        .oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.nat()))
        .map((v) => Buffer.from(JSON.stringify(v))),
      // A record with exactly one field wrong.
      goodRecord.chain((r) =>
        fc
          .oneof(
            fc
              .jsonValue()
              .filter((v) => v !== 1)
              .map((version) => ({ ...r, version })),
            badKind.map((kind) => ({ ...r, kind })),
            fc.oneof(fc.integer(), fc.constant(null), fc.constant(''), fc.constant('  ')).map((payloadJson) => ({
              ...r,
              payloadJson,
            })),
            anyText.filter((s) => !parses(s)).map((payloadJson) => ({ ...r, payloadJson })),
            fc
              .oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.string(), fc.constant(2 ** 60))
              .map((createdAtMs) => ({ ...r, createdAtMs })),
            fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.string())).map((lastError) => ({ ...r, lastError })),
            fc.constant({ ...r, kind: undefined }),
          )
          .map((v) => Buffer.from(JSON.stringify(v))),
      ),
      // A good record cut short.
      goodRecord.chain((r) => {
        const text = JSON.stringify(r);
        return fc.integer({ min: 0, max: text.length - 2 }).map((cut) => Buffer.from(text.slice(0, cut)));
      }),
    )
    // Nothing above may come out as a valid record; the filter states the rule independently.
    .filter((b) => !isValidSpillRecord(b.toString('utf8'))),
});

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The spill record rules (DESIGN §5.1, reference §2.13), written out here as the oracle. */
function isValidSpillRecord(text: string): boolean {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  return (
    r.version === 1 &&
    typeof r.kind === 'string' &&
    /^[a-z][a-z0-9_]*$/.test(r.kind) &&
    typeof r.payloadJson === 'string' &&
    r.payloadJson.trim() !== '' &&
    parses(r.payloadJson) &&
    typeof r.createdAtMs === 'number' &&
    Number.isSafeInteger(r.createdAtMs) &&
    r.createdAtMs >= 0 &&
    (r.lastError === undefined || r.lastError === null || typeof r.lastError === 'string')
  );
}

/** Payloads `enqueue` must refuse: not JSON, empty, or over 1 MiB. Bytes, as a file on stdin. */
const payloadGarbage: fc.Arbitrary<Buffer> = fc
  .oneof(
    anyText.map((s) => Buffer.from(s, 'utf8')),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 3 }).chain((v) => {
      const text = JSON.stringify(v) ?? 'null';
      return fc
        .oneof(
          fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((cut) => text.slice(0, cut)),
          anyText.map((tail) => `${text} ${tail}x`),
        )
        .map((s) => Buffer.from(s));
    }),
    fc.constantFrom('', ' ', '\n\n', '\t').map((s) => Buffer.from(s)),
  )
  .filter((b) => {
    const text = b.toString('utf8').trim();
    return text === '' || !parses(text);
  });

const tooLarge = (n: number) => Buffer.from(JSON.stringify({ blob: 'x'.repeat(1024 * 1024 + n) }));

// ---------------------------------------------------------------------------------------------

function sample<T>(arb: fc.Arbitrary<T>, n: number, offset = 0): T[] {
  return fc.sample(arb, { numRuns: n, seed: SEED + offset });
}

function writeHomeFile(path: string, content: Buffer): void {
  writeFileSync(path, content, { mode: 0o600 });
}

async function runCliWithStdinFile(
  lab: Lab,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  file: string,
): Promise<CliResult> {
  // The payload file is the process's stdin, as `difflore enqueue k - < file` would give it.
  const fd = openSync(file, 'r');
  try {
    const t = lab.spawn(process.execPath, [CLI, ...args], { env, stdio: [fd, 'pipe', 'pipe'] });
    const timer = setTimeout(() => t.child.kill('SIGKILL'), 30_000);
    const { code, signal } = await t.exited;
    clearTimeout(timer);
    return { code, signal, stdout: t.stdout(), stderr: t.stderr() };
  } finally {
    closeSync(fd);
  }
}

/** Characters that drive a terminal (ESC, BEL, CR, …): everything below 0x20 but the newline, and DEL. */
function controlCharacters(text: string): string[] {
  return [...text].filter((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && ch !== '\n') || c === 0x7f;
  });
}

function seedInfo(): string {
  return `(DIFFLORE_FAULT_SEED=${SEED})`;
}

describe('fault suite: garbage files', () => {
  it(
    `${GARBAGE} garbage pid files and ${GARBAGE} garbage state files: probe and reader answer stale / garbage, never throw`,
    () => {
      const lab = useLab();
      const h = lab.home();
      const paths = homePaths(h.home);
      fc.assert(
        fc.property(pidFileGarbage, fc.option(stateFileGarbage, { nil: undefined }), (pid, state) => {
          writeHomeFile(paths.pidFile, pid);
          if (state === undefined) writeHomeFile(paths.stateFile, Buffer.from(''));
          else writeHomeFile(paths.stateFile, state);
          expect(readPidFile(paths.pidFile)).toMatchObject({ kind: 'garbage' });
          const found = probeLiveness(paths);
          expect(found).toMatchObject({ kind: 'stale', pid: null, reason: 'invalidPid', lockHeld: false });
        }),
        { numRuns: GARBAGE, seed: SEED },
      );
      fc.assert(
        fc.property(stateFileGarbage, (state) => {
          writeHomeFile(paths.stateFile, state);
          const read = readState(paths.stateFile);
          expect(read.kind).toBe('garbage');
          if (read.kind === 'garbage') expect(read.error.length).toBeGreaterThan(0);
          // No pid file: garbage state alone never makes a daemon "run".
          expect(probeLiveness({ ...paths, pidFile: join(h.home, 'no-such.pid') })).toEqual({
            kind: 'notRunning',
            lockHeld: false,
          });
        }),
        { numRuns: GARBAGE, seed: SEED + 1 },
      );
    },
    TEST_TIMEOUT,
  );

  it(
    `${GARBAGE} garbage payloads: enqueue exits 2 with a one-line reason and writes nothing`,
    async () => {
      const lab = useLab();
      const h = lab.home();
      const env = h.env(null);
      const payloads = [...sample(payloadGarbage, GARBAGE - 2, 2), tooLarge(1), tooLarge(4096)];
      let n = 0;
      for (const payload of payloads) {
        let out = '';
        let err = '';
        const routed = await route(['enqueue', 'mcp_query', '-']);
        if (routed === undefined) throw new Error('the fast router should take enqueue mcp_query -');
        const code = await runRoute(routed, {
          stdin: Readable.from([payload]),
          stdout: { write: (t: string) => (out += t) },
          stderr: { write: (t: string) => (err += t) },
          env,
        });
        const context = `${seedInfo()} payload #${n++} ${JSON.stringify(payload.toString('utf8').slice(0, 80))}`;
        expect(code, context).toBe(2);
        expect(out, context).toBe('');
        expect(err, context).toMatch(
          /^difflore: the payload (is empty|is too large|is not valid JSON|on stdin is not valid UTF-8)/,
        );
        expect(err, context).not.toMatch(NO_STACK);
      }
      // Through the real CLI for a sample, the payload file on stdin and (when it can be) in argv.
      const dir = join(h.home, '..', 'payloads');
      mkdirSync(dir, { recursive: true });
      const picked = payloads.filter((_, i) => i % Math.floor(payloads.length / CLI_SAMPLE) === 0).slice(0, CLI_SAMPLE);
      picked.push(tooLarge(1));
      const results = await mapLimit(picked, PARALLEL, async (payload, i) => {
        const file = join(dir, `p${i}.json`);
        writeFileSync(file, payload);
        return { payload, r: await runCliWithStdinFile(lab, ['enqueue', 'mcp_query', '-'], env, file) };
      });
      for (const { payload, r } of results) {
        const context = `${seedInfo()} ${JSON.stringify(payload.toString('utf8').slice(0, 80))}`;
        expect(r.code, context).toBe(2);
        expect(r.stdout, context).toBe('');
        expect(r.stderr, context).toMatch(
          /^difflore: the payload (is empty|is too large|is not valid JSON|on stdin is not valid UTF-8)/,
        );
        expect(r.stderr, context).not.toMatch(NO_STACK);
      }
      // Bad kinds with a good payload, as argv.
      const kinds = sample(
        badKind.filter((k) => !k.startsWith('-')),
        CLI_SAMPLE,
        3,
      );
      kinds.push('x'.repeat(65));
      const kindResults = await mapLimit(kinds, PARALLEL, async (kind) => ({
        kind,
        r: await lab.cli(['enqueue', kind, '{"a":1}'], env),
      }));
      for (const { kind, r } of kindResults) {
        const context = `${seedInfo()} kind ${JSON.stringify(kind)}`;
        expect(r.code, context).toBe(2);
        expect(r.stderr, context).toMatch(/^difflore: invalid kind/);
        expect(r.stderr, context).not.toMatch(NO_STACK);
      }
      // Nothing was queued or spilled.
      expect(h.outbox()).toEqual({ pending: 0, processing: 0, abandoned: 0 });
      expect(h.spill()).toEqual({ waiting: [], bad: [], other: [] });
    },
    TEST_TIMEOUT,
  );

  /** Writes GARBAGE garbage spill files and some valid ones; returns the valid rows by kind. */
  function plantSpill(h: LabHome, tag: string): Record<string, number> {
    const dirs = { observations: h.paths.observationSpillDir, outbox: h.paths.otherSpillDir };
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const garbage = sample(spillGarbage, GARBAGE, 4);
    garbage.forEach((g, i) => {
      writeHomeFile(join(dirs[g.dir], `${1_600_000_000_000 + i}-4242-${i}.json`), g.content);
    });
    const valid = Array.from({ length: 24 }, (_, i) => workRow(tag, i, i % 2 === 0 ? 'observation' : 'mcp_query'));
    valid.forEach((row, i) => {
      const record = { version: 1, kind: row.kind, payloadJson: row.payloadJson, createdAtMs: 1_650_000_000_000 + i };
      const dir = row.kind === 'observation' ? dirs.observations : dirs.outbox;
      // Interleaved with the garbage by time, so quarantining must not stop the valid ones.
      writeHomeFile(join(dir, `${1_600_000_000_000 + i * 40 + 1}-4343-${i}.json`), Buffer.from(JSON.stringify(record)));
    });
    return countByKind(valid);
  }

  function expectAllQuarantined(h: LabHome): void {
    const spill = h.spill();
    expect(spill.waiting, seedInfo()).toEqual([]);
    expect(spill.other, seedInfo()).toEqual([]);
    expect(spill.bad.length, seedInfo()).toBe(GARBAGE);
    expect(
      spill.bad.every((p) => /\/\d+-4242-\d+\.bad$/.test(p)),
      'only garbage files are quarantined',
    ).toBe(true);
  }

  it(
    `${GARBAGE} garbage spill files: outbox drain quarantines each as .bad and delivers the valid ones`,
    async () => {
      const lab = useLab();
      const cloud = await lab.cloud();
      const h = lab.home();
      const expected = plantSpill(h, 'spill-drain');
      const env = h.env(cloud.url);
      let quarantined = 0;
      let replayed = 0;
      // A pass replays at most 256 files; run passes until none wait (bounded).
      for (let pass = 0; pass < 10 && h.spill().waiting.length > 0; pass++) {
        const r = await lab.cli(['outbox', 'drain'], env);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).not.toMatch(NO_STACK);
        const m = /spill: replayed (\d+), quarantined (\d+)/.exec(r.stdout);
        replayed += Number(m?.[1] ?? 0);
        quarantined += Number(m?.[2] ?? 0);
      }
      expect({ replayed, quarantined }).toEqual({ replayed: 24, quarantined: GARBAGE });
      expectAllQuarantined(h);
      await waitForDelivery({ cloud, home: h, expected, timeoutMs: 20_000 });
      expect((await cloud.stats()).received).toEqual(expected);
      const status = await lab.cli(['outbox', 'status'], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`${GARBAGE} quarantined files (.bad): not valid spill records, never queued`);
    },
    TEST_TIMEOUT,
  );

  it(
    `${GARBAGE} garbage spill files: the daemon's pass quarantines each as .bad, delivers the valid ones and keeps running`,
    async () => {
      const lab = useLab();
      const cloud = await lab.cloud();
      const h = lab.home();
      const expected = plantSpill(h, 'spill-daemon');
      const env = h.env(cloud.url);
      const started = await lab.daemonStart(h, env, ['--tick', '1s']);
      expect(started.code, started.stderr).toBe(0);
      await waitForDelivery({ cloud, home: h, expected, timeoutMs: 60_000 });
      await waitFor(() => h.spill().bad.length === GARBAGE, {
        timeoutMs: 30_000,
        what: 'every garbage file quarantined',
      });
      expectAllQuarantined(h);
      expect((await cloud.stats()).received).toEqual(expected);
      expect(started.pid !== null && isOurCliProcess(started.pid), 'the daemon is still alive').toBe(true);
      const status = await lab.cli(['daemon', 'status'], env);
      expect(status.code, status.stdout + status.stderr).toBe(0);
    },
    TEST_TIMEOUT,
  );

  it(
    `daemon status on a sample of garbage pid/state files: LSB code and a message naming the file, no crash`,
    async () => {
      const lab = useLab();
      const pids = sample(pidFileGarbage, CLI_SAMPLE, 5);
      const states = sample(stateFileGarbage, CLI_SAMPLE, 6);
      const cases = pids.map((pid, i) => ({ pid: i % 3 === 2 ? null : pid, state: states[i] as Buffer }));
      const results = await mapLimit(cases, PARALLEL, async (c) => {
        const h = lab.home();
        if (c.pid !== null) writeHomeFile(h.paths.pidFile, c.pid);
        writeHomeFile(h.paths.stateFile, c.state);
        const text = await lab.cli(['daemon', 'status'], h.env(null));
        const json = await lab.cli(['daemon', 'status', '--json'], h.env(null));
        return { c, text, json };
      });
      for (const { c, text, json } of results) {
        const context = `${seedInfo()} pid=${JSON.stringify(c.pid?.toString('utf8'))} state=${JSON.stringify(c.state.toString('utf8').slice(0, 60))}\n${text.stdout}${text.stderr}`;
        // Garbage pid file → stale (1); no pid file → not running (3), whatever the state file holds.
        expect(text.code, context).toBe(c.pid === null ? 3 : 1);
        expect(json.code, context).toBe(text.code);
        expect(text.stdout + text.stderr, context).toMatch(c.pid === null ? /not running/i : /stale/i);
        if (c.pid !== null) expect(text.stdout + text.stderr, context).toContain('daemon.pid');
        // The state file is named as unusable, with the reason, and the JSON says the same.
        expect(text.stdout, context).toMatch(/state file\s+unusable \(/);
        const report = JSON.parse(json.stdout) as Record<string, unknown>;
        expect(report, context).toMatchObject(
          c.pid === null
            ? { status: 'notRunning', exitCode: 3, stateFile: 'garbage' }
            : { status: 'stale', exitCode: 1, staleReason: 'invalidPid', stateFile: 'garbage' },
        );
        expect(report.stateFileError, context).toEqual(expect.any(String));
        expect(text.stderr + json.stderr, context).not.toMatch(NO_STACK);
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'daemon status shows what a garbage pid or state file holds escaped: no terminal control characters',
    async () => {
      const lab = useLab();
      // A pid file holding an escape sequence and a newline, a state file cut short with another one.
      const h = lab.home();
      writeHomeFile(h.paths.pidFile, Buffer.from('\u001b[31mRED\nforged line\u0007'));
      writeHomeFile(h.paths.stateFile, Buffer.from('{"version":\n\u001b[2J'));
      const r = await lab.cli(['daemon', 'status'], h.env(null));
      expect(r.code, r.stdout).toBe(1);
      const shown = r.stdout + r.stderr;
      // The file's bytes are shown, but as text (escaped), so they can neither drive the terminal nor
      // forge a line of the report.
      expect(controlCharacters(shown), shown).toEqual([]);
      expect(
        shown.split('\n').filter((line) => line.startsWith('forged line')),
        shown,
      ).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'enqueue names a garbage payload escaped: no terminal control characters from the payload',
    async () => {
      const lab = useLab();
      const h = lab.home();
      const r = await lab.cli(['enqueue', 'mcp_query', '-'], h.env(null), { input: '\u001b[2J\nforged line' });
      expect(r.code, r.stderr).toBe(2);
      expect(controlCharacters(r.stderr), r.stderr).toEqual([]);
      expect(r.stderr.split('\n').filter((line) => line.startsWith('forged line'))).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'daemon start over garbage pid/state files reclaims the home and runs; stop leaves nothing behind',
    async () => {
      const lab = useLab();
      const cloud = await lab.cloud();
      const pids = sample(pidFileGarbage, sized(3, 30), 7);
      const states = sample(stateFileGarbage, sized(3, 30), 8);
      for (let i = 0; i < pids.length; i++) {
        const h = lab.home();
        writeHomeFile(h.paths.pidFile, pids[i] as Buffer);
        writeHomeFile(h.paths.stateFile, states[i] as Buffer);
        const env = h.env(cloud.url);
        const context = `${seedInfo()} pid=${JSON.stringify((pids[i] as Buffer).toString('utf8'))}`;
        const started = await lab.daemonStart(h, env);
        expect(started.code, `${context}\n${started.stdout}${started.stderr}`).toBe(0);
        expect(h.pidFile(), context).toEqual({ kind: 'pid', pid: started.pid });
        expect(h.state().kind, context).toBe('ok');
        const stopped = await lab.cli(['daemon', 'stop'], env);
        expect(stopped.code, `${context}\n${stopped.stdout}${stopped.stderr}`).toBe(0);
        expect(h.pidFile(), context).toEqual({ kind: 'missing' });
      }
    },
    TEST_TIMEOUT,
  );
});
