/**
 * What the view server sends the page (and embeds in it at first): plain JSON shapes, shared by the
 * server (src/view/feed.ts) and the page script (src/view/client/), so both sides agree by type.
 */

/** One journal record as the page shows it; the event is its type only. */
export interface TransitionView {
  readonly machine: string;
  readonly seq: number;
  readonly atMs: number;
  readonly pid: number;
  readonly from: string | null;
  readonly to: string;
  readonly event: string;
}

/** One drain pass, from the journal's `drainPass done` / `drainPass error` records. */
export interface PassView {
  readonly pid: number;
  readonly atMs: number;
  readonly failed: boolean;
  readonly attempted: number;
  readonly confirmed: number;
  readonly retried: number;
  readonly abandoned: number;
  readonly waitingForAuth: number;
}

/** Rows waiting (pending or processing) by kind at one moment, read from data.db read-only. */
export interface BacklogSample {
  readonly atMs: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly abandoned: number;
}

export interface DaemonView {
  /** `daemon status`'s kind: running, stale, notRunning, unverified, unknown. */
  readonly status: string;
  readonly summary: string;
  readonly pid: number | null;
  /** The live daemon's state from its state file; null when none runs. */
  readonly state: string | null;
  /** The newest daemon state in the journal, live or not. */
  readonly lastKnownState: string | null;
  readonly uptimeMs: number | null;
  readonly heartbeatAgeMs: number | null;
}

/** Delivery details the state file may carry; every field optional, read defensively. */
export interface DeliveryView {
  /** `token accepted`, `waiting for a token: …`, or what a daemon started now would find. */
  readonly token: string | null;
  readonly tokenSource: string | null;
  readonly breaker: string | null;
  /** Other scalar fields of a `delivery` section, as label/value pairs. */
  readonly details: readonly (readonly [string, string])[];
}

export interface StopRunView {
  readonly pid: number;
  readonly state: string | null;
  readonly atMs: number;
  readonly transitions: readonly TransitionView[];
}

export interface ViewSnapshot {
  readonly home: string;
  readonly atMs: number;
  readonly daemon: DaemonView;
  readonly delivery: DeliveryView;
  readonly lastStop: StopRunView | null;
  readonly passes: readonly PassView[];
  readonly backlog: readonly BacklogSample[];
  readonly backlogError: string | null;
  /** The newest journal records, oldest first. */
  readonly transitions: readonly TransitionView[];
}

/** Server-sent event names. */
export type FeedEvent =
  | { readonly type: 'snapshot'; readonly data: ViewSnapshot }
  | { readonly type: 'transition'; readonly data: TransitionView }
  | { readonly type: 'status'; readonly data: Pick<ViewSnapshot, 'atMs' | 'daemon' | 'delivery' | 'lastStop'> }
  | { readonly type: 'pass'; readonly data: PassView }
  | { readonly type: 'backlog'; readonly data: BacklogSample | { readonly error: string } };
