/**
 * What never leaves the machine, exactly as the Rust hook decides it (reference/rust-hook.md §6):
 * the path deny-list (no observation at all) and the private-tag stripper (the tagged region of the
 * diff is replaced before the narrative, the excerpt and so the hash are built).
 *
 * Pure: no node:* import, no I/O.
 */
import { asciiLower } from './rust-text.js';

/** Rust's `is_privacy_denied`: true when some `/`- or `\`-separated segment, ASCII-lowercased, matches a rule. */
export function isPrivacyDenied(path: string): boolean {
  for (const raw of path.split(/[/\\]/)) {
    const segment = asciiLower(raw);
    if (segment === '.env' || segment.startsWith('.env.')) return true;
    if (segment.includes('.secrets')) return true;
    if (segment.endsWith('.key') || segment.endsWith('.pem')) return true;
    if (segment === 'id_rsa' || segment.startsWith('id_rsa.')) return true;
    if (segment === 'credentials' || segment.startsWith('credentials.')) return true;
  }
  return false;
}

export const PRIVATE_PLACEHOLDER = '[redacted private content]';

const TAGS = ['private', 'secret', 'sensitive'] as const;

/**
 * Rust's `strip_private_tagged_regions`: from the cursor, the earliest `<private>`, `<secret>` or
 * `<sensitive>` (any ASCII case) up to the first matching closing tag — or to the end when it is not
 * closed — becomes the placeholder. Nesting is not tracked; newlines inside a region go with it.
 */
export function stripPrivateTaggedRegions(text: string): string {
  // ASCII lowercasing keeps every index, so positions found in `lower` cut `text`.
  const lower = asciiLower(text);
  if (!lower.includes('<private>') && !lower.includes('<secret>') && !lower.includes('<sensitive>')) return text;
  let out = '';
  let cursor = 0;
  for (;;) {
    let open = -1;
    let tag = '';
    for (const name of TAGS) {
      const at = lower.indexOf(`<${name}>`, cursor);
      if (at >= 0 && (open < 0 || at < open)) {
        open = at;
        tag = name;
      }
    }
    if (open < 0) break;
    out += text.slice(cursor, open) + PRIVATE_PLACEHOLDER;
    const closeTag = `</${tag}>`;
    const close = lower.indexOf(closeTag, open + tag.length + 2);
    cursor = close < 0 ? text.length : close + closeTag.length;
  }
  return out + text.slice(cursor);
}
