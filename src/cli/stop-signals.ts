/**
 * How a foreground server command (`cloud serve`, `daemon view`, `inspect relay`, `daemon log
 * --follow`) learns it should end: the first SIGTERM or SIGINT.
 */

/**
 * Resolves with the first SIGTERM or SIGINT and then stops listening. Call it before printing the
 * line a script waits for (the URL): whoever reads that line may signal at once.
 */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
