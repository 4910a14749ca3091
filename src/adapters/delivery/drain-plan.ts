/**
 * Planning, the second step of the drain pipeline (classify → plan → send → settle): the sendable
 * rows of a claim become requests — rows of a batched kind (observations) up to
 * OBSERVATION_BATCH_MAX per POST, every other kind one POST per row — and a request becomes what goes
 * on the wire: path, body and Idempotency-Key. Pure apart from hashing the key.
 */
import { OBSERVATION_BATCH_MAX, type Route, batchIdempotencyKey, idempotencyKey } from './cloud-routes.js';
import type { Sendable, Work } from './drain-classify.js';

/** One request to make: a single row, or several rows of one batched kind. */
export interface PlannedRequest {
  readonly route: Route;
  /** Never empty; more than one only for a batched kind. */
  readonly items: readonly Work[];
}

/** What a request puts on the wire. */
export interface WireRequest {
  readonly path: string;
  readonly body: string;
  readonly idempotencyKey: string;
}

/**
 * The requests for a claim's sendable rows, in claim order within each kind: the batches first (a
 * kind's rows in chunks of `perBatch`, kinds in the order they first appear), then the single rows.
 */
export function planRequests(
  sendable: readonly Sendable[],
  perBatch: number = OBSERVATION_BATCH_MAX,
): PlannedRequest[] {
  const batches = new Map<Route, Work[]>();
  const singles: PlannedRequest[] = [];
  for (const { route, work } of sendable) {
    if (route.mode !== 'batch') {
      singles.push({ route, items: [work] });
      continue;
    }
    const list = batches.get(route);
    if (list === undefined) batches.set(route, [work]);
    else list.push(work);
  }
  const requests: PlannedRequest[] = [];
  for (const [route, list] of batches) {
    for (let i = 0; i < list.length; i += perBatch) requests.push({ route, items: list.slice(i, i + perBatch) });
  }
  return requests.concat(singles);
}

/**
 * The request as sent. A batch is a JSON array of its rows' bodies, keyed by a hash of their stored
 * texts; a row of a batched kind that goes alone (after a failed batch was split down to it) keeps the
 * array form and takes its own row key, as a row of any other kind does.
 */
export function wireRequest(request: PlannedRequest): WireRequest {
  const { route, items } = request;
  const first = items[0] as Work;
  const batched = route.mode === 'batch';
  const path = batched ? route.route : first.path;
  const body = batched ? `[${items.map((w) => w.text).join(',')}]` : first.text;
  const key =
    items.length === 1
      ? (first.key ?? idempotencyKey(route.kind, first.row.payloadJson))
      : batchIdempotencyKey(
          route.kind,
          items.map((w) => w.row.payloadJson),
        );
  return { path, body, idempotencyKey: key };
}

/** A failed request split at `middle`: the halves are sent as requests of their own. */
export function splitRequest(request: PlannedRequest, middle: number): [PlannedRequest, PlannedRequest] {
  return [
    { route: request.route, items: request.items.slice(0, middle) },
    { route: request.route, items: request.items.slice(middle) },
  ];
}
