/**
 * `fix_acceptance`, legacy (rust-wire §2.4): never parsed, never sent; the any-kind drain confirms
 * (deletes) the row whatever it holds.
 */
import { anyJson } from './responses.js';
import type { ContractResult, KindContract } from './types.js';

export const fixAcceptance: KindContract = {
  kind: 'fix_acceptance',
  label: 'fix_acceptance',
  mode: 'skip',
  route: '',
  parse: (): ContractResult => ({ ok: true, path: '', body: null }),
  judge: anyJson,
};
