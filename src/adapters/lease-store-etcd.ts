/**
 * LeaseStore on etcd v3 with Flannel's key layout, so weft's agent and flanneld read and write
 * the same data:
 *   <prefix>/config                      net-conf.json text
 *   <prefix>/subnets/10.244.3.0-24       {"PublicIP":"10.99.0.3","PublicIPv6":null,"BackendType":"vxlan",
 *                                         "BackendData":{"VNI":1,"VtepMAC":"0e:77:0a:63:00:03"}}
 * each subnet key attached to an etcd lease with the TTL, so etcd itself deletes it on expiry.
 *
 * It speaks etcd's gRPC API through the `etcd3` client (one HTTP/2 connection per endpoint):
 * - acquire is a grant plus one transaction (put if the key's version is 0), so of many racers
 *   exactly one wins; renew is one keepalive on the key's own etcd lease (a put only when the
 *   attributes changed, a fresh grant only when the TTL did). No call per peer lease: a peer's
 *   expiry is etcd's DELETE of its key, seen by the watch.
 * - watch is one etcd watch on the subnets prefix from the revision of a list
 *   (lease-store-etcd-watch.ts): idle, it costs etcd nothing.
 * - Every unary call has a deadline, so a node whose etcd is down gets a clear error quickly;
 *   reconnects are capped at about a second, so a store that returns is used at once.
 * etcd counts TTLs in whole seconds: a TTL is rounded up to the next second.
 */

import { readFileSync } from 'node:fs';
import { Etcd3, type IKeyValue, type IOptions } from 'etcd3';
import type { Clock } from '../ports/clock.js';
import {
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  type LeaseStore,
  type LeaseWatch,
} from '../ports/lease-store.js';
import { LeaseLostError, LeaseTakenError } from '../core/port-errors.js';
import { EtcdLeaseWatch } from './lease-store-etcd-watch.js';

export interface EtcdTlsFiles {
  /** CA bundle that signed the etcd server's certificate (flanneld's --etcd-cafile). */
  caFile: string;
  /** Client certificate and its key, for etcd's --client-cert-auth (--etcd-certfile, --etcd-keyfile). */
  certFile?: string;
  keyFile?: string;
}

export interface EtcdLeaseStoreOptions {
  /** Client URLs, http(s)://host:port (--etcd-endpoints, comma-separated on the command line). */
  endpoints: string[];
  prefix: string;
  clock: Clock;
  /** Deadline of each unary call (ms); default 2000. */
  timeoutMs?: number;
  /** TLS as flanneld's --etcd-cafile/--etcd-certfile/--etcd-keyfile (checked by src/agent/open-store.ts). */
  tls?: EtcdTlsFiles;
}

/** A subnet key's value, as flanneld writes it. */
export interface FlannelValue {
  PublicIP: string;
  PublicIPv6?: string | null;
  BackendType: string;
  BackendData?: { VNI?: number; VtepMAC?: string } | null;
  /** weft's own addition (flanneld ignores unknown fields). */
  NodeName?: string;
}

type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/** Watch reconnects after 100 ms, doubling to at most `maxMs` (etcd3's default grows to 30 s). */
function cappedBackoff(ms: number, maxMs: number): Backoff {
  return { duration: ms, next: () => cappedBackoff(Math.min(maxMs, ms * 2), maxMs) };
}

/** "10.244.3.0/24" ↔ "10.244.3.0-24", Flannel's key form. */
export const keyOfSubnet = (subnet: string) => subnet.replace('/', '-');
export const subnetOfKey = (key: string) => key.slice(key.lastIndexOf('/') + 1).replace(/-(\d+)$/, '/$1');

/** The value written for a lease: byte for byte what the JSON-gateway store wrote before. */
export function flannelValue(attrs: LeaseAttrs): string {
  const v: FlannelValue = {
    PublicIP: attrs.publicIp,
    PublicIPv6: null,
    BackendType: attrs.backendType,
    BackendData: attrs.backendData,
  };
  if (attrs.nodeName) v.NodeName = attrs.nodeName;
  return JSON.stringify(v);
}

/** The lease attributes in a subnet key, or undefined when the key holds something else. */
export function parseFlannelValue(text: string): LeaseAttrs | undefined {
  let v: FlannelValue;
  try {
    v = JSON.parse(text) as FlannelValue;
  } catch {
    // A key under subnets/ that is not a lease (someone else's data): not ours to interpret.
    return undefined;
  }
  if (typeof v !== 'object' || v === null || typeof v.PublicIP !== 'string' || typeof v.BackendType !== 'string')
    return undefined;
  const attrs: LeaseAttrs = {
    publicIp: v.PublicIP,
    backendType: v.BackendType,
    backendData: {
      ...(v.BackendData?.VNI !== undefined ? { VNI: v.BackendData.VNI } : {}),
      ...(v.BackendData?.VtepMAC ? { VtepMAC: v.BackendData.VtepMAC } : {}),
    },
  };
  if (v.NodeName) attrs.nodeName = v.NodeName;
  return attrs;
}

const ttlSeconds = (ttlMs: number) => Math.max(1, Math.ceil(ttlMs / 1000));
const NO_LEASE = '0';

export class EtcdLeaseStore implements LeaseStore {
  private readonly client: Etcd3;
  private readonly watches = new Set<EtcdLeaseWatch>();
  /**
   * etcd lease ID → the latest time it is known to run out: set by our own grants and
   * keepalives, and by a TimeToLive asked only when the last known time has passed (a peer kept
   * its lease alive meanwhile). Never later than the real expiry.
   */
  private readonly expiries = new Map<string, number>();
  /** etcd lease ID → its granted TTL in seconds, for the leases this client granted or asked about. */
  private readonly granted = new Map<string, number>();

  constructor(private readonly o: EtcdLeaseStoreOptions) {
    if (o.endpoints.length === 0) throw new Error('--etcd-endpoints: at least one URL is needed');
    for (const e of o.endpoints)
      if (!/^https?:\/\/[^/]+$/.test(e.replace(/\/$/, '')))
        throw new Error(`--etcd-endpoints: "${e}" is not an http(s)://host:port URL`);
    const timeoutMs = o.timeoutMs ?? 2000;
    this.client = new Etcd3({
      hosts: o.endpoints.map((e) => e.replace(/\/$/, '')),
      ...(o.tls ? { credentials: readTls(o.tls) } : {}),
      dialTimeout: timeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: new Date(o.clock.now() + timeoutMs) }),
      faultHandling: { watchBackoff: cappedBackoff(100, 1_000) },
      grpcOptions: {
        // grpc-js backs reconnects off to 2 minutes by default; a store that is back is used within a second.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        // HTTP/2 pings (not etcd requests) notice a connection that died without a FIN.
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
    });
  }

  private get base(): string {
    return this.o.prefix.replace(/\/$/, '');
  }

  get subnetsPrefix(): string {
    return `${this.base}/subnets/`;
  }

  private keyOf(subnet: string): string {
    return `${this.subnetsPrefix}${keyOfSubnet(subnet)}`;
  }

  /** Runs one etcd call; a failure names the action, the object and every endpoint, and keeps the cause. */
  async call<T>(action: string, fn: (c: Etcd3) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client);
    } catch (err) {
      if (err instanceof LeaseLostError || err instanceof LeaseTakenError) throw err;
      throw new Error(`etcd ${action} (at ${this.o.endpoints.join(',')}): ${(err as Error).message}`, { cause: err });
    }
  }

  /** Every key under the subnets prefix and the revision it was read at. */
  async rangeSubnets(): Promise<{ kvs: IKeyValue[]; revision: number }> {
    const prefix = Buffer.from(this.subnetsPrefix);
    const end = Buffer.from(prefix);
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
    const r = await this.call(`list ${this.subnetsPrefix}`, (c) => c.kv.range({ key: prefix, range_end: end }));
    return { kvs: r.kvs, revision: Number(r.header.revision) };
  }

  /** The lease a subnet key holds, or undefined when it holds something else. */
  async leaseOf(kv: IKeyValue): Promise<Lease | undefined> {
    const attrs = parseFlannelValue(kv.value.toString('utf8'));
    if (!attrs) return undefined;
    return { ...attrs, subnet: subnetOfKey(kv.key.toString('utf8')), expiresAt: await this.expiryOf(kv.lease) };
  }

  /**
   * When an etcd lease runs out at the latest. A key read back was alive at that read (etcd
   * deletes a key with its lease), so a lease etcd no longer knows (a renew swapped it between
   * the read and this question) or one in its last second counts as alive just now.
   */
  async expiryOf(leaseId: string): Promise<number> {
    if (!leaseId || leaseId === NO_LEASE) return Number.MAX_SAFE_INTEGER;
    const now = this.o.clock.now();
    const known = this.expiries.get(leaseId);
    if (known !== undefined && known > now) return known;
    const r = await this.call(`time-to-live of lease ${leaseId}`, (c) =>
      c.leaseClient.leaseTimeToLive({ ID: leaseId }),
    );
    const ttl = Number(r.TTL);
    if (Number(r.grantedTTL) > 0) this.granted.set(leaseId, Number(r.grantedTTL));
    if (ttl <= 0) {
      this.expiries.delete(leaseId);
      return now + 1;
    }
    this.expiries.set(leaseId, now + ttl * 1000);
    return now + ttl * 1000;
  }

  async getConfig(): Promise<string | undefined> {
    const r = await this.call(`get ${this.base}/config`, (c) =>
      c.kv.range({ key: Buffer.from(`${this.base}/config`) }),
    );
    return r.kvs[0]?.value.toString('utf8');
  }

  async putConfig(text: string): Promise<void> {
    await this.call(`put ${this.base}/config`, (c) =>
      c.kv.put({ key: Buffer.from(`${this.base}/config`), value: Buffer.from(text, 'utf8') }),
    );
  }

  async listLeases(): Promise<Lease[]> {
    const { kvs } = await this.rangeSubnets();
    const leases = (await Promise.all(kvs.map((kv) => this.leaseOf(kv)))).filter((l): l is Lease => l !== undefined);
    // Forget the expiry of etcd leases no key uses any more.
    const used = new Set(kvs.map((kv) => kv.lease));
    for (const id of this.expiries.keys()) if (!used.has(id)) this.expiries.delete(id);
    for (const id of this.granted.keys()) if (!used.has(id)) this.granted.delete(id);
    return leases.sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
  }

  private async grant(ttlMs: number, what: string): Promise<string> {
    const r = await this.call(`grant a ${ttlSeconds(ttlMs)} s lease for ${what}`, (c) =>
      c.leaseClient.leaseGrant({ TTL: ttlSeconds(ttlMs) }),
    );
    this.granted.set(r.ID, Number(r.TTL));
    this.expiries.set(r.ID, this.o.clock.now() + Number(r.TTL) * 1000);
    return r.ID;
  }

  /** Revokes an etcd lease we granted and no longer need; a failure only lets it run out by itself. */
  private async dropLease(id: string): Promise<void> {
    this.expiries.delete(id);
    this.granted.delete(id);
    await this.client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
  }

  async acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    const key = Buffer.from(this.keyOf(subnet));
    const id = await this.grant(ttlMs, subnet);
    const r = await this.call(`acquire ${subnet}`, (c) =>
      c.kv.txn({
        compare: [{ key, target: 'Version', result: 'Equal', version: 0 }],
        success: [{ request_put: { key, value: Buffer.from(flannelValue(attrs)), lease: id } }],
        failure: [{ request_range: { key } }],
      }),
    ).catch(async (err: unknown) => {
      await this.dropLease(id);
      throw err;
    });
    if (!r.succeeded) {
      await this.dropLease(id);
      const holder = r.responses[0]?.response_range?.kvs[0];
      const by = holder ? parseFlannelValue(holder.value.toString('utf8'))?.publicIp : undefined;
      throw new LeaseTakenError(`acquire ${subnet}: already leased${by ? ` by ${by}` : ''}`);
    }
    return { ...attrs, subnet, expiresAt: this.o.clock.now() + ttlSeconds(ttlMs) * 1000 };
  }

  async renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    const keyText = this.keyOf(subnet);
    const key = Buffer.from(keyText);
    const r = await this.call(`renew ${subnet}: read ${keyText}`, (c) => c.kv.range({ key }));
    const kv = r.kvs[0];
    if (!kv) throw new LeaseLostError(`renew ${subnet}: no live lease (expired or revoked)`);
    const cur = parseFlannelValue(kv.value.toString('utf8'));
    if (cur?.publicIp !== attrs.publicIp)
      throw new LeaseLostError(`renew ${subnet}: now held by ${cur?.publicIp ?? 'a value that is not a lease'}`);
    const value = flannelValue(attrs);
    const leaseId = kv.lease;
    const want = ttlSeconds(ttlMs);
    const granted = leaseId === NO_LEASE ? undefined : (this.granted.get(leaseId) ?? (await this.askGranted(leaseId)));
    if (granted === want) {
      // The usual renewal: one keepalive on the key's own lease, and a put only if an attribute changed.
      const ttl = await this.keepalive(leaseId, subnet);
      if (ttl <= 0) throw new LeaseLostError(`renew ${subnet}: the lease ran out while renewing`);
      if (kv.value.toString('utf8') !== value) await this.swap(subnet, key, kv, value, leaseId);
      return { ...attrs, subnet, expiresAt: this.o.clock.now() + ttl * 1000 };
    }
    // Another TTL (or a key without a lease): a fresh lease with the full TTL, swapped in only if
    // nobody changed the key meanwhile; the old one is revoked after.
    const id = await this.grant(ttlMs, subnet);
    try {
      await this.swap(subnet, key, kv, value, id);
    } catch (err) {
      await this.dropLease(id);
      throw err;
    }
    if (leaseId !== NO_LEASE) await this.dropLease(leaseId);
    return { ...attrs, subnet, expiresAt: this.o.clock.now() + want * 1000 };
  }

  /** Puts `value` on `leaseId` if the key is still at the revision read; LeaseLost if it moved. */
  private async swap(subnet: string, key: Buffer, kv: IKeyValue, value: string, leaseId: string): Promise<void> {
    const r = await this.call(`renew ${subnet}: write`, (c) =>
      c.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
        success: [{ request_put: { key, value: Buffer.from(value), lease: leaseId } }],
      }),
    );
    if (!r.succeeded) throw new LeaseLostError(`renew ${subnet}: the lease changed while renewing`);
  }

  private async askGranted(leaseId: string): Promise<number | undefined> {
    const r = await this.call(`time-to-live of lease ${leaseId}`, (c) =>
      c.leaseClient.leaseTimeToLive({ ID: leaseId }),
    );
    const granted = Number(r.grantedTTL);
    if (!(granted > 0) || Number(r.TTL) <= 0) return undefined;
    this.granted.set(leaseId, granted);
    return granted;
  }

  /** One LeaseKeepAlive round trip; resolves to the lease's TTL in seconds (0: etcd no longer has it). */
  private async keepalive(leaseId: string, subnet: string): Promise<number> {
    const timeoutMs = this.o.timeoutMs ?? 2000;
    const ttl = await this.call(`renew ${subnet}: keepalive of lease ${leaseId}`, async (c) => {
      const stream = await c.leaseClient.leaseKeepAlive({ deadline: new Date(this.o.clock.now() + timeoutMs) });
      try {
        return await new Promise<number>((resolve, reject) => {
          stream.on('data', (res) => resolve(Number(res.TTL)));
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('keepalive stream ended without an answer')));
          stream.write({ ID: leaseId });
        });
      } finally {
        stream.end();
      }
    });
    if (ttl > 0) this.expiries.set(leaseId, this.o.clock.now() + ttl * 1000);
    else this.expiries.delete(leaseId);
    return ttl;
  }

  async revoke(subnet: string): Promise<void> {
    const key = this.keyOf(subnet);
    await this.call(`revoke ${subnet}: delete ${key}`, (c) => c.kv.deleteRange({ key: Buffer.from(key) }));
  }

  async watch(onEvent: (e: LeaseEvent) => void, onError?: (err: Error) => void): Promise<LeaseWatch> {
    const w = new EtcdLeaseWatch({
      store: this,
      client: this.client,
      clock: this.o.clock,
      onEvent,
      ...(onError ? { onError } : {}),
    });
    await w.start();
    this.watches.add(w);
    return {
      stop: async () => {
        this.watches.delete(w);
        await w.stop();
      },
    };
  }

  async close(): Promise<void> {
    for (const w of [...this.watches]) await w.stop();
    this.watches.clear();
    this.client.close();
  }
}

function readTls(t: EtcdTlsFiles): NonNullable<IOptions['credentials']> {
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`etcd TLS: read ${flag} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  if ((t.certFile === undefined) !== (t.keyFile === undefined))
    throw new Error('etcd TLS: --etcd-certfile and --etcd-keyfile go together');
  return {
    rootCertificate: read('--etcd-cafile', t.caFile),
    ...(t.certFile ? { certChain: read('--etcd-certfile', t.certFile) } : {}),
    ...(t.keyFile ? { privateKey: read('--etcd-keyfile', t.keyFile) } : {}),
  };
}
