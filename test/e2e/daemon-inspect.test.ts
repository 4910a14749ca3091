/**
 * `daemon run --inspect` as a real process: the daemon's machine reaches a WebSocket relay on
 * 127.0.0.1 with the token nowhere in any frame, and a relay that is not there neither stops the
 * daemon from serving nor keeps it alive after SIGTERM (the library alone would retry forever).
 */
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, waitFor } from '../helpers/index.js';
import { startRelay, stopRelay, type WsServer } from '../helpers/ws-relay.js';
import { DaemonWorld, stateName, TOKEN } from './daemon-harness.js';

let world: DaemonWorld;
let server: WsServer | null = null;

beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
  if (server !== null) {
    await stopRelay(server);
    server = null;
  }
});

function runDaemon(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, 'daemon', 'run', '--tick', '60s', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  world.track(child.pid);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

describe('daemon run --inspect', () => {
  it('streams the daemon machine to the relay with the token scrubbed, and exits 0 on SIGTERM', async () => {
    const relay = await startRelay();
    server = relay.server;
    const { url, frames } = relay;
    const cloud = await world.cloud();
    const env = world.env({ DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN });
    const daemon = runDaemon(['--inspect', url], env);

    await waitFor(
      () => world.state()?.pid === daemon.child.pid && stateName(world.state()?.value) === 'serving.running',
      {
        what: 'the daemon to serve',
      },
    );
    await waitFor(() => frames.some((f) => f.includes('serving')), { what: 'a serving snapshot at the relay' });
    const actors = frames
      .map((f) => JSON.parse(f) as { type: string; name?: string })
      .filter((f) => f.type === '@xstate.actor');
    expect(actors.some((a) => a.name === 'daemon')).toBe(true);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(daemon.stderr()).toContain(`streaming to the Stately inspector at ${url}`);
    for (const frame of frames) expect(frame).not.toContain(TOKEN);
  });

  it('an absent relay neither blocks serving nor keeps the process alive after SIGTERM', async () => {
    // Port 9 (discard) on loopback: nothing listens there in the test sandbox.
    const daemon = runDaemon(['--inspect', 'ws://127.0.0.1:9'], world.env());
    await waitFor(
      () => world.state()?.pid === daemon.child.pid && stateName(world.state()?.value) === 'serving.running',
      {
        what: 'the daemon to serve',
      },
    );
    await waitFor(() => daemon.stderr().includes('cannot reach the inspector'), { what: 'the relay problem reported' });
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(world.pidFile()).toBeNull();
  });
});
