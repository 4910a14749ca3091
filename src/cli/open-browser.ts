/**
 * Opening a URL in the user's browser, for the commands that serve a page (`daemon view`,
 * `inspect relay`). Best effort: when this session cannot show a browser, the caller has printed the
 * URL and that is enough.
 */

/** The platform's "open this URL" program, if this session can show a browser at all. */
function opener(env: NodeJS.ProcessEnv): string | null {
  if (process.platform === 'darwin') return 'open';
  if (process.platform !== 'linux' && process.platform !== 'freebsd') return null;
  // Without a display, xdg-open would start a text browser inside this terminal.
  return env.DISPLAY || env.WAYLAND_DISPLAY ? 'xdg-open' : null;
}

/** Starts the browser on `url` without waiting for it; `onFailure` hears why it could not. */
export async function openBrowser(
  url: string,
  env: NodeJS.ProcessEnv,
  onFailure: (why: string) => void,
): Promise<void> {
  const program = opener(env);
  if (program === null) return;
  const { spawn } = await import('node:child_process');
  const child = spawn(program, [url], { stdio: 'ignore', detached: true });
  child.on('error', (error) => onFailure(`could not run ${program}: ${error.message}`));
  child.unref();
}
