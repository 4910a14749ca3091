/**
 * `imported_reviews` (rust-wire §2.6). The row is an `UploadImportedReviewsRequest` in camelCase,
 * decoded strictly; unknown keys are dropped. In the body, None is omitted for `provider`,
 * `providerHost`, `sourceRepoFullName`, `eventType` and `lineNumber`, and sent as `null` for
 * `prTitle`, `filePath`, `author`, `threadId` and `occurredAt`. Sent as `POST /reviews/import`.
 */
import { anyJson } from './responses.js';
import { type Field, STRING, arrayOf, structContract, int, optional, required, struct } from './serde.js';
import type { KindContract } from './types.js';

export const IMPORTED_EVENT_TYPES = ['pull_request_review_comment', 'pull_request_review', 'issue_comment'] as const;

/** One imported comment (dto.rs:219-281), in struct order. */
export const IMPORTED_COMMENT: readonly Field[] = [
  optional('eventType', { type: 'enum', values: IMPORTED_EVENT_TYPES }, 'omit'),
  optional('filePath', STRING, 'null'),
  optional('lineNumber', int('i32'), 'omit'),
  required('content', STRING),
  optional('author', STRING, 'null'),
  required('commentUrl', STRING),
  optional('threadId', STRING, 'null'),
  optional('occurredAt', STRING, 'null'),
];

/** One imported review, in struct order. */
export const IMPORTED_REVIEW: readonly Field[] = [
  optional('provider', STRING, 'omit'),
  optional('providerHost', STRING, 'omit'),
  required('repoFullName', STRING),
  optional('sourceRepoFullName', STRING, 'omit'),
  required('prNumber', int('i32')),
  optional('prTitle', STRING, 'null'),
  required('comments', arrayOf(struct(IMPORTED_COMMENT))),
];

export const IMPORTED_REVIEWS_REQUEST: readonly Field[] = [required('reviews', arrayOf(struct(IMPORTED_REVIEW)))];

export const importedReviews: KindContract = structContract(
  {
    kind: 'imported_reviews',
    label: 'upload_imported_reviews',
    mode: 'single',
    route: '/reviews/import',
    judge: anyJson,
  },
  IMPORTED_REVIEWS_REQUEST,
);
