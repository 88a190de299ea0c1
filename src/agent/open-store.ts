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
  /** TLS to etcd, as flanneld's flags of the same names (--etcd-cafile, --etcd-certfile, --etcd-keyfile). */
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

/**
 * The TLS files of `opts`, checked: none at all (plain HTTP, or https with the system's CAs), or
 * the CA with an optional certificate and key pair. A flag that cannot take effect is refused.
 */
export function etcdTlsOf(opts: StoreOptions): { caFile: string; certFile?: string; keyFile?: string } | undefined {
  const given = (['etcdCafile', 'etcdCertfile', 'etcdKeyfile'] as const).filter((k) => opts[k] !== undefined);
  if (given.length === 0) return undefined;
  const flag = (k: string) => `--${k.replace('etcd', 'etcd-').toLowerCase()}`;
  if (opts.store !== 'etcd') throw new Error(`${flag(given[0]!)}: only with --store etcd`);
  if ((opts.etcdCertfile === undefined) !== (opts.etcdKeyfile === undefined))
    throw new Error('--etcd-certfile and --etcd-keyfile: give both (the client certificate and its key) or neither');
  if (opts.etcdCafile === undefined)
    throw new Error("--etcd-cafile: needed with --etcd-certfile (the CA that signed etcd's server certificate)");
  if (etcdEndpointList(opts.etcdEndpoints).some((e) => !e.startsWith('https://')))
    throw new Error('--etcd-endpoints: TLS flags are given, so every endpoint must be an https:// URL');
  return {
    caFile: opts.etcdCafile,
    ...(opts.etcdCertfile !== undefined ? { certFile: opts.etcdCertfile } : {}),
    ...(opts.etcdKeyfile !== undefined ? { keyFile: opts.etcdKeyfile } : {}),
  };
}

/** The --etcd-endpoints list, split on commas. */
export function etcdEndpointList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export async function openStore(opts: StoreOptions): Promise<LeaseStore> {
  const tls = etcdTlsOf(opts);
  if (opts.store === 'embedded') return new SqliteLeaseStore({ path: opts.storeFile, clock: systemClock });
  if (opts.store === 'etcd') {
    const { EtcdLeaseStore } = await import('../adapters/lease-store-etcd.js');
    return new EtcdLeaseStore({
      endpoints: etcdEndpointList(opts.etcdEndpoints),
      prefix: opts.etcdPrefix,
      clock: systemClock,
      ...(tls ? { tls } : {}),
    });
  }
  throw new Error(`--store: unknown datastore "${opts.store}" (expected embedded or etcd)`);
}
