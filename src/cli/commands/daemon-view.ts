/**
 * `difflore daemon view`: a live page of both machines for this data home, served on 127.0.0.1 with a
 * key in the URL, offline (DESIGN §7). Everything it needs loads inside `run` (src/view/), so listing
 * the command costs the CLI nothing.
 */
import { nextStopSignal } from '../stop-signals.js';
import { parsePort } from '../option-numbers.js';
import { defineCommand, flag, output, value } from '../command-spec.js';

export default defineCommand({
  paths: [['daemon', 'view']],
  usage: {
    category: 'Inspection',
    description: 'Serve a live page of the daemon and stop machines on 127.0.0.1',
    details: `
      Serves one self-contained page on 127.0.0.1 (never another interface) and prints its URL, which
      carries a random key; every other request gets 403. The page draws both statecharts, marks the
      daemon's current state, lights up each transition as it is journaled, and shows the last drain
      passes, the backlog by kind over the last hour (sampled while the view runs), the token and
      breaker state when the state file records them, and the last \`daemon stop\` run.

      It reads the data home only (journal, state file, data.db read-only), so it works for a daemon
      started without \`--inspect\`, keeps going across daemon restarts, and with no daemon shows
      "not running" and the last journal. Nothing is fetched from the network. Stop it with Ctrl-C.
    `,
    examples: [
      ['Open the view in a browser', '$0 daemon view'],
      ['Serve on a fixed port and only print the URL', '$0 daemon view --port 7777 --no-open'],
    ],
  },
  options: {
    port: value('--port', 'Port on 127.0.0.1 (default: a free one)', '0'),
    sampleEvery: value('--sample-every', 'How often the backlog is counted from data.db (e.g. 5s, 500ms)', '5s'),
    noOpen: flag('--no-open', 'Print the URL without opening a browser'),
  },

  parse: (raw) => ({ ...raw, port: parsePort(raw.port) }),
  async run(args, io) {
    const out = output(io);
    const env = io.env;
    const [{ homePaths, resolveHome }, { parseDuration, TIMEOUT_UNITS }, { startView }] = await Promise.all([
      import('../../adapters/home/home.js'),
      import('../durations.js'),
      import('../../view/index.js'),
    ]);
    const backlogSampleMs = Math.max(100, parseDuration('--sample-every', args.sampleEvery, TIMEOUT_UNITS));
    const paths = homePaths(resolveHome(env));
    const view = await startView(paths, { env, port: args.port, backlogSampleMs });
    // Handlers before the URL line: whoever reads it may signal at once.
    const stopped = nextStopSignal();
    out.print(`view at ${view.url}`);
    if (!args.noOpen) {
      const { openBrowser } = await import('../open-browser.js');
      await openBrowser(view.url, env, (why) => out.warn(`difflore: ${why}; open the URL above`));
    }
    await stopped;
    await view.close();
    return 0;
  },
});
