/**
 * The flow log's kernel reader: the agent's own NFLOG socket (native/netns/nflog.c opens and
 * configures it; Node has no netlink), polled in the agent's event loop, read a batch at a time
 * and parsed by src/core/flows/nflog.ts. It replaced ulogd2 and its JSON output, which cost more
 * CPU per logged connection than the rest of the connection's path (issue 13, bench/flows.ts).
 *
 * The group's settings, and why:
 * - copy range 64 bytes: the largest IPv4 header (60) and the transport ports (4); no payload is
 *   copied to user space.
 * - a batch is sent when 64 packets are queued or 50 ms passed (the kernel's defaults, 100
 *   packets or 1 s, are too slow for "shown within a second"), in batches of up to 16 KiB: one
 *   wake-up and one read per batch rather than per packet.
 * - a 4 MiB receive buffer absorbs bursts while the agent is busy; what still does not fit is
 *   lost, and counted through the group's sequence numbers (the service's "lost" records).
 * The socket is in the calling thread's network namespace: the agent runs in its node's.
 */

import { closeFd, closePoll, openNflog, pollReadable, readPackets, type FdPoll } from './netns-native.js';
import { readNflogBatch, type NflogSink } from '../core/flows/nflog.js';

export interface NflogReaderOptions {
  group: number;
  /** The time for packets without a kernel timestamp (ms since the epoch). */
  now: () => number;
}

export interface NflogReaderSink extends NflogSink {
  /** The reader stopped working (a read error other than lost messages); it is closed. */
  failed(err: Error): void;
}

export interface NflogReader {
  close(): void;
}

const COPY_RANGE = 64;
const QTHRESHOLD = 64;
const TIMEOUT_CS = 5;
const NLBUFSIZ = 16384;
const RCVBUF = 4 << 20;
/** A read returns one batch of at most NLBUFSIZ bytes (a single message may exceed it: cut, counted). */
const SLOT = NLBUFSIZ;
const SLOTS = 16;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Binds NFLOG group `group` in the calling thread's namespace and calls the sink for every packet
 * logged to it from now on. Throws (naming the group and errno) when the group cannot be bound,
 * for example EPERM when another process already reads it.
 */
export function openNflogReader(o: NflogReaderOptions, sink: NflogReaderSink): NflogReader {
  const fd = openNflog(o.group, COPY_RANGE, QTHRESHOLD, TIMEOUT_CS, NLBUFSIZ, RCVBUF);
  const buffer = Buffer.allocUnsafe(SLOT * SLOTS);
  const lengths = new Int32Array(SLOTS);
  let poll: FdPoll | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (poll) closePoll(poll);
    closeFd(fd);
  };
  const drain = () => {
    for (;;) {
      let n: number;
      try {
        n = readPackets(fd, buffer, SLOT, lengths);
      } catch (err) {
        // ENOBUFS: the socket's buffer overflowed and messages were dropped; reading goes on,
        // and the gap in the sequence numbers counts them.
        if ((err as NodeJS.ErrnoException).code === 'ENOBUFS') continue;
        close();
        sink.failed(new Error(`read NFLOG group ${o.group}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const now = o.now();
      for (let i = 0; i < n; i++) readNflogBatch(buffer, i * SLOT, lengths[i]!, now, sink, LITTLE_ENDIAN);
      if (n < SLOTS) return;
    }
  };
  try {
    poll = pollReadable(fd, (error) => {
      if (closed) return;
      if (error === undefined) return drain();
      close();
      sink.failed(new Error(`poll NFLOG group ${o.group}: ${error}`));
    });
  } catch (err) {
    close();
    throw new Error(`poll NFLOG group ${o.group}: ${(err as Error).message}`, { cause: err });
  }
  return { close };
}
