/**
 * The token in every encoding we can produce or receive (issue 9, case 4): a cloud that echoes it
 * JSON-escaped, percent-encoded, form-encoded or base64-encoded (alone or inside a larger blob)
 * must not get it into `last_error`, the logs or the journal. Short tokens are refused at the source.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scrubText } from '../../src/adapters/lifecycle/daemon-log.js';
import { readCloudToken } from '../../src/adapters/delivery/cloud-config.js';
import { homePaths } from '../../src/adapters/home/home.js';
import { formatHttpError } from '../../src/machines/delivery-policy.js';
import { replaceSecrets, secretForms } from '../../src/machines/secrets.js';

const TOKEN = 'ab"c\\d/e+f=g<h>&i~j k';
const B64_TOKEN = 'dG9rX2xpdmU/+abc==';

/** Every way the suite expects a token to be echoed back. */
function encodings(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const b64 = Buffer.from(secret).toString('base64');
  return [
    secret,
    json,
    json.replaceAll('/', '\\/'),
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
    new URLSearchParams({ q: secret }).toString().slice(2),
    encodeURIComponent(json),
    b64,
    Buffer.from(secret).toString('base64url'),
    // inside a Basic credential and at every byte alignment of a larger blob
    Buffer.from(`user:${secret}`).toString('base64'),
    Buffer.from(`x${secret}y`).toString('base64'),
    Buffer.from(`xy${secret}z`).toString('base64url'),
  ];
}

describe('secret forms', () => {
  it.each([TOKEN, B64_TOKEN, 'tok_plain_0123456789'])('scrubs %s in every encoding', (secret) => {
    for (const encoded of encodings(secret)) {
      const body = `{"error":"bad token ${encoded} given"}`;
      expect(replaceSecrets(body, [secret], '#'), encoded).not.toContain(encoded);
      expect(scrubText(body, [secret]), encoded).toContain('[redacted]');
      const lastError = formatHttpError(401, body, [secret]);
      for (const form of encodings(secret)) expect(lastError, form).not.toContain(form);
    }
  });

  it('finds any printable token of 8+ characters in any of its encodings, inside any text', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 8, maxLength: 40, unit: fc.constantFrom(...'abcXYZ09"\\/+=<>&~%._-') }),
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        fc.nat({ max: 11 }),
        (secret, before, after, which) => {
          const encoded = encodings(secret)[which] as string;
          return !replaceSecrets(`${before}${encoded}${after}`, [secret], '\u0000').includes(encoded);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('every form is at least 8 characters, so no form can eat ordinary text', () => {
    for (const form of secretForms('abcdefgh')) expect(form.length).toBeGreaterThanOrEqual(8);
  });
});

describe('short tokens', () => {
  it('are refused with the reason and the fix, from the environment', () => {
    const result = readCloudToken(homePaths('/nonexistent-difflore-home'), { DIFFLORE_CLOUD_TOKEN: 'abc1234' });
    expect(result.kind).toBe('refused');
    expect(result.kind === 'refused' && result.message).toMatch(/7 characters long.*shorter than 8.*Fix:/);
    expect(result.kind === 'refused' && result.message).not.toContain('abc1234');
  });
});
