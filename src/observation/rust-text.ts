/**
 * Rust's string semantics, as the Rust hook applies them to an observation (reference/rust-hook.md
 * §2.8), so that our titles, narratives, excerpts and hashes come out byte for byte the same:
 * `str::lines()`, `char::is_whitespace` / `str::trim` (Unicode White_Space, not JS `\s`),
 * `chars().count()` (code points, not UTF-16 units), UTF-8 byte lengths and `to_ascii_lowercase`.
 *
 * Pure: no node:* import, no I/O, no clock (this directory is on the hook path and is tested for it).
 */

/** Unicode White_Space, the set Rust's `char::is_whitespace` and `str::trim` use. JS `\s` adds U+FEFF and lacks U+0085. */
export function isRustWhitespace(codePoint: number): boolean {
  return (
    (codePoint >= 0x09 && codePoint <= 0x0d) ||
    codePoint === 0x20 ||
    codePoint === 0x85 ||
    codePoint === 0xa0 ||
    codePoint === 0x1680 ||
    (codePoint >= 0x2000 && codePoint <= 0x200a) ||
    codePoint === 0x2028 ||
    codePoint === 0x2029 ||
    codePoint === 0x202f ||
    codePoint === 0x205f ||
    codePoint === 0x3000
  );
}

/** `str::trim`: every White_Space code point off both ends (all of them are single UTF-16 units). */
export function rustTrim(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isRustWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isRustWhitespace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** `s.chars().filter(|c| !c.is_whitespace()).collect()`. */
export function stripWhitespace(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isRustWhitespace(code)) out += text[i];
  }
  return out;
}

/**
 * `str::lines()`: split on `\n`; one `\r` right before a `\n` is dropped; a final line ending makes no
 * empty last line; a final bare `\r` (no `\n` after it) is kept; `""` has no lines.
 */
export function rustLines(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const endsWithNewline = parts[parts.length - 1] === '';
  if (endsWithNewline) parts.pop();
  // Every part but the last was followed by `\n`; the last only if the text ended with one.
  const terminated = endsWithNewline ? parts.length : parts.length - 1;
  for (let i = 0; i < terminated; i++) {
    const line = parts[i] as string;
    if (line.endsWith('\r')) parts[i] = line.slice(0, -1);
  }
  return parts;
}

/** `to_ascii_lowercase`: only A–Z change, so every index into the result is an index into the input. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** `chars().count()`: Unicode scalar values (a surrogate pair counts once). */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Rust's `truncate_chars`: unchanged up to `max` chars, else the first `max - 1` chars and `…`. */
export function truncateChars(text: string, max: number): string {
  // Each char is at least one UTF-16 unit, so a short string needs no count.
  if (text.length <= max) return text;
  let n = 0;
  let end = 0;
  for (const ch of text) {
    if (n === max - 1) {
      // Is there more than one char left from here? Then cut; else the text fits exactly.
      const rest = text.length - end;
      if (rest > ch.length) return `${text.slice(0, end)}…`;
      return text;
    }
    n++;
    end += ch.length;
  }
  return text;
}

/** UTF-8 length of one code point. */
function utf8Width(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint < 0x10000) return 3;
  return 4;
}

/** `str::len()`: the UTF-8 byte length. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) bytes += utf8Width(ch.codePointAt(0) as number);
  return bytes;
}

/** The longest prefix whose UTF-8 encoding fits in `maxBytes`, never splitting a char (Rust's char-boundary back-off). */
export function utf8Prefix(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const width = utf8Width(ch.codePointAt(0) as number);
    if (bytes + width > maxBytes) break;
    bytes += width;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** True when the string holds no lone surrogate; serde_json rejects a whole input that escapes one. */
export function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return false;
    }
  }
  return true;
}
