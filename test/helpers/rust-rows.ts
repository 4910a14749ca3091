/**
 * Arbitraries for outbox rows as the Rust binary may store them, for all 8 kinds, each with the body
 * Rust would send for it (or the fact that Rust could never parse it). Built from the tables of
 * reference/rust-wire.md §2, written here on their own: the expected bodies come from these tables,
 * not from src/machines/contracts, so a test comparing the two can fail.
 *
 * A generated row: every optional field present, absent or null; aliases; unknown keys; keys in any
 * order; non-string array items where Rust filters them. An invalid row: one thing Rust's serde (or
 * `validate()`) refuses.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A stored row and what Rust does with it. */
export type RustRow =
  | {
      readonly kind: string;
      readonly stored: string;
      readonly outcome: 'sent';
      /** The request path and the exact body text Rust sends (a batch kind: one element). */
      readonly path: string;
      readonly body: string;
    }
  | { readonly kind: string; readonly stored: string; readonly outcome: 'unparseable' }
  | { readonly kind: string; readonly stored: string; readonly outcome: 'skipped' };

/** A stored value and the value Rust re-serialises from it (undefined: the key is left out). */
interface Pair {
  readonly stored: Json;
  readonly expected: Json | undefined;
}

const same = (arb: fc.Arbitrary<Json>): fc.Arbitrary<Pair> => arb.map((v) => ({ stored: v, expected: v }));

// Strings: printable ASCII mostly, some wider Unicode (never lone surrogates: serde refuses them).
const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
);
const STR = same(text);
const intIn = (min: number, max: number): fc.Arbitrary<Pair> => same(fc.integer({ min, max }));
const U32 = intIn(0, 4_294_967_295);
const I32 = intIn(-2_147_483_648, 2_147_483_647);
const I64 = same(fc.maxSafeInteger());
const U64 = same(fc.maxSafeNat());
const STRINGS = same(fc.array(text, { maxLength: 4 }));

/** Values of the wrong type for a field of `type`. */
function wrong(type: 'string' | 'int' | 'uint' | 'bool' | 'strings' | 'object' | 'number'): fc.Arbitrary<Json> {
  const floats = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d));
  switch (type) {
    case 'string':
      return fc.oneof(fc.integer(), fc.boolean(), fc.constant([] as Json), fc.constant({} as Json));
    case 'int':
      return fc.oneof(floats, text, fc.boolean(), fc.constant(2 ** 64));
    case 'uint':
      return fc.oneof(fc.integer({ min: -1000, max: -1 }), floats, text);
    case 'bool':
      return fc.oneof(fc.integer(), text, fc.constant('true'));
    case 'strings':
      return fc.oneof(
        text,
        fc.constant([1] as Json),
        fc.tuple(text, fc.integer()).map(([a, b]) => [a, b]),
      );
    case 'object':
      return fc.oneof(text, fc.integer(), fc.constant([] as Json));
    case 'number':
      return fc.oneof(text, fc.boolean(), fc.constant([] as Json));
  }
}

interface F {
  readonly key: string;
  readonly gen: fc.Arbitrary<Pair>;
  /** `req`: required; `opt`: Option (missing or null → None); `def`: serde(default), null refused. */
  readonly rule: 'req' | 'opt' | 'def';
  /** What Rust writes for None (opt) */
  readonly none?: 'omit' | 'null';
  readonly defaultValue?: Json;
  readonly omitEmpty?: boolean;
  readonly alias?: string;
  readonly bad: fc.Arbitrary<Json>;
}

type Choice =
  | { readonly how: 'value'; readonly pair: Pair; readonly alias: boolean }
  | { readonly how: 'absent' | 'null' };

function choice(f: F): fc.Arbitrary<Choice> {
  const value = fc
    .tuple(f.gen, f.alias ? fc.boolean() : fc.constant(false))
    .map(([pair, alias]): Choice => ({ how: 'value', pair, alias }));
  if (f.rule === 'req') return value;
  if (f.rule === 'def') return fc.oneof(value, fc.constant<Choice>({ how: 'absent' }));
  return fc.oneof(value, fc.constant<Choice>({ how: 'absent' }), fc.constant<Choice>({ how: 'null' }));
}

const UNKNOWN_KEY = fc.string({ minLength: 1, maxLength: 8 }).map((k) => `zz_${k}`);

/** A struct Rust reads with serde: stored with keys in any order plus unknown keys; expected in struct order. */
function struct(fields: readonly F[]): fc.Arbitrary<Pair> {
  return fc
    .tuple(
      fc.tuple(...fields.map(choice)),
      fc.dictionary(UNKNOWN_KEY, fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>, { maxKeys: 2 }),
      fc.integer(),
    )
    .map(([choices, unknown, seed]) => {
      const stored: [string, Json][] = Object.entries(unknown);
      const expected: { [key: string]: Json } = {};
      fields.forEach((f, i) => {
        const c = choices[i] as Choice;
        if (c.how === 'value') {
          stored.push([c.alias && f.alias ? f.alias : f.key, c.pair.stored]);
          const v = c.pair.expected;
          if (v !== undefined && !(f.omitEmpty && Array.isArray(v) && v.length === 0)) expected[f.key] = v;
        } else {
          if (c.how === 'null') stored.push([f.key, null]);
          if (f.rule === 'def') {
            const d = f.defaultValue ?? null;
            if (!(f.omitEmpty && Array.isArray(d) && d.length === 0)) expected[f.key] = d;
          } else if (f.none === 'null') expected[f.key] = null;
        }
      });
      return { stored: Object.fromEntries(shuffle(stored, seed)), expected };
    });
}

/** The same struct with exactly one thing Rust's serde refuses. */
function brokenStruct(fields: readonly F[]): fc.Arbitrary<Json> {
  return fc
    .tuple(struct(fields), fc.nat({ max: fields.length - 1 }), fc.nat({ max: 2 }))
    .chain(([good, index, how]) => {
      const f = fields[index] as F;
      const base = { ...(good.stored as { [key: string]: Json }) };
      if (f.alias) delete base[f.alias];
      if (how === 0 && f.rule === 'req') {
        delete base[f.key];
        return fc.constant<Json>(base);
      }
      if (how === 1 && f.rule !== 'opt') {
        base[f.key] = null;
        return fc.constant<Json>(base);
      }
      return f.bad.map((bad): Json => ({ ...base, [f.key]: bad }));
    });
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = items.slice();
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const req = (key: string, gen: fc.Arbitrary<Pair>, bad: fc.Arbitrary<Json>, alias?: string): F => ({
  key,
  gen,
  rule: 'req',
  bad,
  ...(alias ? { alias } : {}),
});
const opt = (key: string, gen: fc.Arbitrary<Pair>, none: 'omit' | 'null', bad: fc.Arbitrary<Json>): F => ({
  key,
  gen,
  rule: 'opt',
  none,
  bad,
});

/** escape_path_id, written from its description: unreserved characters kept, every other UTF-8 byte %XX. */
export function escapeId(id: string): string {
  return encodeURIComponent(id).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// ---------------------------------------------------------------------------------------------
// The kinds (rust-wire §2.1–2.8)

const NOT_OBJECT: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.integer(),
  text,
  fc.constant([] as Json),
  fc.boolean(),
);

const sent = (kind: string, stored: Json, path: string, body: Json): RustRow => ({
  kind,
  stored: JSON.stringify(stored),
  outcome: 'sent',
  path,
  body: JSON.stringify(body),
});
const unparseable = (kind: string, stored: Json): RustRow => ({
  kind,
  stored: JSON.stringify(stored),
  outcome: 'unparseable',
});

const trajectoryRow: fc.Arbitrary<RustRow> = fc.oneof(
  fc
    .tuple(text, fc.option(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, { nil: undefined }), UNKNOWN_KEY)
    .map(([id, steps, extra]) => {
      const stored: { [key: string]: Json } = { [extra]: 1, pr_review_id: id };
      if (steps !== undefined) stored.steps = steps;
      return sent('trajectory', stored, `/reviews/${escapeId(id)}/trajectory`, {
        steps: steps === undefined ? [] : steps,
      });
    }),
  fc
    .oneof(
      NOT_OBJECT,
      wrong('string').map((id): Json => ({ pr_review_id: id, steps: [] })),
      fc.constant<Json>({ steps: [] }),
    )
    .map((v) => unparseable('trajectory', v)),
);

const METRICS: readonly F[] = [
  opt('inputTokens', U32, 'omit', wrong('uint')),
  opt('outputTokens', U32, 'omit', wrong('uint')),
  opt(
    'estimatedCostUsd',
    same(fc.double({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1e6 })),
    'omit',
    wrong('number'),
  ),
  opt('durationMs', U64, 'omit', wrong('uint')),
  opt('perspectiveCount', U32, 'omit', wrong('uint')),
  opt('pastVerdictsUsed', U32, 'omit', wrong('uint')),
];
const reviewMetricsRow: fc.Arbitrary<RustRow> = fc.oneof(
  fc.tuple(text, fc.option(struct(METRICS), { nil: undefined })).map(([id, req]) => {
    const stored: { [key: string]: Json } = { review_id: id };
    if (req !== undefined) stored.req = req.stored;
    return sent('review_metrics', stored, `/reviews/${escapeId(id)}/metrics`, req?.expected ?? {});
  }),
  fc
    .oneof(
      NOT_OBJECT,
      fc.constant<Json>({ review_id: 'r', req: null }),
      fc
        .tuple(
          text,
          NOT_OBJECT.filter((v) => v !== null),
        )
        .map(([id, req]): Json => ({ review_id: id, req })),
      brokenStruct(METRICS).map((req): Json => ({ review_id: 'r', req })),
    )
    .map((v) => unparseable('review_metrics', v)),
);

const ACCEPTED: readonly F[] = [
  req('beforeCode', same(text.map((t) => `before:${t}`)), wrong('string')),
  req('afterCode', same(text.map((t) => `after:${t}`)), wrong('string')),
  opt('filePath', STR, 'omit', wrong('string')),
  opt('repoFullName', STR, 'omit', wrong('string')),
  opt('targetPrNumber', I64, 'omit', wrong('int')),
  opt('language', STR, 'omit', wrong('string')),
  opt('acceptanceSource', STR, 'omit', wrong('string')),
  opt('client', STR, 'omit', wrong('string')),
  opt('diffSignature', STR, 'omit', wrong('string')),
  { key: 'ruleIds', gen: STRINGS, rule: 'def', defaultValue: [], omitEmpty: true, bad: wrong('strings') },
];
const acceptedEditRow: fc.Arbitrary<RustRow> = fc.oneof(
  struct(ACCEPTED).map((p) => sent('accepted_edit', p.stored, '/accepted-edits', p.expected as Json)),
  fc.oneof(NOT_OBJECT, brokenStruct(ACCEPTED)).map((v) => unparseable('accepted_edit', v)),
);

/** mcp_query: any JSON; every field falls back to its default (§2.5). */
const mcpQueryRow: fc.Arbitrary<RustRow> = fc
  .record(
    {
      file: fc.oneof(text, fc.integer(), fc.constant(null)),
      intent: fc.oneof(text, fc.constant(null), fc.integer()),
      rules_injected: fc.oneof(fc.nat(), fc.integer({ min: -50, max: -1 }), fc.constant(2.5), text),
      strict_match_count: fc.oneof(fc.nat({ max: 40 }), fc.constant(-3), fc.constant('7')),
      rule_titles: fc.oneof(fc.array(fc.oneof(text, fc.integer(), fc.constant(null)), { maxLength: 14 }), text),
      rule_ids: fc.array(fc.oneof(text, fc.boolean()), { maxLength: 14 }),
      client_label: fc.oneof(text, fc.constant(''), fc.constant(null), fc.integer()),
      repo_full_name: fc.oneof(
        fc.constant(null),
        fc.constant('   '),
        text.map((t) => ` acme/${t.replace(/[\s\u0085]/g, '')} `),
        fc.integer(),
      ),
    },
    { requiredKeys: [] },
  )
  .chain((stored) =>
    fc.oneof({ weight: 5, arbitrary: fc.constant<Json>(stored as Json) }, { weight: 1, arbitrary: NOT_OBJECT }),
  )
  .map((stored) => {
    const p = (typeof stored === 'object' && stored !== null && !Array.isArray(stored) ? stored : {}) as {
      [key: string]: Json;
    };
    const s = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null);
    const n = (v: Json | undefined): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);
    const list = (v: Json | undefined): string[] =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, 10) : [];
    const body: { [key: string]: Json } = {
      file: s(p.file) ?? '',
      intent: s(p.intent),
      rulesInjected: n(p.rules_injected),
      strictMatchCount: n(p.strict_match_count),
      ruleTitles: list(p.rule_titles),
      ruleIds: list(p.rule_ids),
      client: s(p.client_label) ?? 'mcp-server',
    };
    const repo = (s(p.repo_full_name) ?? '').trim();
    if (repo !== '') body.repoFullName = repo;
    return sent('mcp_query', stored, '/dashboard/mcp-query', body);
  });

const EVENT_TYPES = ['pull_request_review_comment', 'pull_request_review', 'issue_comment'];
const COMMENT: readonly F[] = [
  opt('eventType', same(fc.constantFrom(...EVENT_TYPES)), 'omit', fc.constant('review')),
  opt('filePath', STR, 'null', wrong('string')),
  opt('lineNumber', I32, 'omit', wrong('int')),
  req('content', STR, wrong('string')),
  opt('author', STR, 'null', wrong('string')),
  req('commentUrl', STR, wrong('string')),
  opt('threadId', STR, 'null', wrong('string')),
  opt('occurredAt', STR, 'null', wrong('string')),
];
const listOf = (item: fc.Arbitrary<Pair>): fc.Arbitrary<Pair> =>
  fc
    .array(item, { maxLength: 2 })
    .map((items) => ({ stored: items.map((i) => i.stored), expected: items.map((i) => i.expected as Json) }));
const REVIEW: readonly F[] = [
  opt('provider', STR, 'omit', wrong('string')),
  opt('providerHost', STR, 'omit', wrong('string')),
  req('repoFullName', STR, wrong('string')),
  opt('sourceRepoFullName', STR, 'omit', wrong('string')),
  req('prNumber', I32, wrong('int')),
  opt('prTitle', STR, 'null', wrong('string')),
  req('comments', listOf(struct(COMMENT)), fc.oneof(fc.constant<Json>([{ content: 'c' }]), text, fc.integer())),
];
const IMPORT: readonly F[] = [
  req('reviews', listOf(struct(REVIEW)), fc.oneof(fc.constant<Json>([{}]), text, fc.integer())),
];
const importedReviewsRow: fc.Arbitrary<RustRow> = fc.oneof(
  struct(IMPORT).map((p) => sent('imported_reviews', p.stored, '/reviews/import', p.expected as Json)),
  fc
    .oneof(
      NOT_OBJECT,
      brokenStruct(IMPORT),
      brokenStruct(REVIEW).map((r): Json => ({ reviews: [r] })),
    )
    .map((v) => unparseable('imported_reviews', v)),
);

const SCOPE: readonly F[] = [
  req('anchor_kind', same(fc.constant('file')), wrong('string')),
  req('anchor_key', STR, wrong('string')),
  opt('parent_path', STR, 'omit', wrong('string')),
  opt('display_name', STR, 'omit', wrong('string')),
];
export const OBSERVATION_FIELDS: readonly F[] = [
  req('session_id', STR, wrong('string')),
  req('ts_ms', I64, wrong('int')),
  req(
    'obs_type',
    same(fc.constantFrom('bugfix', 'feature', 'refactor', 'change', 'discovery', 'decision')),
    wrong('string'),
  ),
  req('tool', same(fc.constantFrom('Edit', 'MultiEdit', 'Write')), wrong('string')),
  opt('file_path', STR, 'null', wrong('string')),
  opt('scope', struct(SCOPE), 'omit', fc.oneof(text, fc.constant<Json>({ anchor_kind: 'file' }))),
  req('title', STR, wrong('string')),
  opt('narrative', STR, 'null', wrong('string')),
  opt('diff_excerpt', STR, 'null', wrong('string')),
  req('content_hash', same(fc.stringMatching(/^[0-9a-f]{16}$/)), wrong('string')),
];
const observationRow: fc.Arbitrary<RustRow> = fc.oneof(
  {
    weight: 3,
    arbitrary: struct(OBSERVATION_FIELDS).map((p) =>
      sent('observation', p.stored, '/cloud/observations', p.expected as Json),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(NOT_OBJECT, brokenStruct(OBSERVATION_FIELDS)).map((v) => unparseable('observation', v)),
  },
);

const nonBlank = fc.string({ minLength: 1, maxLength: 10 }).map((t) => `x${t}`);
const TRIAGE_KNOWN = ['superseded_by', 'clustered_into', 'dropped_low_signal'];
/** localTriage: lenient: a value that does not decode becomes None (omitted). */
const triage: fc.Arbitrary<Pair> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...TRIAGE_KNOWN), nonBlank, fc.integer({ min: 1, max: 2 ** 40 }), nonBlank)
    .map(([status, reason, at, ref]) => {
      const value: { [key: string]: Json } = { status, reason, at, ref: `ref-${ref}` };
      return { stored: { ...value, zz_extra: true }, expected: { status, reason, ref: `ref-${ref}`, at } };
    }),
  fc
    .tuple(
      text.filter((s) => !TRIAGE_KNOWN.includes(s)),
      text,
      fc.integer(),
    )
    .map(([status, reason, at]) => ({ stored: { status, reason, at }, expected: { status: 'unknown', reason, at } })),
  fc
    .oneof(
      fc.constant<Json>({ status: 'dropped_low_signal' }),
      text,
      fc.constant<Json>({ status: 1, reason: 'r', at: 1 }),
    )
    .map((stored) => ({ stored, expected: undefined })),
);
const CANDIDATE: readonly F[] = [
  req('session_id', same(nonBlank), wrong('string')),
  req('ts_ms', I64, wrong('int')),
  req('source_repo', same(nonBlank.map((r) => `acme/${r}`)), wrong('string')),
  req('title', same(fc.string({ minLength: 1, maxLength: 120 })), wrong('string')),
  req('body', same(fc.string({ minLength: 1, maxLength: 300 })), wrong('string')),
  req('file_patterns', same(fc.array(text, { minLength: 1, maxLength: 3 })), wrong('strings')),
  req('gate_model', same(nonBlank), wrong('string')),
  req(
    'gate_verdict',
    same(
      fc.oneof(
        fc.constant('KEEP'),
        nonBlank.map((t) => `MERGE:${t}`),
      ),
    ),
    wrong('string'),
  ),
  req('content_hash', same(fc.stringMatching(/^[0-9a-f]{16}$/)), wrong('string')),
  req('origin', same(fc.constant('session_mined')), wrong('string')),
  req('requires_human_approval', same(fc.constant(true)), wrong('bool')),
  { key: 'localTriage', alias: 'local_triage', gen: triage, rule: 'opt', none: 'omit', bad: fc.constant(null) },
  {
    key: 'localEvidence',
    alias: 'local_evidence',
    gen: fc.tuple(fc.nat(), fc.maxSafeInteger()).map(([n, at]) => ({
      stored: { updatedAt: at, distinctEvidenceCount: n },
      expected: { distinctEvidenceCount: n, updatedAt: at },
    })),
    rule: 'opt',
    none: 'omit',
    bad: fc.oneof(
      fc.constant<Json>({ distinctEvidenceCount: -1, updatedAt: 1 }),
      fc.constant<Json>({ updatedAt: 1 }),
      text,
    ),
  },
];
/** Breaks `validate()` only (serde reads it fine). */
const INVALID_CANDIDATE: readonly [string, Json][] = [
  ['session_id', '  '],
  ['source_repo', ''],
  ['title', ''],
  ['title', 'x'.repeat(121)],
  ['body', 'y'.repeat(2001)],
  ['file_patterns', []],
  ['file_patterns', ['a', 'b', 'c', 'd']],
  ['gate_model', ' '],
  ['gate_verdict', 'keep'],
  ['gate_verdict', 'MERGE: '],
  ['origin', 'session'],
  ['requires_human_approval', false],
  ['localTriage', { status: 'superseded_by', reason: 'r', at: 5 }],
  ['localTriage', { status: 'clustered_into', reason: ' ', ref: 'x', at: 5 }],
  ['localTriage', { status: 'dropped_low_signal', reason: 'r', at: 0 }],
];
const approved = (stored: Json): Json => ({ ...(stored as object), localReview: { status: 'Approved', by: 'me' } });
const candidateRow: fc.Arbitrary<RustRow> = fc.oneof(
  {
    weight: 3,
    arbitrary: struct(CANDIDATE).map((p) =>
      sent('session_mined_candidate', approved(p.stored), '/cloud/session-mined-candidates', [p.expected as Json]),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        brokenStruct(CANDIDATE.filter((f) => f.key !== 'localTriage')),
        fc.tuple(struct(CANDIDATE), fc.constantFrom(...INVALID_CANDIDATE)).map(([p, [key, value]]): Json => {
          const s = { ...(p.stored as { [key: string]: Json }) };
          delete s.local_triage;
          s[key] = value;
          return s;
        }),
      )
      .map((v) => unparseable('session_mined_candidate', approved(v))),
  },
);

const fixAcceptanceRow: fc.Arbitrary<RustRow> = (fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>).map((v) => ({
  kind: 'fix_acceptance',
  stored: JSON.stringify(v),
  outcome: 'skipped' as const,
}));

export const ROWS_BY_KIND: Readonly<Record<string, fc.Arbitrary<RustRow>>> = {
  trajectory: trajectoryRow,
  review_metrics: reviewMetricsRow,
  accepted_edit: acceptedEditRow,
  fix_acceptance: fixAcceptanceRow,
  mcp_query: mcpQueryRow,
  imported_reviews: importedReviewsRow,
  observation: observationRow,
  session_mined_candidate: candidateRow,
};

export const anyRustRow: fc.Arbitrary<RustRow> = fc.oneof(...Object.values(ROWS_BY_KIND));
