/**
 * The udp backend's forwarder thread (started by ./udp-forwarder.ts): Flannel's udp proxy in
 * Node. It owns the node's TUN device `weft0` and one UDP socket bound on the node's public IP
 * and Backend.Port, and moves packets between them:
 *
 *   TUN → read (every packet waiting, one native call per wake-up) → forwarding table
 *       → one datagram per packet to the peer owning the destination subnet;
 *   UDP → datagram from a known peer, addressed into this node's subnet → written to the TUN.
 *
 * The decisions are src/core/backend/udp-forwarding.ts; this file is only the I/O around them.
 * It runs on a worker thread, not on the agent's event loop: every packet of every pod-to-pod
 * flow across nodes passes through here, and at tens of thousands of packets a second the
 * agent's syncs, lease renewals and status server would otherwise wait behind them (and a
 * sync that blocks, e.g. a slow store call, would stall the data path).
 *
 * Messages (each answered { id, ... } once done):
 *   { op: 'start', tun, netns?, publicIp, port }  bind the socket first (a port in use fails
 *       here, before any device exists), then open the TUN; answers { error, code } on failure.
 *   { op: 'routes', own, entries }  replace the forwarding table (on every backend sync).
 *   { op: 'stats' }  answers { stats } (counters since start).
 *   { op: 'stop' }   closes the poll, the socket and the TUN (the device goes with its last fd).
 */

import { createSocket, type Socket } from 'node:dgram';
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import {
  UdpForwardingTable,
  UDP_DROP_REASONS,
  type UdpDropReason,
  type UdpRouteEntry,
} from '../core/backend/udp-forwarding.js';
import {
  bindSocketsInNetns,
  closeFd,
  closePoll,
  openTun,
  pollReadable,
  readPackets,
  type FdPoll,
} from './netns-native.js';

export type ForwarderRequest =
  | { op: 'start'; id: number; tun: string; netns?: string; publicIp: string; port: number }
  | { op: 'routes'; id: number; own: string; entries: UdpRouteEntry[] }
  | { op: 'stats'; id: number }
  | { op: 'stop'; id: number };

/** Counters since the forwarder started. */
export interface ForwarderStats {
  /** Packets read from the TUN and sent to a peer, and their bytes (the inner packets). */
  sentPackets: number;
  sentBytes: number;
  /** Datagrams from peers written to the TUN, and their bytes. */
  receivedPackets: number;
  receivedBytes: number;
  /** Packets dropped, by reason (see UdpDropReason), plus the two I/O failures. */
  dropped: Record<UdpDropReason | 'send-error' | 'tun-write-error', number>;
}

export interface ForwarderReply {
  id: number;
  error?: string;
  /** The errno code of a failed start (EADDRINUSE: the port is in use). */
  code?: string;
  stats?: ForwarderStats;
  /** start: what could not be tuned (socket buffers), for the agent's log. */
  notes?: string[];
  /**
   * start: the TUN's descriptor. If this thread dies, the parent closes it: a descriptor is the
   * process's, not the thread's, and a TUN left open would keep `weft0` attached (the next
   * forwarder's TUNSETIFF would fail with EBUSY).
   */
  tunFd?: number;
}

/** Slot per packet: above any MTU the device gets (underlay − 28, underlays up to 9000). */
const SLOT = 9216;
/** Packets read per wake-up at most; the next wake-up comes at once if more are waiting. */
const BATCH = 64;
/** Socket buffers asked for: a burst of a TCP window must not overflow the default ~200 KiB. */
const SOCKET_BUFFER = 4 << 20;

interface Running {
  tunFd: number;
  sock: Socket;
  poll: FdPoll;
  port: number;
}

const zeroStats = (): ForwarderStats => ({
  sentPackets: 0,
  sentBytes: 0,
  receivedPackets: 0,
  receivedBytes: 0,
  dropped: Object.fromEntries(
    [...UDP_DROP_REASONS, 'send-error', 'tun-write-error'].map((r) => [r, 0]),
  ) as ForwarderStats['dropped'],
});

/** The errno name in a native module error ("...: EBUSY (Device...)" or "...: Address in use (EADDRINUSE)"). */
function errnoOf(err: unknown): string {
  const m = /: (E[A-Z0-9]+) \(|\((E[A-Z0-9]+)\)$/.exec((err as Error).message);
  return m?.[1] ?? m?.[2] ?? 'EUNKNOWN';
}

/** This thread's forwarder: at most one running, its table and its counters. */
class Forwarder {
  private running: Running | undefined;
  private table = new UdpForwardingTable('0.0.0.0/32', []);
  private readonly stats = zeroStats();
  private readonly batch = Buffer.alloc(SLOT * BATCH);
  private readonly lengths = new Int32Array(BATCH);
  private readonly onSent = (err: Error | null): void => {
    if (err) this.stats.dropped['send-error']++;
  };

  async handle(req: ForwarderRequest): Promise<ForwarderReply> {
    switch (req.op) {
      case 'start':
        return this.start(req);
      case 'routes':
        this.table = new UdpForwardingTable(req.own, req.entries);
        return { id: req.id };
      case 'stats':
        return { id: req.id, stats: structuredClone(this.stats) };
      case 'stop':
        await this.stop();
        return { id: req.id };
    }
  }

  /** The TUN has packets: send each to its peer. */
  private drainTun(r: Running): void {
    const n = readPackets(r.tunFd, this.batch, SLOT, this.lengths);
    for (let i = 0; i < n; i++) {
      const packet = this.batch.subarray(i * SLOT, i * SLOT + this.lengths[i]!);
      const verdict = this.table.outbound(packet);
      if ('drop' in verdict) {
        this.stats.dropped[verdict.drop]++;
        continue;
      }
      // A copy: dgram keeps the buffer until the datagram is sent, and the batch is reused.
      r.sock.send(Buffer.from(packet), r.port, verdict.peer, this.onSent);
      this.stats.sentPackets++;
      this.stats.sentBytes += packet.length;
    }
  }

  private onDatagram(r: Running, msg: Buffer, sender: string): void {
    const why = this.table.inbound(msg, sender);
    if (why) {
      this.stats.dropped[why]++;
      return;
    }
    try {
      // One write is one packet. A TUN write does not block (the kernel queues it as received);
      // it fails only when the device is down or the packet is refused: counted, not thrown.
      writeSync(r.tunFd, msg);
      this.stats.receivedPackets++;
      this.stats.receivedBytes += msg.length;
    } catch {
      this.stats.dropped['tun-write-error']++;
    }
  }

  private async start(req: Extract<ForwarderRequest, { op: 'start' }>): Promise<ForwarderReply> {
    if (this.running) return { id: req.id, error: 'the forwarder is already running' };
    // The socket first: a port in use must fail before the device (and so any route) exists.
    const ns = req.netns ?? '/proc/thread-self/ns/net';
    let sockFd: number;
    try {
      [sockFd] = bindSocketsInNetns(ns, [{ protocol: 'UDP', port: req.port, address: req.publicIp }]) as [number];
    } catch (err) {
      // "in /proc/thread-self/ns/net" says nothing to a reader when it is the agent's own namespace.
      const message = (err as Error).message.replace(` in ${ns}:`, req.netns ? ` in ${ns}:` : ':');
      return { id: req.id, error: message, code: errnoOf(err) };
    }
    let tunFd: number;
    try {
      tunFd = openTun(req.tun, req.netns);
    } catch (err) {
      closeFd(sockFd);
      return { id: req.id, error: (err as Error).message, code: errnoOf(err) };
    }
    const sock = createSocket({ type: 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ fd: sockFd }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      closeFd(sockFd);
      closeFd(tunFd);
      return { id: req.id, error: `adopt the UDP socket: ${(err as Error).message}`, code: errnoOf(err) };
    }
    const notes: string[] = [];
    for (const [what, set] of [
      ['receive', (n: number) => sock.setRecvBufferSize(n)],
      ['send', (n: number) => sock.setSendBufferSize(n)],
    ] as const) {
      try {
        set(SOCKET_BUFFER);
      } catch (err) {
        notes.push(`${what} buffer of ${SOCKET_BUFFER} bytes: ${(err as Error).message}`);
      }
    }
    const r: Running = { tunFd, sock, port: req.port, poll: undefined as unknown as FdPoll };
    sock.on('message', (msg, rinfo) => this.onDatagram(r, msg, rinfo.address));
    // Errors of an unconnected UDP socket (ICMP port unreachable from a peer that is gone) come
    // here; they concern one datagram, which is already counted or lost: the socket goes on.
    sock.on('error', () => {
      this.stats.dropped['send-error']++;
    });
    r.poll = pollReadable(tunFd, (error) => {
      // The descriptor itself failed (the device was deleted under it): this thread ends, and
      // its parent reports it and closes the descriptor (see ForwarderReply.tunFd).
      if (error) throw new Error(`poll TUN ${req.tun}: ${error}`);
      this.drainTun(r);
    });
    this.running = r;
    return { id: req.id, notes, tunFd };
  }

  private async stop(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    if (!r) return;
    closePoll(r.poll);
    await new Promise<void>((resolve) => r.sock.close(() => resolve()));
    closeFd(r.tunFd);
  }
}

const port = parentPort;
if (port) {
  const forwarder = new Forwarder();
  port.on('message', (req: ForwarderRequest) => {
    forwarder.handle(req).then(
      (reply) => port.postMessage(reply),
      (err: unknown) => port.postMessage({ id: req.id, error: (err as Error).message } satisfies ForwarderReply),
    );
  });
}
