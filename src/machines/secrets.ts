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

/** `text` with every occurrence of each scrubbable secret replaced by `marker`; shorter ones are left. */
export function replaceSecrets(text: string, secrets: readonly string[], marker: string): string {
  let out = text;
  for (const secret of secrets) {
    if (isScrubbable(secret) && out.includes(secret)) out = out.split(secret).join(marker);
  }
  return out;
}
