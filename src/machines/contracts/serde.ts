/**
 * The serde rules the Rust binary applies to a stored payload, as data: a struct is a list of fields,
 * each with a type, a presence rule and what Rust writes back when the value is absent. `decode`
 * reads a parsed payload by such a table and returns the body Rust would serialise, with its keys in
 * struct order (reference/rust-wire.md, "Serde background"):
 * - `Option<T>` (`optional`): missing or `null` → None; the body then omits the key or sends `null`,
 *   per field (`skip_serializing_if` or not);
 * - `#[serde(default)]` (`default`): only a missing key takes the default; `null` is an error;
 * - required: missing or `null` is an error;
 * - unknown keys are dropped; a field given twice (also through an alias) is an error;
 * - integers reject floats, strings and values outside their Rust range.
 * Pure: no node:* imports.
 */
import { JsonNumber, type JsonObject, type JsonValue, describeJson, duplicateKeys, isJsonObject } from './json.js';
import type { KindContract } from './types.js';

/** Rust integer types by range. usize is 64-bit here, as on every platform the Rust binary ships for. */
export type IntType = 'u32' | 'i32' | 'u64' | 'i64' | 'usize';

const RANGES: Record<IntType, readonly [bigint, bigint]> = {
  u32: [0n, 4_294_967_295n],
  i32: [-2_147_483_648n, 2_147_483_647n],
  u64: [0n, 18_446_744_073_709_551_615n],
  usize: [0n, 18_446_744_073_709_551_615n],
  i64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
};

export type FieldType =
  | { readonly type: 'string' }
  | { readonly type: 'bool' }
  | { readonly type: 'int'; readonly int: IntType }
  | { readonly type: 'f64' }
  /** A `Vec` of a type: every element must decode. */
  | { readonly type: 'array'; readonly of: FieldType }
  /** A unit enum with snake_case variants; an unknown string is an error. */
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'struct'; readonly fields: readonly Field[] }
  /** A serde_json::Value: anything, passed through. */
  | { readonly type: 'any' };

export interface Field {
  readonly key: string;
  /** Other names accepted on read (`#[serde(alias)]`); the body uses `key`. */
  readonly aliases?: readonly string[];
  readonly of: FieldType;
  readonly presence: 'required' | 'optional' | 'default';
  /** For `optional`: what the body holds for None. For `default`: the value of a missing key. */
  readonly none?: 'omit' | 'null';
  readonly defaultValue?: JsonValue;
  /** `skip_serializing_if = "Vec::is_empty"`. */
  readonly omitWhenEmpty?: boolean;
  /** A custom deserializer that turns a value it cannot decode into None instead of an error. */
  readonly lossy?: boolean;
}

export const STRING: FieldType = { type: 'string' };
export const BOOL: FieldType = { type: 'bool' };
export const F64: FieldType = { type: 'f64' };
export const int = (kind: IntType): FieldType => ({ type: 'int', int: kind });
export const arrayOf = (of: FieldType): FieldType => ({ type: 'array', of });
export const STRINGS: FieldType = arrayOf(STRING);
export const struct = (fields: readonly Field[]): FieldType => ({ type: 'struct', fields });

/** Shorthands for the three presence rules. */
export const required = (key: string, of: FieldType): Field => ({ key, of, presence: 'required' });
export const optional = (key: string, of: FieldType, none: 'omit' | 'null', extra: Partial<Field> = {}): Field => ({
  key,
  of,
  presence: 'optional',
  none,
  ...extra,
});

/** Thrown inside a decode; `decode` turns it into a reason. */
export class DecodeError extends Error {}

const at = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/** Decodes one value by its type; returns the value Rust would serialise back. */
export function decodeValue(of: FieldType, value: JsonValue, path: string): JsonValue {
  switch (of.type) {
    case 'any':
      return value;
    case 'string':
      if (typeof value !== 'string') throw typeError(value, 'a string', path);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(value, 'a boolean', path);
      return value;
    case 'f64':
      if (typeof value === 'number') return value;
      if (value instanceof JsonNumber) return value.value;
      throw typeError(value, 'f64', path);
    case 'int':
      return decodeInt(of.int, value, path);
    case 'enum':
      if (typeof value !== 'string') throw typeError(value, 'a string', path);
      if (!of.values.includes(value)) {
        throw new DecodeError(`unknown variant \`${value}\` at '${path}', expected one of ${of.values.join(', ')}`);
      }
      return value;
    case 'array': {
      if (!Array.isArray(value)) throw typeError(value, 'a sequence', path);
      return value.map((item, i) => decodeValue(of.of, item, `${path}[${i}]`));
    }
    case 'struct':
      return decodeStruct(of.fields, value, path);
  }
}

function decodeInt(kind: IntType, value: JsonValue, path: string): JsonValue {
  const [min, max] = RANGES[kind];
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw typeError(value, kind, path);
    if (BigInt(value) < min || BigInt(value) > max) throw rangeError(String(value), kind, path);
    return value;
  }
  if (value instanceof JsonNumber && value.isInteger) {
    const big = BigInt(value.text);
    if (big < min || big > max) throw rangeError(value.text, kind, path);
    // Beyond 2^53: kept as its lexeme so the body carries every digit.
    return value;
  }
  throw typeError(value, kind, path);
}

/** Decodes a struct: fields in table order, unknown keys dropped. */
export function decodeStruct(fields: readonly Field[], value: JsonValue, path: string): JsonObject {
  if (!isJsonObject(value)) throw typeError(value, 'a struct (JSON object)', path);
  const twice = duplicateKeys(value);
  const out: JsonObject = {};
  for (const field of fields) {
    const names = [field.key, ...(field.aliases ?? [])];
    const given = names.filter((name) => Object.hasOwn(value, name));
    const where = at(path, field.key);
    if (given.length > 1 || (given.length === 1 && twice.has(given[0] as string))) {
      throw new DecodeError(`duplicate field \`${field.key}\`${path === '' ? '' : ` in '${path}'`}`);
    }
    const raw = given.length === 1 ? value[given[0] as string] : undefined;
    const decoded = decodeField(field, raw, where);
    if (decoded !== undefined) out[field.key] = decoded;
  }
  return out;
}

/** One field's value in the body, or undefined when the body omits it. */
function decodeField(field: Field, raw: JsonValue | undefined, where: string): JsonValue | undefined {
  if (field.presence === 'required') {
    if (raw === undefined) throw new DecodeError(`missing field \`${where}\``);
    return decodeValue(field.of, raw, where);
  }
  if (field.presence === 'default') {
    if (raw === undefined) return emptyOmitted(field, field.defaultValue ?? null);
    return emptyOmitted(field, decodeValue(field.of, raw, where));
  }
  // Option<T>
  let decoded: JsonValue | null = null;
  if (raw !== undefined && raw !== null) {
    if (field.lossy) {
      try {
        decoded = decodeValue(field.of, raw, where);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
      }
    } else {
      decoded = decodeValue(field.of, raw, where);
    }
  }
  if (decoded === null) return field.none === 'null' ? null : undefined;
  return emptyOmitted(field, decoded);
}

function emptyOmitted(field: Field, value: JsonValue): JsonValue | undefined {
  return field.omitWhenEmpty && Array.isArray(value) && value.length === 0 ? undefined : value;
}

function typeError(value: JsonValue, expected: string, path: string): DecodeError {
  return new DecodeError(
    `invalid type: ${describeJson(value)}, expected ${expected}${path === '' ? '' : ` at '${path}'`}`,
  );
}

function rangeError(text: string, kind: IntType, path: string): DecodeError {
  return new DecodeError(`invalid value: integer \`${text}\`, expected ${kind}${path === '' ? '' : ` at '${path}'`}`);
}

/** Runs a decode, turning a DecodeError into a reason. */
export function attempt<T>(fn: () => T): { ok: true; value: T } | { ok: false; reason: string } {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (error instanceof DecodeError) return { ok: false, reason: error.message };
    throw error;
  }
}

/**
 * escape_path_id: every UTF-8 byte outside `A-Z a-z 0-9 - . _ ~` becomes `%XX` (upper-case hex),
 * so `a/b c` is `a%2Fb%20c` (rust-wire §1.4).
 */
export function escapePathId(id: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Rust's `char::is_whitespace` (Unicode White_Space): unlike JS trim, U+0085 is space and U+FEFF is not. */
const RUST_SPACE = '[\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]';
const LEADING = new RegExp(`^${RUST_SPACE}+`, 'u');
const TRAILING = new RegExp(`${RUST_SPACE}+$`, 'u');

/** `str::trim` as Rust does it. */
export function rustTrim(text: string): string {
  return text.replace(LEADING, '').replace(TRAILING, '');
}

/** `str::chars().count()`: Unicode scalar values, not UTF-16 units. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * The contract of a kind whose stored payload is the request itself: decoded strictly as `fields`
 * (`<kind> parse: …` when it cannot be) and sent as it decodes to the fixed `route`.
 */
export function structContract(contract: Omit<KindContract, 'parse'>, fields: readonly Field[]): KindContract {
  return {
    ...contract,
    parse(payload) {
      const body = attempt(() => decodeStruct(fields, payload, ''));
      if (!body.ok) return { ok: false, reason: `${contract.kind} parse: ${body.reason}` };
      return { ok: true, path: contract.route, body: body.value };
    },
  };
}
