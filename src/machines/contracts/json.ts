/**
 * JSON as the Rust binary reads and writes it (serde_json), where that differs from JSON.parse:
 * - a number keeps its lexeme: `1.0` is a float (serde rejects it for an integer field, JSON.parse
 *   cannot tell it from `1`), and an integer beyond 2^53 keeps every digit (an i64 `ts_ms` or a u64
 *   count is sent back exactly);
 * - a number out of f64 range (`1e400`), a lone surrogate escape and nesting deeper than 128 are
 *   errors, as in serde_json;
 * - an object remembers which keys it had twice (serde's derived structs reject a duplicated field;
 *   a `Value` keeps the last, as JSON.parse does).
 * Pure: no node:* imports.
 */

/** A number that a JS number cannot carry as the Rust binary would: a float lexeme or a big integer. */
export class JsonNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  /** True for an integer lexeme (no fraction, no exponent). serde_json reads `-0` as the float -0.0. */
  get isInteger(): boolean {
    return /^-?\d+$/.test(this.text) && !/^-0+$/.test(this.text);
  }
  get value(): number {
    return Number(this.text);
  }
}

export type JsonValue = null | boolean | number | string | JsonNumber | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** serde_json's default recursion limit. */
const MAX_DEPTH = 128;
const duplicated = new WeakMap<object, Set<string>>();

/** Keys an object held more than once in its text (empty for objects not from parseJson). */
export function duplicateKeys(object: object): ReadonlySet<string> {
  return duplicated.get(object) ?? EMPTY;
}
const EMPTY: ReadonlySet<string> = new Set();

export type JsonParse =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly reason: string };

class SyntaxProblem extends Error {}

/** Parses text the way serde_json does (see the module note). Never throws. */
export function parseJson(text: string): JsonParse {
  const parser = new Parser(text);
  try {
    parser.space();
    const value = parser.value(0);
    parser.space();
    if (parser.pos < text.length) parser.fail('trailing characters');
    return { ok: true, value };
  } catch (error) {
    if (error instanceof SyntaxProblem) return { ok: false, reason: error.message };
    throw error;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings end at a quote or backslash and may not hold raw U+0000–U+001F (RFC 8259 §7); this run stops at exactly those.
const PLAIN = /[^"\\\u0000-\u001f]*/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class Parser {
  pos = 0;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }

  fail(what: string): never {
    const before = this.text.slice(0, this.pos);
    const line = before.split('\n').length;
    const column = this.pos - before.lastIndexOf('\n');
    throw new SyntaxProblem(`${what} at line ${line} column ${column}`);
  }

  space(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  value(depth: number): JsonValue {
    const c = this.text[this.pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_DEPTH) this.fail('recursion limit exceeded (nested deeper than 128)');
      return c === '{' ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === '"') return this.string();
    if (c === 't') return this.word('true', true);
    if (c === 'f') return this.word('false', false);
    if (c === 'n') return this.word('null', null);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    return this.fail(c === undefined ? 'EOF while parsing a value' : 'expected value');
  }

  word<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('expected value');
    this.pos += word.length;
    return value;
  }

  number(): number | JsonNumber {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail('invalid number');
    const lexeme = match[0];
    this.pos += lexeme.length;
    const value = Number(lexeme);
    if (!Number.isFinite(value)) this.fail('number out of range');
    const integer = /^-?\d+$/.test(lexeme);
    if (integer && Number.isSafeInteger(value) && lexeme !== '-0') return value;
    return new JsonNumber(lexeme);
  }

  string(): string {
    const t = this.text;
    let out = '';
    let pos = this.pos + 1; // after the opening quote
    for (;;) {
      // The run of plain characters up to a quote, a backslash or a control character, in one step.
      PLAIN.lastIndex = pos;
      PLAIN.test(t);
      const end = PLAIN.lastIndex;
      out += t.slice(pos, end);
      this.pos = end;
      const c = t.charCodeAt(end);
      if (c === 0x22) {
        this.pos = end + 1;
        return out;
      }
      if (c === 0x5c) {
        out += this.escape();
        pos = this.pos;
        continue;
      }
      if (Number.isNaN(c)) this.fail('EOF while parsing a string');
      this.fail('control character (\\u0000-\\u001F) found while parsing a string');
    }
  }

  escape(): string {
    const t = this.text;
    const c = t[this.pos + 1];
    if (c === undefined) this.fail('EOF while parsing a string');
    if (c !== 'u') {
      const named = ESCAPES[c];
      if (named === undefined) this.fail('invalid escape');
      this.pos += 2;
      return named;
    }
    const first = this.hex4(this.pos + 2);
    this.pos += 6;
    if (first >= 0xdc00 && first <= 0xdfff) this.fail('lone trailing surrogate in hex escape');
    if (first < 0xd800 || first > 0xdbff) return String.fromCharCode(first);
    if (t[this.pos] !== '\\' || t[this.pos + 1] !== 'u') this.fail('lone leading surrogate in hex escape');
    const second = this.hex4(this.pos + 2);
    if (second < 0xdc00 || second > 0xdfff) this.fail('lone leading surrogate in hex escape');
    this.pos += 6;
    return String.fromCharCode(first, second);
  }

  hex4(at: number): number {
    const digits = this.text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail('invalid escape');
    return Number.parseInt(digits, 16);
  }

  array(depth: number): JsonValue[] {
    this.pos++;
    const out: JsonValue[] = [];
    this.space();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.space();
      out.push(this.value(depth));
      this.space();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected `,` or `]`');
    }
  }

  object(depth: number): JsonObject {
    this.pos++;
    const out: JsonObject = {};
    this.space();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.pos] !== '"') this.fail('key must be a string');
      const key = this.string();
      this.space();
      if (this.text[this.pos++] !== ':') this.fail('expected `:`');
      this.space();
      const value = this.value(depth);
      if (Object.hasOwn(out, key)) {
        const seen = duplicated.get(out) ?? new Set<string>();
        seen.add(key);
        duplicated.set(out, seen);
      }
      // A key "__proto__" is data, not the prototype (defineProperty only then: it slows the object).
      if (key === '__proto__')
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
      this.space();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected `,` or `}`');
    }
  }
}

/**
 * JSON text of a body: like JSON.stringify, but a JsonNumber is written as its lexeme and keys whose
 * value is undefined are left out (an omitted field).
 */
export function stringifyJson(value: unknown): string {
  if (value instanceof JsonNumber) return value.text;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stringifyJson(v))).join(',')}]`;
  const parts: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined) parts.push(`${JSON.stringify(key)}:${stringifyJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** A parsed value with every JsonNumber turned into a JS number (for display and for tests). */
export function plainJson(value: unknown): unknown {
  if (value instanceof JsonNumber) return value.value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plainJson);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (key === '__proto__') {
      Object.defineProperty(out, key, { value: plainJson(v), enumerable: true, writable: true, configurable: true });
    } else out[key] = plainJson(v);
  }
  return out;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonNumber);
}

/** What serde would call the value's type in an error ("invalid type: null, expected a string"). */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (value instanceof JsonNumber)
    return value.isInteger ? `integer \`${value.text}\`` : `floating point \`${value.text}\``;
  if (typeof value === 'number') return `integer \`${value}\``;
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  if (typeof value === 'string') return 'a string';
  return Array.isArray(value) ? 'a sequence' : 'a map';
}
