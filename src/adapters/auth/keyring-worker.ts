/**
 * Runs in a worker thread: reads the OS keyring entry once and posts what it found. The keyring
 * binding connects to D-Bus synchronously (even its "async" entry, when it is built), and a Secret
 * Service that never answers holds that call for the bus's reply timeout: in a worker, the daemon's
 * event loop (heartbeat, signals, passes) never waits on it. Never writes to the keyring.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type * as Keyring from '@napi-rs/keyring';

export interface KeyringRequest {
  readonly service: string;
  readonly account: string;
}

export type KeyringReply =
  | { readonly ok: true; readonly value: string | null }
  | { readonly ok: false; readonly message: string };

const require = createRequire(import.meta.url);

function read(request: KeyringRequest): KeyringReply {
  try {
    const binding = require('@napi-rs/keyring') as typeof Keyring;
    // Pinned to the Secret Service as Rust's keyring-rs build is: the binding's default would fall
    // back to the kernel keyring, a different store the Rust binary never writes.
    const options = process.platform === 'linux' ? { linux: { store: 'secret-service' as const } } : undefined;
    return { ok: true, value: new binding.Entry(request.service, request.account, options).getPassword() ?? null };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.postMessage(read(workerData as KeyringRequest));
