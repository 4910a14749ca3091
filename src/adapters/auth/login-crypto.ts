/**
 * The Rust login's cryptography, byte for byte as the Rust binary does it (reference/rust-auth.md
 * §2–3): AES-256-GCM values stored as lowercase hex of `nonce(12) ‖ ciphertext ‖ tag(16)` with no
 * associated data, the master key's accepted spellings, the `keyseed` derivation, the CI rule that
 * refuses that fallback, and the origin that binds a token to the API it was issued for.
 * Pure functions of their inputs (the caller reads files and the environment).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Rust refuses anything shorter than a nonce plus one byte before it even tries the tag. */
const MIN_SEALED_BYTES = NONCE_BYTES + 1;
const KEYSEED_CONTEXT = 'difflore-local-fallback-master-key-v2';
/** What Rust hashes in place of the OS home when it cannot resolve one. */
export const NO_HOME_MARKER = 'difflore-fallback';

/** Rust's `from_hex`: even length, digits of either case; null otherwise. */
export function fromHex(text: string): Buffer | null {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  return Buffer.from(text, 'hex');
}

/** A master key as text (DIFFLORE_MASTER_KEY after trimming, or the keyring value as stored): 32 bytes or null. */
export function masterKeyFromHex(text: string): Buffer | null {
  const bytes = fromHex(text);
  return bytes !== null && bytes.length === 32 ? bytes : null;
}

/** Seals `plaintext` as Rust's `encrypt_secret` does; `nonce` is for test vectors only (fresh random otherwise). */
export function sealSecret(key: Buffer, plaintext: string, nonce: Buffer = randomBytes(NONCE_BYTES)): string {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('hex');
}

/** Opens a stored value as Rust's `decrypt_secret` does; null for bad hex, a short value, a wrong key or bad UTF-8. */
export function openSecret(key: Buffer, stored: string): string | null {
  const bytes = fromHex(stored);
  if (bytes === null || bytes.length < MIN_SEALED_BYTES || bytes.length < NONCE_BYTES + TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    return null;
  }
}

/** The keyseed file's content as Rust accepts it: trimmed, exactly 64 lowercase hex digits. */
export function parseKeyseed(text: string): Buffer | null {
  const trimmed = text.trim();
  return /^[0-9a-f]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : null;
}

/** SHA-256(context ‖ seed ‖ OS home ‖ [\0machine-id\0 ‖ id]): the local fallback master key. */
export function deriveKeyseedKey(seed: Buffer, osHome: string | null, machineId: string | null): Buffer {
  const hash = createHash('sha256')
    .update(KEYSEED_CONTEXT, 'utf8')
    .update(seed)
    .update(osHome ?? NO_HOME_MARKER, 'utf8');
  if (machineId !== null) hash.update('\0machine-id\0', 'utf8').update(machineId, 'utf8');
  return hash.digest();
}

/** The variables Rust's `is_ci_environment` looks at. */
export const CI_VARIABLES = [
  'CI',
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'BUILDKITE',
  'JENKINS_URL',
  'TRAVIS',
  'TEAMCITY_VERSION',
  'CODEBUILD_BUILD_ID',
] as const;

/** The first CI variable that is truthy by Rust's rule (set, non-empty, not exactly `0` or `false`), or null. */
export function ciVariable(env: NodeJS.ProcessEnv): string | null {
  for (const name of CI_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== '' && value !== '0' && value !== 'false') return name;
  }
  return null;
}

/** `scheme://authority` of the API base, lower-cased, path dropped (Rust's `api_origin`). */
export function apiOrigin(baseUrl: string): string {
  return new URL(baseUrl).origin.toLowerCase();
}

/** The origin of Rust's release default base, the one a login without `token_host` is bound to. */
export const DEFAULT_API_ORIGIN = 'https://difflore.dev';

/** Rust's host binding: the stored host must equal the current origin; without one, only the default origin. */
export function hostAllows(storedHost: string | null, currentOrigin: string): boolean {
  return storedHost === null ? currentOrigin === DEFAULT_API_ORIGIN : storedHost === currentOrigin;
}
