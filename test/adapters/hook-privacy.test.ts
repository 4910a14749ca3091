/**
 * Property: an event for a path on the privacy deny-list leaves nothing anywhere — no database, no
 * outbox row, no spill file, no log line — whatever the path looks like (`/` or `\`, any case, the
 * denied segment anywhere), whether the database works or not, while the same event for an allowed
 * path is queued. Runs the real hook (runAgentHook) in this process against real temp homes.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { runAgentHook } from '../../src/cli/run-hook.js';
import { cleanEnv, makeTempHome } from '../helpers/index.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const DENIED = [
  '.env',
  '.Env.production',
  'app.SECRETS.json',
  'tls.key',
  'ca.pem',
  'id_rsa',
  'id_rsa.pub',
  'credentials',
];
const ALLOWED = ['src', 'lib', 'é', 'key_utils', '.envrc', 'secrets.json', 'pem_parser.rs'];
const SECRET = 'sk-live-0123456789';

const pathArb = fc
  .record({
    before: fc.array(fc.constantFrom(...ALLOWED), { maxLength: 3 }),
    denied: fc.constantFrom(...DENIED),
    after: fc.array(fc.constantFrom(...ALLOWED), { maxLength: 2 }),
    sep: fc.constantFrom('/', '\\'),
    lead: fc.constantFrom('', '/', 'C:\\', '~/'),
  })
  .map(({ before, denied, after, sep, lead }) => lead + [...before, denied, ...after].join(sep));

function everythingIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true }).map(String);
}

describe('a denied path leaves no trace', () => {
  it('in the database, the spill directory or the logs', async () => {
    await fc.assert(
      fc.asyncProperty(
        pathArb,
        fc.constantFrom('Edit', 'Write', 'MultiEdit'),
        fc.boolean(),
        async (path, tool, brokenDb) => {
          const { home, cleanup } = makeTempHome('difflore-privacy-');
          cleanups.push(cleanup);
          mkdirSync(home, { recursive: true, mode: 0o700 });
          if (brokenDb) writeFileSync(join(home, 'data.db'), 'garbage '.repeat(64));
          const before = everythingIn(home);
          const input =
            tool === 'Write'
              ? { file_path: path, content: `KEY=${SECRET}\r\n` }
              : tool === 'Edit'
                ? { file_path: path, old_string: 'KEY=old', new_string: `KEY=${SECRET}` }
                : { file_path: path, edits: [{ old_string: 'KEY=old', new_string: `KEY=${SECRET}` }] };
          const stdin = JSON.stringify({
            session_id: 's',
            hook_event_name: 'PostToolUse',
            tool_name: tool,
            tool_input: input,
          });
          let out = '';
          const code = await runAgentHook('claude-code', {
            readStdin: async () => ({ kind: 'text', text: stdin }),
            stdout: { write: (t: string) => (out += t) },
            env: cleanEnv({ DIFFLORE_HOME: home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' }),
          });
          expect(code).toBe(0);
          expect(out).toBe('{"continue":true}\n');
          expect(everythingIn(home)).toEqual(before);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('while the same edit of an allowed file is queued', async () => {
    const { home, cleanup } = makeTempHome('difflore-privacy-');
    cleanups.push(cleanup);
    const stdin = JSON.stringify({
      hook_event_name: 'PostToolUse',
      tool_name: 'Edit',
      tool_input: { file_path: 'src/.envrc', old_string: 'a', new_string: 'b' },
    });
    await runAgentHook('claude-code', {
      readStdin: async () => ({ kind: 'text', text: stdin }),
      stdout: { write: () => true },
      env: cleanEnv({ DIFFLORE_HOME: home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' }),
    });
    expect(existsSync(join(home, 'data.db'))).toBe(true);
  });
});
