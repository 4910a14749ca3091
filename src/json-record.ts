/**
 * A JSON object as `JSON.parse` hands it over: keys to values nobody has checked yet. One name for the
 * shape every layer reads (hook payloads, agent settings files, cloud answers); the typed readers of
 * what the Rust binary accepts are in src/machines/contracts/json.ts.
 */
export type JsonRecord = { [key: string]: unknown };

/** True for a JSON object (not null, not an array). */
export function isJsonRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
