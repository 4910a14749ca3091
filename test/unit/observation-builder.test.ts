/**
 * The observation builder against the Rust hook (reference/rust-hook.md): the worked examples A–D
 * byte for byte, Rust's string semantics case by case, and properties over generated events — the
 * hash recomputed from the payload matches, the limits hold by Rust's counting, denied paths yield
 * nothing and private regions never come out.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claudeCode } from '../../src/observation/agents/claude-code.js';
import {
  type ClassifyInput,
  classify,
  DIFF_EXCERPT_MAX_BYTES,
  deriveScope,
  EXCERPT_TRUNCATION_MARKER,
  type ObservationPayload,
  serializeObservation,
} from '../../src/observation/classify.js';
import { observe } from '../../src/observation/edit-event.js';
import { isPrivacyDenied, stripPrivateTaggedRegions } from '../../src/observation/privacy.js';
import { charCount, rustLines, rustTrim, truncateChars, utf8Length } from '../../src/observation/rust-text.js';

const TS = 1714000000000;
const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const deps = { sha256Hex, nowMs: TS };

/** What `hook claude-code` would enqueue for this stdin, or null. */
function fromStdin(stdin: string): string | null {
  const parsed = claudeCode.parse(stdin);
  if (parsed.kind !== 'edits') return null;
  const [event] = parsed.events;
  if (!event) return null;
  const result = observe(event, deps);
  return result.kind === 'observation' ? serializeObservation(result.payload) : null;
}

function classified(input: Partial<ClassifyInput>): ObservationPayload {
  const result = classify(
    { tool: 'Edit', filePath: 'a.rs', diff: null, newText: null, oldText: null, sessionId: null, ...input },
    deps,
  );
  if (result.kind !== 'observation') throw new Error(result.why);
  return result.payload;
}

describe('the worked examples of the Rust digest', () => {
  it('A: Edit, bugfix, absolute path', () => {
    const stdin = `{"session_id":"sess-123","cwd":"/home/dev/proj","hook_event_name":"PostToolUse","tool_name":"Edit",
 "tool_input":{"file_path":"/home/dev/proj/src/auth/login.rs",
               "old_string":"// FIXME: handle None\\nlet u = user.unwrap();",
               "new_string":"let u = user?;"},
 "tool_response":{"filePath":"/home/dev/proj/src/auth/login.rs"}}`;
    expect(fromStdin(stdin)).toBe(
      '{"session_id":"sess-123","ts_ms":1714000000000,"obs_type":"bugfix","tool":"Edit","file_path":"/home/dev/proj/src/auth/login.rs","scope":{"anchor_kind":"file","anchor_key":"home/dev/proj/src/auth/login.rs","parent_path":"home/dev/proj/src/auth","display_name":"login.rs"},"title":"Edit /home/dev/proj/src/auth/login.rs: remove bug marker","narrative":"-// FIXME: handle None\\n-let u = user.unwrap();\\n+let u = user?;","diff_excerpt":"-// FIXME: handle None\\n-let u = user.unwrap();\\n+let u = user?;\\n","content_hash":"ff7ab81c02025b41"}',
    );
  });

  it('B: MultiEdit, no session_id, narrative null', () => {
    const stdin = `{"hook_event_name":"PostToolUse","tool_name":"MultiEdit","cwd":"/home/dev/proj",
 "tool_input":{"file_path":"src/util.ts","edits":[
   {"old_string":"const a=1;","new_string":"const a = 1;"},
   {"old_string":"let b=2;","new_string":"let b = 2;"}]}}`;
    expect(fromStdin(stdin)).toBe(
      '{"session_id":"","ts_ms":1714000000000,"obs_type":"refactor","tool":"MultiEdit","file_path":"src/util.ts","scope":{"anchor_kind":"file","anchor_key":"src/util.ts","parent_path":"src","display_name":"util.ts"},"title":"MultiEdit src/util.ts: whitespace/rename","narrative":null,"diff_excerpt":null,"content_hash":"f076c67980331833"}',
    );
  });

  it('C: Write with CRLF content', () => {
    const stdin = JSON.stringify({
      session_id: 's-w',
      hook_event_name: 'PostToolUse',
      tool_name: 'Write',
      tool_input: { file_path: '/repo/docs/notes.md', content: '# Notes\r\nline 2\r\n' },
    });
    const payload = JSON.parse(fromStdin(stdin) as string);
    expect(payload).toMatchObject({
      obs_type: 'feature',
      title: 'Write /repo/docs/notes.md: new file',
      narrative: '+# Notes\n+line 2',
      diff_excerpt: '+# Notes\n+line 2\n',
      content_hash: '811356a43819dce3',
    });
  });

  it('D: the classifier unit-test fixture', () => {
    const payload = classified({
      filePath: 'src/foo.rs',
      sessionId: 'sess_test',
      oldText: 'let x = 1;',
      newText: 'let x = compute_answer();',
      diff: '-let x = 1;\n+let x = compute_answer();\n',
    });
    expect(payload.title).toBe('Edit src/foo.rs: edit');
    expect(payload.narrative).toBe('-let x = 1;\n+let x = compute_answer();');
    expect(payload.content_hash).toBe('ff1b187a1f9ffc6e');
  });
});

describe("Rust's string semantics", () => {
  it.each([
    ['', []],
    ['\n', ['']],
    ['a\nb', ['a', 'b']],
    ['a\r\nb\r\n', ['a', 'b']],
    ['x\ry', ['x\ry']],
    ['a\r', ['a\r']],
    ['a\r\r\n', ['a\r']],
    ['\n\nz', ['', '', 'z']],
  ])('lines(%j)', (text, lines) => {
    expect(rustLines(text)).toEqual(lines);
  });

  it('trims Unicode White_Space, not U+FEFF, and U+0085 too', () => {
    expect(rustTrim('\u0085\u00a0 a \u3000\u2028')).toBe('a');
    expect(rustTrim('\ufeffa')).toBe('\ufeffa');
    expect(rustTrim('\u001fa')).toBe('\u001fa');
  });

  it('counts chars, not UTF-16 units, at the 120 limit', () => {
    const emoji = '😀'.repeat(125);
    const cut = truncateChars(emoji, 120);
    expect(charCount(cut)).toBe(120);
    expect(cut.endsWith('😀…')).toBe(true);
    expect(truncateChars('😀'.repeat(120), 120)).toBe('😀'.repeat(120));
  });

  it('cuts the excerpt on bytes: 4,096 ASCII chars give 1,039 bytes, 700 × é gives 1,038', () => {
    const ascii = classified({ diff: `+${'a'.repeat(4095)}`, newText: 'x' }).diff_excerpt as string;
    expect(utf8Length(ascii)).toBe(1039);
    const accents = classified({ diff: `+${'é'.repeat(700)}`, newText: 'x' }).diff_excerpt as string;
    expect(utf8Length(accents)).toBe(1038);
    expect(accents.endsWith(EXCERPT_TRUNCATION_MARKER)).toBe(true);
  });
});

describe('classification', () => {
  it.each([
    ['DEBUG does not count as BUG', 'DEBUG x', 'y', 'change'],
    ['TODO_x does not count', 'TODO_x', 'y', 'change'],
    ['(TODO) counts', '(TODO)', 'y', 'bugfix'],
    ['éTODO counts', 'éTODO', 'y', 'bugfix'],
    ['identical strings are refactor (rule 3 has no old != new guard)', 'a b', 'a b', 'refactor'],
    ['whitespace only', 'a  b', 'ab', 'refactor'],
  ])('%s', (_, oldText, newText, obsType) => {
    const diff = `${rustLines(oldText)
      .map((l) => `-${l}\n`)
      .join('')}${rustLines(newText)
      .map((l) => `+${l}\n`)
      .join('')}`;
    expect(classified({ oldText, newText, diff }).obs_type).toBe(obsType);
  });

  it('-- comment lines read as headers, so a change to them falls to rule 6', () => {
    expect(classified({ oldText: '-- a', newText: '++ b', diff: '--- a\n+++ b\n' }).obs_type).toBe('change');
  });

  it('Write is feature even over an existing file; MultiEdit has no diff', () => {
    expect(classified({ tool: 'Write', newText: 'x', diff: '+x\n' }).obs_type).toBe('feature');
    const multi = classified({ tool: 'MultiEdit', oldText: 'a', newText: 'b' });
    expect(multi).toMatchObject({ obs_type: 'change', narrative: null, diff_excerpt: null });
  });

  it.each([
    ['src/auth/login/handler.rs', { anchor_key: 'src/auth/login/handler.rs', parent_path: 'src/auth/login' }],
    ['README.md', { anchor_key: 'README.md', display_name: 'README.md' }],
    ['./src//a.rs', { anchor_key: './src/a.rs', parent_path: './src', display_name: 'a.rs' }],
    ['C:\\repo\\big.txt', { anchor_key: 'C:\\repo\\big.txt', display_name: 'C:\\repo\\big.txt' }],
  ])('scope of %s', (path, scope) => {
    expect(deriveScope(path)).toMatchObject({ anchor_kind: 'file', ...scope });
  });

  it('omits scope for / and parent_path for one segment', () => {
    expect(deriveScope('///')).toBeUndefined();
    expect(serializeObservation(classified({ filePath: '/', diff: '+x\n', newText: 'x' }))).not.toContain('scope');
    expect(deriveScope('README.md')).not.toHaveProperty('parent_path');
  });
});

describe('privacy', () => {
  it.each([
    '.env',
    '.env.local',
    'config/.env',
    'x/.env/a.rs',
    'app.secrets.json',
    'x.secretsmanager.ts',
    'server.key',
    'app.PEM',
    'id_rsa',
    'id_rsa.pub',
    'credentials',
    'credentials.json',
    'C:\\Users\\me\\.ENV',
  ])('denies %s', (path) => {
    expect(isPrivacyDenied(path)).toBe(true);
  });

  it.each([
    '.envrc',
    '.env-local',
    'secrets.json',
    'keybindings.ts',
    'monkey.rs',
    'pem_parser.rs',
    'id_ed25519',
    'credentials_provider.rs',
  ])('allows %s', (path) => {
    expect(isPrivacyDenied(path)).toBe(false);
  });

  it('strips tagged regions: any case, across lines, unclosed to the end, no nesting', () => {
    expect(stripPrivateTaggedRegions('a<PRIVATE>x\ny</private>b')).toBe('a[redacted private content]b');
    expect(stripPrivateTaggedRegions('a<secret>x')).toBe('a[redacted private content]');
    expect(stripPrivateTaggedRegions('<private><secret>x</private>y</secret>')).toBe(
      '[redacted private content]y</secret>',
    );
    expect(stripPrivateTaggedRegions('<sensitive>x</private>')).toBe('[redacted private content]');
  });
});

// ---- properties ----

const SEGMENTS = ['src', 'a.ts', 'Lib', 'é', '..', '.', 'dir name', 'x.rs', '😀'];
const DENIED = ['.env', '.ENV.local', 'prod.secrets.yaml', 'server.key', 'app.pem', 'id_rsa', 'credentials.json'];

const pathArb = fc
  .record({
    parts: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 6 }),
    denied: fc.option(fc.constantFrom(...DENIED), { nil: undefined }),
    at: fc.nat(),
    sep: fc.constantFrom('/', '\\'),
    lead: fc.constantFrom('', '/', 'C:\\', '  '),
  })
  .map(({ parts, denied, at, sep, lead }) => {
    const all = [...parts];
    if (denied !== undefined) all.splice(at % (all.length + 1), 0, denied);
    return { path: lead + all.join(sep), denied: denied !== undefined };
  });

/** Text with CRLF, multibyte chars, long lines near the limits, and private regions spanning lines. */
const SECRET = 'S3CR3T-VALUE';
const textArb = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.constantFrom('\r\n', '\n', '\r', 'é', '😀', 'FIXME', 'TODO', '  ', '-', '+', '--'),
      fc.constantFrom(`<private>${SECRET}\n${SECRET}</private>`, `<SeCrEt>${SECRET}\r\n</secret>`),
      fc.nat({ max: 700 }).map((n) => 'é'.repeat(n)),
      fc.nat({ max: 1200 }).map((n) => 'x'.repeat(n)),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

const eventArb = fc.record({
  tool: fc.constantFrom('Edit', 'Write', 'MultiEdit'),
  session: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  path: pathArb,
  old: textArb,
  new: textArb,
  edits: fc.array(fc.record({ old_string: textArb, new_string: textArb }), { maxLength: 30 }),
});

function stdinOf(e: Record<string, unknown>): string {
  return JSON.stringify(e);
}

function toStdin(e: {
  tool: string;
  session: string | undefined;
  path: { path: string };
  old: string;
  new: string;
  edits: { old_string: string; new_string: string }[];
}): string {
  const input =
    e.tool === 'Write'
      ? { file_path: e.path.path, content: e.new }
      : e.tool === 'Edit'
        ? { file_path: e.path.path, old_string: e.old, new_string: e.new }
        : { file_path: e.path.path, edits: e.edits };
  return stdinOf({ session_id: e.session, hook_event_name: 'PostToolUse', tool_name: e.tool, tool_input: input });
}

describe('properties over generated Claude Code events', () => {
  it('denied paths give nothing; every other payload keeps the limits and its hash', () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const json = fromStdin(toStdin(e));
        if (e.path.denied) {
          expect(json).toBeNull();
          return;
        }
        if (json === null) return; // e.g. a MultiEdit whose new strings are all empty, as in Rust
        const p = JSON.parse(json) as ObservationPayload;
        expect(Object.keys(p).filter((k) => k !== 'scope')).toEqual([
          'session_id',
          'ts_ms',
          'obs_type',
          'tool',
          'file_path',
          'title',
          'narrative',
          'diff_excerpt',
          'content_hash',
        ]);
        const expected = sha256Hex(`${p.session_id}|${p.file_path}|${p.title}|${p.narrative ?? ''}`).slice(0, 16);
        expect(p.content_hash).toBe(expected);
        expect(p.file_path).toBe(rustTrim(e.path.path));
        expect(charCount(p.title)).toBeLessThanOrEqual(120);
        if (p.narrative !== null) {
          expect(charCount(p.narrative)).toBeLessThanOrEqual(500);
          expect(p.narrative).not.toContain(SECRET);
        }
        if (p.diff_excerpt !== null) {
          const bytes = utf8Length(p.diff_excerpt);
          expect(bytes).toBeLessThanOrEqual(DIFF_EXCERPT_MAX_BYTES + utf8Length(EXCERPT_TRUNCATION_MARKER));
          if (bytes > DIFF_EXCERPT_MAX_BYTES) expect(p.diff_excerpt.endsWith(EXCERPT_TRUNCATION_MARKER)).toBe(true);
          expect(p.diff_excerpt).not.toContain(SECRET);
        }
        if (e.tool === 'MultiEdit') expect(p.narrative).toBeNull();
      }),
      { numRuns: 400 },
    );
  });

  it('truncation and lines agree with straightforward references', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 2, max: 200 }), (s, max) => {
        const chars = Array.from(s);
        const expected = chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
        expect(truncateChars(s, max)).toBe(expected);
        expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', '\r', '\n', 'é'), { maxLength: 30 }), (units) => {
        const s = units.join('');
        // Reference: scan for \n; drop one \r before it; keep a last unterminated segment if non-empty.
        const out: string[] = [];
        let start = 0;
        for (let i = 0; i < s.length; i++) {
          if (s[i] === '\n') {
            const line = s.slice(start, i);
            out.push(line.endsWith('\r') ? line.slice(0, -1) : line);
            start = i + 1;
          }
        }
        if (start < s.length) out.push(s.slice(start));
        expect(rustLines(s)).toEqual(out);
      }),
    );
  });
});

describe('the builder stays pure', () => {
  it('no file under src/observation imports node:* or anything outside src/observation but import-free shared types', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { dirname, join } = await import('node:path');
    const root = join(import.meta.dirname, '..', '..', 'src', 'observation');
    const files = readdirSync(root, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8');
      const specifiers = [...text.matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => m[1] as string);
      for (const spec of specifiers) {
        expect(spec.startsWith('.'), `${file} imports ${spec}`).toBe(true);
        const depth = file.split('/').length - 1;
        const ups = spec.split('/').filter((s) => s === '..').length;
        if (ups <= depth) continue;
        // Outside: only a module that itself imports nothing (src/json-record.ts), so nothing impure comes along.
        const target = readFileSync(join(root, dirname(file), spec.replace(/\.js$/, '.ts')), 'utf8');
        expect(/(?:from|import\()\s*'/.test(target), `${file} imports ${spec}, which imports more`).toBe(false);
      }
      expect(text).not.toMatch(/\bprocess\.|Date\.now|Buffer\b/);
    }
  });
});

describe('the limits at their edges, by Rust counting', () => {
  const at = (n: number, unit: string) => unit.repeat(n);

  it('title: 120 chars stay, 121 become 119 + …, counting an emoji once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 90, max: 130 }), fc.constantFrom('a', 'é', '😀', '中'), (n, unit) => {
        // "Edit " + path + ": edit" is 11 chars of ASCII around the path.
        const title = classified({ filePath: at(n, unit), diff: '-a\n+b\n', oldText: 'a', newText: 'b' }).title;
        const total = n + 11;
        expect(charCount(title)).toBe(Math.min(total, 120));
        expect(title.endsWith('…')).toBe(total > 120);
      }),
    );
  });

  it('narrative: 500 chars stay, 501 become 499 + …', () => {
    fc.assert(
      fc.property(fc.integer({ min: 480, max: 520 }), fc.constantFrom('a', 'é', '😀'), (n, unit) => {
        // One `+` line of n - 1 units: the narrative is exactly n chars.
        const narrative = classified({ diff: `+${at(n - 1, unit)}\n`, newText: 'x' }).narrative as string;
        expect(charCount(narrative)).toBe(Math.min(n, 500));
        expect(narrative.endsWith('…')).toBe(n > 500);
      }),
    );
  });

  it('excerpt: 1,024 bytes stay, one more cuts on a char boundary and adds the marker', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 1040 }), fc.constantFrom('é', '😀', '中'), (pad, unit) => {
        // `+`, a multibyte char straddling byte `pad`, ASCII to fill: the cut never splits the char.
        const diff = `+${at(pad, 'a')}${unit}${at(20, 'b')}\n`;
        const excerpt = classified({ diff, newText: 'x' }).diff_excerpt as string;
        const bytes = utf8Length(diff);
        if (bytes <= DIFF_EXCERPT_MAX_BYTES) expect(excerpt).toBe(diff);
        else {
          expect(excerpt.endsWith(EXCERPT_TRUNCATION_MARKER)).toBe(true);
          const kept = excerpt.slice(0, -EXCERPT_TRUNCATION_MARKER.length);
          expect(diff.startsWith(kept)).toBe(true);
          expect(utf8Length(kept)).toBeLessThanOrEqual(DIFF_EXCERPT_MAX_BYTES);
          expect(utf8Length(kept) + utf8Length(Array.from(diff.slice(kept.length))[0] as string)).toBeGreaterThan(
            DIFF_EXCERPT_MAX_BYTES,
          );
        }
      }),
    );
  });
});
