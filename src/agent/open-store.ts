/**
 * Opens the lease store an agent (or `weft leases`, `weft net-conf`, a lab's pod runner) is told
 * to use. Its own module, so those callers do not load the whole agent.
 */

import { systemClock } from '../adapters/clock.js';
import { SqliteLeaseStore } from '../adapters/lease-store-sqlite.js';
import type { LeaseStore } from '../ports/lease-store.js';

export interface StoreOptions {
  store: string;
  storeFile: string;
  etcdEndpoints: string;
  etcdPrefix: string;
}

/** The --etcd-endpoints list, split on commas. */
export function etcdEndpointList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export async function openStore(opts: StoreOptions): Promise<LeaseStore> {
  if (opts.store === 'embedded') return new SqliteLeaseStore({ path: opts.storeFile, clock: systemClock });
  if (opts.store === 'etcd') {
    const { EtcdLeaseStore } = await import('../adapters/lease-store-etcd.js');
    return new EtcdLeaseStore({
      endpoints: etcdEndpointList(opts.etcdEndpoints),
      prefix: opts.etcdPrefix,
      clock: systemClock,
    });
  }
  throw new Error(`--store: unknown datastore "${opts.store}" (expected embedded or etcd)`);
}
