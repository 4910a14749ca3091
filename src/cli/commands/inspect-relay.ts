/**
 * `difflore inspect relay`: the Stately inspector relay for `daemon run --inspect`, on 127.0.0.1 only
 * (the library's own `createInspectorServer` listens on every interface). Loads `ws` inside `run`.
 */
import { nextStopSignal } from '../stop-signals.js';
import { parsePort } from '../option-numbers.js';
import { DEFAULT_INSPECT_URL } from '../daemon-options.js';
import { defineCommand, flag, output, value } from '../command-spec.js';

/** The relay listens where `daemon run --inspect` streams by default. */
const INSPECT_PORT = new URL(DEFAULT_INSPECT_URL).port;

export default defineCommand({
  paths: [['inspect', 'relay']],
  usage: {
    category: 'Inspection',
    description: 'Relay `daemon run --inspect` to the hosted Stately inspector, on 127.0.0.1',
    details: `
      Listens on 127.0.0.1 only. \`difflore daemon run --inspect ws://127.0.0.1:PORT\` streams the daemon's
      machine to it; the page it serves at http://127.0.0.1:PORT embeds the hosted Stately inspector
      (stately.ai) and hands it the frames. That page needs the internet: offline, or behind a
      firewall, use \`difflore daemon view\`, which needs nothing but this machine.

      WebSocket connections from a web page of another origin are refused. Stop it with Ctrl-C.
    `,
    examples: [
      ['Start the relay, then the daemon streaming to it', '$0 inspect relay --port 8080'],
      ['Only print the page address', '$0 inspect relay --no-open'],
    ],
  },
  options: {
    port: value(
      '--port',
      `Port on 127.0.0.1 (default ${INSPECT_PORT}, the daemon --inspect default; 0 = a free one)`,
      INSPECT_PORT,
    ),
    noOpen: flag('--no-open', 'Print the page address without opening a browser'),
  },

  parse: (raw) => ({ ...raw, port: parsePort(raw.port) }),
  async run(args, io) {
    const out = output(io);
    const env = io.env;
    const { startInspectRelay } = await import('../inspect-relay.js');
    const relay = await startInspectRelay(args.port);
    const stopped = nextStopSignal();
    out.print(`relay at ${relay.wsUrl}: difflore daemon run --inspect ${relay.wsUrl}`);
    out.print(`inspector page at ${relay.pageUrl} (embeds the hosted Stately inspector: needs the internet)`);
    if (!args.noOpen) {
      const { openBrowser } = await import('../open-browser.js');
      await openBrowser(relay.pageUrl, env, (why) => out.warn(`difflore: ${why}; open the page above`));
    }
    await stopped;
    await relay.close();
    return 0;
  },
});
