/**
 * The udp backend's forwarder, as the agent sees it: a worker thread (./udp-forwarder-worker.ts)
 * that owns the TUN device and the UDP socket, driven by messages. start() resolves once the
 * socket is bound and the device exists (or rejects with ForwarderStartError, carrying the errno
 * name: EADDRINUSE when the port is taken); setRoutes() replaces the forwarding table; stats()
 * reads the counters; stop() closes everything (the device goes with its descriptor).
 *
 * If the thread dies (an exception in the data path), problem() says so; the backend's next sync
 * starts a new forwarder. The thread is unref'd except while a call waits for its answer: it
 * never keeps the agent alive by itself.
 */

import { Worker } from 'node:worker_threads';
import { closeFd } from './netns-native.js';
import type { UdpRouteEntry } from '../core/backend/udp-forwarding.js';
import type { ForwarderReply, ForwarderRequest, ForwarderStats } from './udp-forwarder-worker.js';

export type { ForwarderStats } from './udp-forwarder-worker.js';

export interface UdpForwarderOptions {
  /** The TUN device's name (weft0). */
  tun: string;
  /** The network namespace (path) to work in; the process's own when omitted. */
  netns?: string;
  /** The node's public IP, bound with `port` (Backend.Port). */
  publicIp: string;
  port: number;
}

export class ForwarderStartError extends Error {
  override readonly name = 'ForwarderStartError';
  constructor(
    message: string,
    /** errno name, e.g. EADDRINUSE. */
    readonly code: string,
  ) {
    super(message);
  }
}

type Pending = { resolve: (r: ForwarderReply) => void; reject: (e: Error) => void };

export class UdpForwarder {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: string | undefined;
  private tunFd: number | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly options: UdpForwarderOptions,
    /** What start() could not tune (socket buffer sizes), for the log. */
    public notes: string[] = [],
  ) {
    worker.on('message', (r: ForwarderReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (this.pending.size === 0) worker.unref();
      p?.resolve(r);
    });
    const fail = (why: string) => {
      if (this.exited === undefined && this.tunFd !== undefined) {
        // The thread died without closing the TUN (see ForwarderReply.tunFd): close it here so the
        // device goes and the next forwarder can create it again.
        try {
          closeFd(this.tunFd);
        } catch (err) {
          why += `; closing its TUN descriptor failed: ${(err as Error).message}`;
        }
      }
      this.exited ??= why;
      for (const p of this.pending.values()) p.reject(new Error(`udp forwarder: ${why}`));
      this.pending.clear();
    };
    worker.on('error', (err) => fail(`the forwarder thread failed: ${err.message}`));
    worker.on('exit', (code) => fail(`the forwarder thread exited (code ${code})`));
    worker.unref();
  }

  /** Starts the thread, binds the socket and opens the TUN; rejects with ForwarderStartError. */
  static async start(options: UdpForwarderOptions): Promise<UdpForwarder> {
    const f = new UdpForwarder(new Worker(new URL('./udp-forwarder-worker.js', import.meta.url)), options);
    let reply: ForwarderReply;
    try {
      reply = await f.call({ op: 'start', id: 0, ...options });
    } catch (err) {
      await f.worker.terminate();
      throw err;
    }
    if (reply.error !== undefined) {
      await f.worker.terminate();
      throw new ForwarderStartError(reply.error, reply.code ?? 'EUNKNOWN');
    }
    f.notes = reply.notes ?? [];
    f.tunFd = reply.tunFd;
    return f;
  }

  private call(req: ForwarderRequest): Promise<ForwarderReply> {
    if (this.exited) return Promise.reject(new Error(`udp forwarder: ${this.exited}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Referenced only while a call waits for its answer (see the file comment).
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  /** Why the forwarder no longer forwards (its thread died), or undefined while it runs. */
  problem(): string | undefined {
    return this.exited;
  }

  /** Replaces the forwarding table: this node's subnet and each peer's subnet and public IP. */
  async setRoutes(own: string, entries: readonly UdpRouteEntry[]): Promise<void> {
    const r = await this.call({ op: 'routes', id: 0, own, entries: [...entries] });
    if (r.error !== undefined) throw new Error(`udp forwarder: set routes: ${r.error}`);
  }

  async stats(): Promise<ForwarderStats> {
    const r = await this.call({ op: 'stats', id: 0 });
    if (!r.stats) throw new Error(`udp forwarder: stats: ${r.error ?? 'no answer'}`);
    return r.stats;
  }

  /** Closes the socket and the TUN (the device disappears) and ends the thread. Idempotent. */
  async stop(): Promise<void> {
    if (!this.exited) {
      await this.call({ op: 'stop', id: 0 });
      this.exited = 'stopped';
      await this.worker.terminate();
    }
  }
}
