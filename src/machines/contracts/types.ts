/**
 * What a payload contract is: for one outbox kind, how the Rust binary reads a stored payload, the
 * body and route it sends, and how it judges the cloud's 2xx answer (reference/rust-wire.md §2).
 * Pure: no node:* imports.
 */
import type { SuccessTest } from '../delivery-policy.js';
import type { JsonValue } from './json.js';

/** A stored payload read by its kind's contract: what to send, or why Rust could never send it. */
export type ContractResult =
  | { readonly ok: true; readonly path: string; readonly body: JsonValue }
  | { readonly ok: false; readonly reason: string };

export interface KindContract {
  readonly kind: string;
  /** The Rust client's name for the call, used in transport errors (`post_observations`). */
  readonly label: string;
  /**
   * `single`: one POST per row with `body`; `batch`: `body` is one item of a JSON array (we send up
   * to 64 per POST; Rust's daemon sends one); `skip`: confirmed without being sent or even parsed.
   */
  readonly mode: 'single' | 'batch' | 'skip';
  /** The route's path template, ids in braces. */
  readonly route: string;
  /** Reads a parsed payload as Rust does. */
  parse(payload: JsonValue): ContractResult;
  /** Rust's test of a 2xx answer's body. */
  judge(responseBody: string): SuccessTest;
}
