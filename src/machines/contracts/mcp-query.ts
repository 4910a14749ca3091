/**
 * `mcp_query` (rust-wire §2.5). Any JSON value is accepted; each field falls back to its default
 * when missing or of the wrong type (a non-object gives all defaults):
 *
 * | stored key           | body key           | rule                                                   |
 * |----------------------|--------------------|--------------------------------------------------------|
 * | `file`               | `file`             | string, else `""`                                      |
 * | `intent`             | `intent`           | string, else `null` (sent as null, never omitted)      |
 * | `rules_injected`     | `rulesInjected`    | integer in u64, else 0 (negative, float, string → 0)   |
 * | `strict_match_count` | `strictMatchCount` | same                                                   |
 * | `rule_titles`        | `ruleTitles`       | the array's string items (others dropped), first 10    |
 * | `rule_ids`           | `ruleIds`          | same                                                   |
 * | `client_label`       | `client`           | string (even `""`), else `"mcp-server"`                |
 * | `repo_full_name`     | `repoFullName`     | trimmed, only when non-empty after trimming; else omitted |
 *
 * Counts are not clamped (Rust sends them as stored). Sent as `POST /dashboard/mcp-query`. The body
 * is built with `json!`; its keys are written here in the order of that macro call.
 */
import { JsonNumber, type JsonObject, type JsonValue, isJsonObject } from './json.js';
import { anyJson } from './responses.js';
import { rustTrim } from './serde.js';
import type { ContractResult, KindContract } from './types.js';

export const MCP_QUERY_LIST_MAX = 10;
export const MCP_QUERY_DEFAULT_CLIENT = 'mcp-server';
const U64_MAX = 18_446_744_073_709_551_615n;

/** `as_u64()` then 0: a non-negative integer lexeme within u64, else 0. */
function count(value: JsonValue | undefined): number | JsonNumber {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : 0;
  if (value instanceof JsonNumber && value.isInteger) {
    const big = BigInt(value.text);
    return big >= 0n && big <= U64_MAX ? value : 0;
  }
  return 0;
}

function strings(value: JsonValue | undefined): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is string => typeof v === 'string').slice(0, MCP_QUERY_LIST_MAX);
}

const str = (value: JsonValue | undefined): string | null => (typeof value === 'string' ? value : null);

export const mcpQuery: KindContract = {
  kind: 'mcp_query',
  label: 'track_mcp_query',
  mode: 'single',
  route: '/dashboard/mcp-query',
  parse(payload: JsonValue): ContractResult {
    const p: JsonObject = isJsonObject(payload) ? payload : {};
    const repo = rustTrim(str(p.repo_full_name) ?? '');
    const body: JsonObject = {
      file: str(p.file) ?? '',
      intent: str(p.intent),
      rulesInjected: count(p.rules_injected),
      strictMatchCount: count(p.strict_match_count),
      ruleTitles: strings(p.rule_titles),
      ruleIds: strings(p.rule_ids),
      client: str(p.client_label) ?? MCP_QUERY_DEFAULT_CLIENT,
    };
    if (repo !== '') body.repoFullName = repo;
    return { ok: true, path: '/dashboard/mcp-query', body };
  },
  judge: anyJson,
};
