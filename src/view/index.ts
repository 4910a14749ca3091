/**
 * The composition of `daemon view`: lay out both machines once, start the feed over the data home,
 * serve the page and the stream. Loaded only by the `daemon view` command.
 */
import type { HomePaths } from '../adapters/home/home.js';
import { ViewFeed } from './feed.js';
import { preparePage, renderPage } from './page.js';
import { startViewServer } from './server.js';
import { machineSvg } from './svg.js';

export interface RunningView {
  readonly url: string;
  close(): Promise<void>;
}

export interface ViewOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly port: number;
  readonly backlogSampleMs?: number;
}

export async function startView(paths: HomePaths, options: ViewOptions): Promise<RunningView> {
  preparePage();
  const [daemonSvg, stopSvg] = await Promise.all([machineSvg('daemon'), machineSvg('stop')]);
  const feed = new ViewFeed(paths, { env: options.env, backlogSampleMs: options.backlogSampleMs });
  let server: Awaited<ReturnType<typeof startViewServer>>;
  try {
    server = await startViewServer({
      port: options.port,
      feed,
      page: (nonce) => renderPage({ daemonSvg, stopSvg }, feed.snapshot(), nonce),
    });
  } catch (error) {
    // Nothing may keep the process alive after a failed start (a port in use is a usage error).
    feed.stop();
    throw error;
  }
  feed.start();
  return {
    url: server.url,
    close: async () => {
      feed.stop();
      await server.close();
    },
  };
}
