/**
 * Which secrets are scrubbed out of text: the one rule every scrubber applies (the daemon log, the
 * journal and state file, inspector frames, `last_error`).
 *
 * Only secrets of at least MIN_SECRET_CHARS characters (after trimming) are searched for, as the
 * Rust client does (reference/difflore-behaviour.md §3.4). A shorter "token" such as `x` would
 * otherwise be replaced wherever it occurs — `xstate.init` journaled as `[redacted]state.init`,
 * which no replay recognises. Leaving short secrets unscrubbed exposes nothing: no output ever
 * contains the token on purpose (it is never logged, journaled or shown; credential-like keys and
 * `Bearer …` are redacted whatever their value), so scrubbing by value is defence in depth, and for
 * a one-letter value it would be destruction instead.
 *
 * A secret is searched for in every form it can take in text we produce or receive (secretForms):
 * as it is, JSON-escaped (a token holding `"` or `\`, or a server that escapes `/`), percent-encoded
 * (either case of hex, as a path, a query or a form body), and base64/base64url (at each of the three
 * byte alignments, so it is found inside a larger encoded blob such as a Basic credential too).
 *
 * Tokens shorter than MIN_SECRET_CHARS are refused where they enter (cloud-config.ts) rather than
 * scrubbed or let through: scrubbing them would destroy ordinary text, and not scrubbing them would
 * let a cloud that echoes them put them in `last_error` and the logs.
 *
 * Pure: no I/O, so the machines' policies and the adapters can share it.
 */

export const MIN_SECRET_CHARS = 8;

/** True if `secret` is long enough to be searched for and replaced in text. */
export function isScrubbable(secret: string | null | undefined): secret is string {
  return typeof secret === 'string' && secret.trim().length >= MIN_SECRET_CHARS;
}

/** The scrubbable secrets, without repeats, longest first so a secret containing another goes whole. */
export function scrubbableSecrets(secrets: readonly (string | null | undefined)[]): string[] {
  return [...new Set(secrets.filter(isScrubbable))].sort((a, b) => b.length - a.length);
}

/**
 * `text` with every occurrence of each scrubbable secret, in each of its forms, replaced by `marker`;
 * shorter ones are left.
 */
export function replaceSecrets(text: string, secrets: readonly string[], marker: string): string {
  let out = text;
  for (const secret of secrets) {
    if (!isScrubbable(secret)) continue;
    for (const form of secretForms(secret)) {
      if (out.includes(form)) out = out.split(form).join(marker);
    }
  }
  return out;
}

const FORMS_CACHE = new Map<string, readonly string[]>();
const FORMS_CACHE_MAX = 16;

/**
 * Every form of `secret` worth searching for, longest first (a form containing another goes whole),
 * each at least MIN_SECRET_CHARS long. Cached: the same few secrets are scrubbed on every line.
 */
export function secretForms(secret: string): readonly string[] {
  const cached = FORMS_CACHE.get(secret);
  if (cached !== undefined) return cached;
  const forms = new Set<string>([secret]);
  const json = JSON.stringify(secret).slice(1, -1);
  forms.add(json);
  forms.add(json.replaceAll('/', '\\/'));
  // HTML-safe JSON encoders (Go's, for one) write these as \u escapes.
  forms.add(json.replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  for (const encoded of [encodeURIComponent(secret), encodeURI(secret), formEncode(secret), encodeURIComponent(json)]) {
    forms.add(encoded);
    forms.add(encoded.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  }
  for (const core of base64Cores(secret)) {
    forms.add(core);
    forms.add(core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  const list = [...forms].filter((f) => f.length >= MIN_SECRET_CHARS).sort((a, b) => b.length - a.length);
  if (FORMS_CACHE.size >= FORMS_CACHE_MAX) FORMS_CACHE.clear();
  FORMS_CACHE.set(secret, list);
  return list;
}

/** application/x-www-form-urlencoded, as a query string or form body carries it. */
function formEncode(secret: string): string {
  return new URLSearchParams({ s: secret }).toString().slice(2);
}

/**
 * The base64 characters that depend on `secret` alone when it starts at byte offset 0, 1 or 2 of
 * the encoded data: the text of any base64 blob that contains the secret contains one of these.
 */
function base64Cores(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  const cores: string[] = [];
  for (const offset of [0, 1, 2]) {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    let binary = '';
    for (const b of padded) binary += String.fromCharCode(b);
    const encoded = btoa(binary);
    const first = Math.ceil((offset * 8) / 6);
    const last = Math.floor(((offset + bytes.length) * 8) / 6);
    cores.push(encoded.slice(first, last));
  }
  return cores;
}
