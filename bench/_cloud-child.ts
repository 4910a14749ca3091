/**
 * The reference cloud in its own process for benchmarks, so the drainer and the server do not share
 * an event loop. Prints `listening on URL` and stops on SIGTERM. Options come as JSON in argv[2].
 */
import { startReferenceCloud } from '../src/reference-cloud/server.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startReferenceCloud>[0];
const cloud = await startReferenceCloud(options);
process.stdout.write(`listening on ${cloud.url}\n`);
process.once('SIGTERM', () => {
  void cloud.close().then(() => process.exit(0));
});
