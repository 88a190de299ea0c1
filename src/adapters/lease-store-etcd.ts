/**
 * LeaseStore on etcd v3 with Flannel's key layout, so weft's agent and flanneld read and write
 * the same data:
 *   <prefix>/config                      net-conf.json text
 *   <prefix>/subnets/10.244.3.0-24       {"PublicIP":"10.99.0.3","PublicIPv6":null,"BackendType":"vxlan",
 *                                         "BackendData":{"VNI":1,"VtepMAC":"0e:77:0a:63:00:03"}}
 * each subnet key attached to an etcd lease with the TTL, so etcd itself deletes it on expiry.
 *
 * It speaks etcd's v3 JSON gateway (the gRPC-gateway every etcd 3.4+ serves on its client URL)
 * with Node's own fetch: no gRPC stack to install, and every call has a bounded timeout, so a
 * node whose etcd is down gets a clear error quickly instead of a hang.
 */

import type { Clock } from '../ports/clock.js';
import { pollingWatch, WatchRegistry } from './lease-watch-poll.js';
import { LeaseLostError, LeaseTakenError, type Lease, type LeaseAttrs, type LeaseEvent, type LeaseStore, type LeaseWatch } from '../ports/lease-store.js';

export interface EtcdLeaseStoreOptions {
  endpoints: string[];
  prefix: string;
  clock: Clock;
  timeoutMs?: number;
}

interface Kv {
  key: string;
  value?: string;
  lease?: string;
  mod_revision?: string;
  version?: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** The end of the key range that holds every key starting with `prefix`. */
function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix, 'utf8');
  buf[buf.length - 1] = (buf[buf.length - 1] ?? 0) + 1;
  return buf.toString('base64');
}

/** "10.244.3.0/24" ↔ "10.244.3.0-24", Flannel's key form. */
const keyOfSubnet = (subnet: string) => subnet.replace('/', '-');
const subnetOfKey = (key: string) => key.slice(key.lastIndexOf('/') + 1).replace(/-(\d+)$/, '/$1');

interface FlannelValue {
  PublicIP: string;
  PublicIPv6?: string | null;
  BackendType: string;
  BackendData?: { VNI?: number; VtepMAC?: string } | null;
  /** weft's own addition (flanneld ignores unknown fields). */
  NodeName?: string;
}

export class EtcdLeaseStore implements LeaseStore {
  private readonly watches = new WatchRegistry();

  constructor(private readonly o: EtcdLeaseStoreOptions) {
    if (o.endpoints.length === 0) throw new Error('--etcd-endpoints: at least one URL is needed');
    for (const e of o.endpoints) if (!/^https?:\/\/[^/]+$/.test(e.replace(/\/$/, ''))) throw new Error(`--etcd-endpoints: "${e}" is not an http(s)://host:port URL`);
  }

  private get subnetsPrefix(): string {
    return `${this.o.prefix.replace(/\/$/, '')}/subnets/`;
  }

  /** POSTs to the first endpoint that answers; errors name the call and every endpoint's failure. */
  private async call<T>(path: string, body: unknown, timeoutMs = this.o.timeoutMs ?? 2000): Promise<T> {
    const errors: string[] = [];
    for (const ep of this.o.endpoints) {
      try {
        const res = await fetch(`${ep.replace(/\/$/, '')}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
        const text = await res.text();
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        return JSON.parse(text) as T;
      } catch (err) {
        errors.push(`${ep}: ${(err as Error).message}`);
      }
    }
    throw new Error(`etcd ${path}: ${errors.join('; ')}`);
  }

  private async range(key: string, prefix: boolean): Promise<Kv[]> {
    const r = await this.call<{ kvs?: Kv[] }>('/v3/kv/range', prefix ? { key: b64(key), range_end: prefixEnd(key) } : { key: b64(key) });
    return r.kvs ?? [];
  }

  /**
   * When the key's etcd lease runs out. etcd deletes a key with its lease, so a key returned by a
   * range read was alive at that read; the TTL is only asked for afterwards. If the lease is gone
   * by then (TTL -1) the usual cause is a renew that swapped in a new lease and revoked the old
   * one between our two requests, not an expiry: the key counts as alive for one more poll, and
   * the next range read decides. (Reporting it absent made every watcher delete and re-add the
   * peer's routes within one poll, dropping packets, whenever a renew raced a poll.)
   */
  private async ttlOf(leaseId: string | undefined): Promise<number> {
    if (!leaseId || leaseId === '0') return Number.MAX_SAFE_INTEGER;
    const r = await this.call<{ TTL?: string }>('/v3/lease/timetolive', { ID: leaseId });
    const ttl = Number(r.TTL ?? '-1');
    return this.o.clock.now() + (ttl > 0 ? ttl * 1000 : 1_000);
  }

  private async toLease(kv: Kv): Promise<Lease | undefined> {
    let v: FlannelValue;
    try {
      v = JSON.parse(unb64(kv.value)) as FlannelValue;
    } catch {
      // A key under subnets/ that is not a lease (someone else's data): not ours to interpret.
      return undefined;
    }
    const lease: Lease = {
      subnet: subnetOfKey(unb64(kv.key)),
      publicIp: v.PublicIP,
      backendType: v.BackendType,
      backendData: { ...(v.BackendData?.VNI !== undefined ? { VNI: v.BackendData.VNI } : {}), ...(v.BackendData?.VtepMAC ? { VtepMAC: v.BackendData.VtepMAC } : {}) },
      expiresAt: await this.ttlOf(kv.lease),
    };
    if (v.NodeName) lease.nodeName = v.NodeName;
    return lease;
  }

  private value(attrs: LeaseAttrs): string {
    const v: FlannelValue = { PublicIP: attrs.publicIp, PublicIPv6: null, BackendType: attrs.backendType, BackendData: attrs.backendData };
    if (attrs.nodeName) v.NodeName = attrs.nodeName;
    return JSON.stringify(v);
  }

  async getConfig(): Promise<string | undefined> {
    const kvs = await this.range(`${this.o.prefix.replace(/\/$/, '')}/config`, false);
    return kvs[0] ? unb64(kvs[0].value) : undefined;
  }

  async putConfig(text: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(`${this.o.prefix.replace(/\/$/, '')}/config`), value: b64(text) });
  }

  async listLeases(): Promise<Lease[]> {
    const kvs = await this.range(this.subnetsPrefix, true);
    const leases = (await Promise.all(kvs.map((kv) => this.toLease(kv)))).filter((l): l is Lease => l !== undefined);
    const now = this.o.clock.now();
    return leases.filter((l) => l.expiresAt > now).sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
  }

  private async grant(ttlMs: number): Promise<string> {
    const r = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: String(Math.max(1, Math.ceil(ttlMs / 1000))) });
    return r.ID;
  }

  async acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    const key = b64(`${this.subnetsPrefix}${keyOfSubnet(subnet)}`);
    const id = await this.grant(ttlMs);
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key, target: 'VERSION', result: 'EQUAL', version: '0' }],
      success: [{ request_put: { key, value: b64(this.value(attrs)), lease: id } }],
    });
    if (!r.succeeded) {
      await this.call('/v3/lease/revoke', { ID: id }).catch(() => undefined);
      throw new LeaseTakenError(`subnet ${subnet} is already leased`);
    }
    return { ...attrs, subnet, expiresAt: this.o.clock.now() + Math.ceil(ttlMs / 1000) * 1000 };
  }

  async renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    const keyText = `${this.subnetsPrefix}${keyOfSubnet(subnet)}`;
    const [kv] = await this.range(keyText, false);
    if (!kv) throw new LeaseLostError(`renew ${subnet}: the lease expired`);
    const cur = JSON.parse(unb64(kv.value)) as FlannelValue;
    if (cur.PublicIP !== attrs.publicIp) throw new LeaseLostError(`renew ${subnet}: now held by ${cur.PublicIP}`);
    // A fresh etcd lease with the full TTL, swapped in only if nobody changed the key meanwhile.
    const id = await this.grant(ttlMs);
    const key = b64(keyText);
    const r = await this.call<{ succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key, target: 'MOD', result: 'EQUAL', mod_revision: kv.mod_revision ?? '0' }],
      success: [{ request_put: { key, value: b64(this.value(attrs)), lease: id } }],
    });
    if (!r.succeeded) {
      await this.call('/v3/lease/revoke', { ID: id }).catch(() => undefined);
      throw new LeaseLostError(`renew ${subnet}: the lease changed while renewing`);
    }
    if (kv.lease && kv.lease !== '0') await this.call('/v3/lease/revoke', { ID: kv.lease }).catch(() => undefined);
    return { ...attrs, subnet, expiresAt: this.o.clock.now() + Math.ceil(ttlMs / 1000) * 1000 };
  }

  async revoke(subnet: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(`${this.subnetsPrefix}${keyOfSubnet(subnet)}`) });
  }

  /**
   * Watches by polling a re-list and diffing, like the embedded store. etcd's streaming watch
   * would cut the latency, but polling survives etcd going away and coming back without any
   * reconnect logic: after an outage the next successful poll reports everything that changed.
   */
  async watch(onEvent: (e: LeaseEvent) => void, onError?: (err: Error) => void): Promise<LeaseWatch> {
    return this.watches.track(await pollingWatch(() => this.listLeases(), this.o.clock, 250, onEvent, onError));
  }

  async close(): Promise<void> {
    await this.watches.stopAll();
  }
}
