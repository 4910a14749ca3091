/**
 * `observation` (rust-wire §2.7). The row is an `Observation`, snake_case, decoded strictly; unknown
 * keys are dropped. None is sent as `null` for `file_path`, `narrative` and `diff_excerpt`, and
 * omitted for `scope` (and for `parent_path`/`display_name` inside it). Sent as items of the JSON
 * array of `POST /cloud/observations`; delivered when the answer decodes as `{received, deduped}`.
 * Rust's daemon sends one item per POST; we batch up to 64 (as its `cloud sync` does).
 */
import { ingestResult } from './responses.js';
import { type Field, STRING, structContract, int, optional, required, struct } from './serde.js';
import type { KindContract } from './types.js';

/** `ObservationScope` (dto.rs:890-907), in struct order. */
export const OBSERVATION_SCOPE: readonly Field[] = [
  required('anchor_kind', STRING),
  required('anchor_key', STRING),
  optional('parent_path', STRING, 'omit'),
  optional('display_name', STRING, 'omit'),
];

/** `Observation` (dto.rs:915-951), in struct order. */
export const OBSERVATION: readonly Field[] = [
  required('session_id', STRING),
  required('ts_ms', int('i64')),
  required('obs_type', STRING),
  required('tool', STRING),
  optional('file_path', STRING, 'null'),
  optional('scope', struct(OBSERVATION_SCOPE), 'omit'),
  required('title', STRING),
  optional('narrative', STRING, 'null'),
  optional('diff_excerpt', STRING, 'null'),
  required('content_hash', STRING),
];

export const OBSERVATIONS_PATH = '/cloud/observations';

export const observation: KindContract = structContract(
  { kind: 'observation', label: 'post_observations', mode: 'batch', route: OBSERVATIONS_PATH, judge: ingestResult },
  OBSERVATION,
);
