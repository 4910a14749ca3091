/**
 * `review_metrics` (rust-wire §2.2). Stored `{"review_id": "<id>", "req": {…}}`. `review_id` must be
 * a string; `req` (`{}` when missing) is decoded strictly as `RecordReviewMetricsRequest`: every
 * field optional, None omitted from the body, so the body may be `{}`. `"req": null`, a non-object,
 * a float or negative count are errors. Sent as `POST /reviews/{escape_path_id(review_id)}/metrics`.
 */
import { isJsonObject, type JsonValue } from './json.js';
import { anyJson } from './responses.js';
import { F64, type Field, attempt, decodeStruct, escapePathId, int, optional } from './serde.js';
import type { ContractResult, KindContract } from './types.js';

/** `RecordReviewMetricsRequest` (dto.rs:93-109), camelCase, in struct order. */
export const REVIEW_METRICS_REQUEST: readonly Field[] = [
  optional('inputTokens', int('u32'), 'omit'),
  optional('outputTokens', int('u32'), 'omit'),
  optional('estimatedCostUsd', F64, 'omit'),
  optional('durationMs', int('u64'), 'omit'),
  optional('perspectiveCount', int('u32'), 'omit'),
  optional('pastVerdictsUsed', int('u32'), 'omit'),
];

export const reviewMetrics: KindContract = {
  kind: 'review_metrics',
  label: 'record_review_metrics',
  mode: 'single',
  route: '/reviews/{id}/metrics',
  parse(payload: JsonValue): ContractResult {
    const id = isJsonObject(payload) ? payload.review_id : undefined;
    if (typeof id !== 'string') return { ok: false, reason: 'review_metrics missing review_id' };
    const req = isJsonObject(payload) && Object.hasOwn(payload, 'req') ? (payload.req as JsonValue) : {};
    const body = attempt(() => decodeStruct(REVIEW_METRICS_REQUEST, req, 'req'));
    if (!body.ok) return { ok: false, reason: `review_metrics decode req: ${body.reason}` };
    return { ok: true, path: `/reviews/${escapePathId(id)}/metrics`, body: body.value };
  },
  judge: anyJson,
};
