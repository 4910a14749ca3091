/**
 * The demo's workload: a deterministic mix of outbox rows across every kind the daemon delivers,
 * shaped as the hooks and the Rust binary write them, plus what a real outbox also holds:
 * - one poison row the reference cloud is told to reject with 400 (it must end `abandoned` with its
 *   reason, without stalling the rest),
 * - a few exact repeats (a hook that fired twice): delivered, and kept once by the cloud's dedupe,
 * - a few legacy `fix_acceptance` rows, which are confirmed without being sent.
 * Pure: the same (rows, marker, base time) always gives the same rows.
 */

export interface DemoRow {
  readonly kind: string;
  readonly payloadJson: string;
}

export interface Workload {
  /** In enqueue order. */
  readonly rows: readonly DemoRow[];
  /** Rows per kind, the poison row, repeats and legacy rows included. */
  readonly byKind: Readonly<Record<string, number>>;
  /** Text only the poison row's body contains; the cloud answers it 400. */
  readonly poisonMarker: string;
  readonly poisonKind: string;
  /** Exact repeats of earlier rows. */
  readonly repeats: number;
  /** `fix_acceptance` rows: confirmed locally, never sent. */
  readonly localOnly: number;
  /** Distinct rows the cloud must end up holding (after dedupe). */
  readonly expectedReceived: number;
  /** Rows that must leave the outbox delivered (everything but the poison row). */
  readonly deliverable: number;
}

export const MIN_ROWS = 10;
export const MAX_ROWS = 200_000;

/** Shares of the rows left after the poison row, repeats and legacy rows; observations take the rest. */
const SHARES: readonly [string, number][] = [
  ['mcp_query', 0.12],
  ['accepted_edit', 0.08],
  ['review_metrics', 0.06],
  ['session_mined_candidate', 0.05],
  ['trajectory', 0.05],
  ['imported_reviews', 0.04],
];

const TOOLS = ['Edit', 'MultiEdit', 'Write', 'NotebookEdit'] as const;
const FILES = ['src/app.ts', 'src/db/query.rs', 'lib/parser.py', 'web/index.tsx', 'cmd/main.go', 'README.md'] as const;

/** A small deterministic generator (mulberry32), so the demo's order is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(list: readonly T[], i: number): T {
  return list[i % list.length] as T;
}

function hash(prefix: string, i: number): string {
  return `sha256:${prefix}${i.toString(16).padStart(12, '0')}`;
}

/** Where and when row `i` happened: its session, file and time. */
interface RowAt {
  readonly i: number;
  readonly session: string;
  readonly file: string;
  readonly ts: number;
}

/** One payload builder per kind, each shaped as the hooks and the Rust binary write that kind. */
const PAYLOADS: Readonly<Record<string, (at: RowAt) => unknown>> = {
  observation: ({ i, session, file, ts }) => ({
    session_id: session,
    ts_ms: ts,
    obs_type: 'edit',
    tool: pick(TOOLS, i),
    file_path: file,
    // Every Rust hook sends a scope object.
    scope: { anchor_kind: 'file', anchor_key: file },
    title: `Edited ${file} (#${i})`,
    narrative: `The agent changed ${file} while working on demo task ${i % 17}.`,
    diff_excerpt: `@@ -${i},2 +${i},3 @@\n-const limit = ${i};\n+const limit = ${i + 1};\n+// bumped by the demo`,
    content_hash: hash('0b5e', i),
  }),
  mcp_query: ({ i, file }) => ({
    file,
    intent: `find rules for ${file} (query ${i})`,
    rules_injected: i % 6,
    strict_match_count: i % 3,
    rule_titles: [`Prefer small functions (${i % 9})`],
    rule_ids: [`rule_${i % 9}`],
    client_label: 'difflore-demo',
    repo_full_name: 'acme/widgets',
  }),
  accepted_edit: ({ i, file }) => ({
    beforeCode: `let total = ${i};`,
    afterCode: `const total = ${i};`,
    filePath: file,
    repoFullName: 'acme/widgets',
    targetPrNumber: 100 + (i % 40),
    language: 'typescript',
    acceptanceSource: 'demo',
    client: 'difflore-demo',
    ruleIds: [`rule_${i % 9}`],
  }),
  review_metrics: ({ i }) => ({
    review_id: `rev_demo_${i}`,
    req: {
      inputTokens: 1000 + i,
      outputTokens: 200 + (i % 50),
      estimatedCostUsd: 0.01,
      durationMs: 900 + i,
      perspectiveCount: 3,
      pastVerdictsUsed: i % 4,
    },
  }),
  session_mined_candidate: ({ i, session, ts }) => ({
    session_id: session,
    ts_ms: ts,
    source_repo: 'acme/widgets',
    title: `Candidate rule ${i}`,
    body: `Always validate input ${i} at the boundary.`,
    file_patterns: ['src/**/*.ts'],
    gate_model: 'demo-gate',
    gate_verdict: 'KEEP',
    content_hash: hash('ca4d', i),
    origin: 'session_mined',
    requires_human_approval: true,
    // Approved: unapproved candidates are never sent, and the demo expects every row to go.
    localReview: { status: 'approved', reviewer: 'demo' },
  }),
  trajectory: ({ i, file }) => ({
    pr_review_id: `pr_demo_${i}`,
    steps: [
      { step: 'read', file },
      { step: 'comment', line: i % 120 },
    ],
  }),
  imported_reviews: ({ i, file }) => ({
    reviews: [
      {
        provider: 'github',
        repoFullName: 'acme/widgets',
        prNumber: 200 + (i % 50),
        prTitle: `Imported PR ${i}`,
        comments: [
          {
            eventType: 'pull_request_review_comment',
            filePath: file,
            lineNumber: 1 + (i % 80),
            content: `Imported review comment ${i}`,
            author: 'reviewer',
            commentUrl: `https://example.invalid/acme/widgets/pull/${200 + (i % 50)}#c${i}`,
          },
        ],
      },
    ],
  }),
  fix_acceptance: ({ i }) => ({ fix_id: `fix_demo_${i}`, accepted: true }),
};

function payloadFor(kind: string, i: number, baseMs: number): unknown {
  const build = PAYLOADS[kind];
  if (build === undefined) throw new Error(`no demo payload for kind ${kind}`);
  return build({ i, session: `demo-session-${Math.floor(i / 50)}`, file: pick(FILES, i), ts: baseMs + i });
}

/**
 * Builds `total` rows (MIN_ROWS ≤ total ≤ MAX_ROWS). `marker` must be text no other row contains
 * (a random token per run keeps it unique).
 */
export function buildWorkload(total: number, marker: string, baseMs: number): Workload {
  if (!Number.isInteger(total) || total < MIN_ROWS || total > MAX_ROWS) {
    throw new RangeError(`rows must be a whole number from ${MIN_ROWS} to ${MAX_ROWS}`);
  }
  const repeats = Math.max(1, Math.floor(total / 200));
  const localOnly = Math.max(1, Math.floor(total / 500));
  const fresh = total - 1 - repeats - localOnly;
  const counts = new Map<string, number>();
  let assigned = 0;
  for (const [kind, share] of SHARES) {
    const n = Math.max(1, Math.floor(fresh * share));
    counts.set(kind, n);
    assigned += n;
  }
  counts.set('observation', fresh - assigned);
  counts.set('fix_acceptance', localOnly);

  // Every kind's rows, then shuffled so batches mix kinds as a real outbox does.
  const rows: DemoRow[] = [];
  let i = 0;
  for (const [kind, n] of counts) {
    for (let k = 0; k < n; k++) rows.push({ kind, payloadJson: JSON.stringify(payloadFor(kind, i++, baseMs)) });
  }
  const random = prng(total * 7919 + 17);
  for (let k = rows.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [rows[k], rows[j]] = [rows[j] as DemoRow, rows[k] as DemoRow];
  }

  // Repeats of delivered kinds (not legacy rows), appended after their originals.
  const sendable = rows.filter((r) => r.kind !== 'fix_acceptance');
  for (let k = 0; k < repeats; k++) rows.push(sendable[Math.floor(random() * sendable.length)] as DemoRow);

  // The poison row goes near the front, where a naive queue would stall behind it.
  const poisonKind = 'mcp_query';
  const poison: DemoRow = {
    kind: poisonKind,
    payloadJson: JSON.stringify({
      file: 'src/poison.ts',
      intent: `a row the cloud always rejects (${marker})`,
      rules_injected: 1,
      strict_match_count: 0,
      rule_titles: [],
      rule_ids: [],
      client_label: 'difflore-demo',
    }),
  };
  rows.splice(Math.min(rows.length, Math.max(1, Math.floor(total / 20))), 0, poison);

  const byKind: Record<string, number> = {};
  for (const r of rows) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  return {
    rows,
    byKind,
    poisonMarker: marker,
    poisonKind,
    repeats,
    localOnly,
    expectedReceived: total - 1 - repeats - localOnly,
    deliverable: total - 1,
  };
}
