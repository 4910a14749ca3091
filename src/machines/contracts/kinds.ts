/**
 * The outbox kinds the Rust binary queues (rust-wire §0.2), and so the kinds this version has a
 * payload contract for. A light module of its own: the hook path needs the list without loading
 * every contract. index.ts checks that CONTRACTS covers exactly these.
 */
export const KNOWN_KINDS = [
  'trajectory',
  'review_metrics',
  'accepted_edit',
  'fix_acceptance',
  'mcp_query',
  'imported_reviews',
  'observation',
  'session_mined_candidate',
] as const;

/** What an outbox kind may be called (any kind, known or not): Rust's `[a-z][a-z0-9_]*`. */
export const KIND_NAME = /^[a-z][a-z0-9_]*$/;

export type KnownKind = (typeof KNOWN_KINDS)[number];

export function isKnownKind(kind: string): kind is KnownKind {
  return (KNOWN_KINDS as readonly string[]).includes(kind);
}
