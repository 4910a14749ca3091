/**
 * The inspector wiring of `daemon run --inspect` (src/cli/inspect.ts) against a real WebSocket relay
 * on 127.0.0.1: frames arrive, no frame carries the token (the actor definition included, where the
 * library's sanitizeContext does not reach), and neither an absent relay nor a closed one keeps the
 * process busy: after close() no socket or timer of the inspector is left.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, createActor, createMachine } from 'xstate';
import { DEFAULT_INSPECT_URL } from '../../src/cli/daemon-options.js';
import { checkInspectUrl, scrubFrame, startInspector } from '../../src/cli/inspect.js';
import { waitFor } from '../helpers/index.js';
import { type Relay, startRelay, stopRelay, type WsServer } from '../helpers/ws-relay.js';

const TOKEN = 'tok_inspect_9a8b7c6d5e4f"q\\z';

const servers: WsServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await stopRelay(server);
});

async function relay(): Promise<Relay> {
  const started = await startRelay();
  servers.push(started.server);
  return started;
}

/** A machine whose initial context holds the token, as a careless one would. */
const leaky = createMachine({
  id: 'leaky',
  context: { token: TOKEN, header: `Bearer ${TOKEN}`, count: 0 },
  initial: 'idle',
  states: {
    idle: { on: { GO: { target: 'busy', actions: assign({ count: ({ context }) => context.count + 1 }) } } },
    busy: { on: { DONE: 'idle' } },
  },
});

function inspectorHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPWRAP' || r === 'TCPSocketWrap');
}

describe('scrubFrame', () => {
  it('redacts the token everywhere, including inside a serialized definition and escaped forms', () => {
    const frame = {
      type: '@xstate.actor',
      definition: JSON.stringify({ context: { token: TOKEN, note: `token is ${TOKEN}` } }),
      snapshot: { context: { nested: [{ deep: `x${TOKEN}y` }] } },
      event: { type: 'GO', payload_json: '{"big":"body"}', authorization: 'anything' },
    };
    const text = JSON.stringify(scrubFrame(frame, [TOKEN]));
    expect(text).not.toContain('tok_inspect_9a8b7c6d5e4f');
    expect(text).toContain('[redacted]');
    expect(text).toContain('[omitted]');
  });

  it('checks inspector URLs', () => {
    expect(checkInspectUrl(DEFAULT_INSPECT_URL)).toBe('ws://127.0.0.1:8080/');
    expect(checkInspectUrl('wss://inspect.example.com/x')).toBe('wss://inspect.example.com/x');
    expect(() => checkInspectUrl('ws://example.com:8080')).toThrow(/not loopback/);
    expect(() => checkInspectUrl('http://127.0.0.1:8080')).toThrow(/ws:\/\//);
    expect(() => checkInspectUrl('nonsense')).toThrow(/not a URL/);
  });
});

describe('startInspector', () => {
  it('streams scrubbed frames to the relay and leaves no socket behind after close()', async () => {
    const { url, frames } = await relay();
    const inspector = await startInspector({ url, secrets: () => [TOKEN] });
    const actor = createActor(leaky, { inspect: inspector.inspect });
    actor.start();
    actor.send({ type: 'GO' });
    actor.send({ type: 'DONE' });
    await waitFor(() => frames.some((f) => f.includes('"DONE"')), { what: 'the DONE event at the relay' });
    actor.stop();
    await inspector.close();

    const types = new Set(frames.map((f) => (JSON.parse(f) as { type: string }).type));
    expect(types).toEqual(new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
    const definition = frames.map((f) => JSON.parse(f) as { definition?: string }).find((f) => f.definition);
    expect(definition?.definition).toContain('[redacted]');
    for (const frame of frames) expect(frame).not.toContain('tok_inspect_9a8b7c6d5e4f');
    await waitFor(() => inspectorHandles().length === 0, { what: 'the inspector socket to close' });
  });

  it('with no relay listening, close() leaves no socket and no reconnect timer behind', async () => {
    const { url, server } = await relay();
    // A port that was just free: nothing listens there now.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    servers.splice(servers.indexOf(server), 1);
    const problems: string[] = [];
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const inspector = await startInspector({ url, secrets: () => [TOKEN], onProblem: (m) => problems.push(m) });
    const actor = createActor(leaky, { inspect: inspector.inspect });
    actor.start();
    await waitFor(() => problems.length > 0, { what: 'the connection failure to be reported' });
    expect(problems[0]).toContain('cannot reach the inspector');
    actor.stop();
    await inspector.close();
    await waitFor(() => inspectorHandles().length === 0, { what: 'the failed socket to be gone' });
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(before);
  });
});
