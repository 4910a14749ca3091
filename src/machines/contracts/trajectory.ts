/**
 * `trajectory` (rust-wire §2.1). Stored `{"pr_review_id": "<id>", "steps": <any JSON>}`; read leniently
 * from a serde_json::Value: `pr_review_id` must be a string (an empty one too), `steps` is passed
 * through unchecked (`[]` when the key is missing, `null` sent as `null`), other keys are ignored.
 * Sent as `POST /reviews/{escape_path_id(pr_review_id)}/trajectory` with `{"steps": …}`.
 */
import { isJsonObject, type JsonValue } from './json.js';
import { anyJson } from './responses.js';
import { escapePathId } from './serde.js';
import type { ContractResult, KindContract } from './types.js';

export const trajectory: KindContract = {
  kind: 'trajectory',
  label: 'save_trajectory',
  mode: 'single',
  route: '/reviews/{prReviewId}/trajectory',
  parse(payload: JsonValue): ContractResult {
    const id = isJsonObject(payload) ? payload.pr_review_id : undefined;
    if (typeof id !== 'string') return { ok: false, reason: 'trajectory missing pr_review_id' };
    const steps = isJsonObject(payload) && Object.hasOwn(payload, 'steps') ? (payload.steps as JsonValue) : [];
    return { ok: true, path: `/reviews/${escapePathId(id)}/trajectory`, body: { steps } };
  },
  judge: anyJson,
};
