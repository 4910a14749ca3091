/**
 * Reading a stored row's text by its kind's contract, shared by enqueue and the drain. Kept apart
 * from index.ts so that enqueue loads only the one contract it needs.
 */
import { parseJson } from './json.js';
import type { ContractResult, KindContract } from './types.js';

/**
 * The route and body Rust would send for a stored row, or why Rust could never send it. A `skip`
 * kind is never parsed (any text is fine).
 */
export function parseRow(contract: KindContract, payloadJson: string): ContractResult {
  if (contract.mode === 'skip') return contract.parse(null);
  const parsed = parseJson(payloadJson);
  if (!parsed.ok) return { ok: false, reason: `${contract.kind} parse: not JSON: ${parsed.reason}` };
  return contract.parse(parsed.value);
}
