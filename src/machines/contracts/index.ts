/**
 * The payload contracts, one per outbox kind the Rust binary queues (rust-wire §0.2, §2): what a
 * stored payload may be, the body and route Rust sends for it, and how Rust judges the answer.
 * Enqueue, the drain and the tests use these; the reference cloud checks requests by its own tables.
 * Pure: no node:* imports, no xstate. Enqueue loads only the one kind's module (enqueue-core.ts).
 */
import { acceptedEdit } from './accepted-edit.js';
import { fixAcceptance } from './fix-acceptance.js';
import { importedReviews } from './imported-reviews.js';
import { mcpQuery } from './mcp-query.js';
import { observation } from './observation.js';
import { reviewMetrics } from './review-metrics.js';
import { sessionMinedCandidate } from './session-mined-candidate.js';
import { trajectory } from './trajectory.js';
import type { KindContract } from './types.js';

export type { ContractResult, KindContract } from './types.js';
export { escapePathId } from './serde.js';
export { KNOWN_KINDS } from './kinds.js';
export { parseRow } from './row.js';
export { stringifyJson } from './json.js';

export const CONTRACTS: readonly KindContract[] = [
  trajectory,
  reviewMetrics,
  acceptedEdit,
  fixAcceptance,
  mcpQuery,
  importedReviews,
  observation,
  sessionMinedCandidate,
];

const BY_KIND: ReadonlyMap<string, KindContract> = new Map(CONTRACTS.map((c) => [c.kind, c]));

export function contractFor(kind: string): KindContract | undefined {
  return BY_KIND.get(kind);
}

/** Observations go up to this many per POST (Rust's MAX_OBSERVATION_BATCH; the cloud's maxItems). */
export const OBSERVATION_BATCH_MAX = 64;
