/**
 * Network namespaces made, and sockets created inside them, through weft's small native module
 * (native/netns, built by scripts/setup.sh): Node itself has no unshare(2) or setns(2).
 *
 * The module moves the calling thread into the namespace, creates and binds the sockets, and
 * moves back, all in one synchronous call; the returned descriptors are adopted by Node's own
 * net and dgram sockets. A socket stays in the namespace it was made in, so the lab's pod runner
 * serves every pod's ports from one process without a helper process per pod (which cost a
 * Node start, about 60 ms of CPU on a 2-core VM, for every pod).
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface SocketSpec {
  protocol: 'TCP' | 'UDP';
  port: number;
  /** An IPv4 address to bind (an IPv4-only socket); omitted: dual-stack [::]. */
  address?: string;
}

/** A libuv poll on a descriptor (pollReadable); opaque, for closePoll. */
export type FdPoll = { readonly __brand: 'FdPoll' };

interface NativeNetns {
  bindInNetns(path: string, specs: Array<[boolean, number] | [boolean, number, string]>): number[];
  addNetns(path: string): void;
  openTun(name: string, netnsPath?: string): number;
  pollReadable(fd: number, callback: (error?: string) => void): FdPoll;
  pollClose(poll: FdPoll): void;
  readPackets(fd: number, buffer: Buffer, slotSize: number, lengths: Int32Array): number;
  closeFd(fd: number): void;
  openNflog(
    group: number,
    copyRange: number,
    qthreshold: number,
    timeoutCs: number,
    nlbufsiz: number,
    rcvbuf: number,
  ): number;
}

const MODULE_PATH = fileURLToPath(new URL('../../../native/netns/build/Release/weft_netns.node', import.meta.url));

let loaded: NativeNetns | undefined;

function native(): NativeNetns {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(MODULE_PATH) as NativeNetns;
  } catch (err) {
    throw new Error(
      `load weft's native netns module ${MODULE_PATH}: ${(err as Error).message} (build it with \`npm --prefix native/netns run build\`, which scripts/setup.sh does)`,
      { cause: err },
    );
  }
  return loaded;
}

/**
 * Binds one dual-stack socket per spec on [::]:port inside the namespace at nsPath and returns
 * their descriptors in spec order (TCP sockets bound, not yet listening). All or nothing: on
 * failure nothing stays open and the error names the port, the namespace and the reason.
 */
export function bindSocketsInNetns(nsPath: string, specs: readonly SocketSpec[]): number[] {
  return native().bindInNetns(
    nsPath,
    specs.map((s) =>
      s.address === undefined ? [s.protocol === 'TCP', s.port] : [s.protocol === 'TCP', s.port, s.address],
    ),
  );
}

/**
 * Creates (or attaches to) the TUN device `name` (IFF_TUN | IFF_NO_PI: bare IP packets) in the
 * namespace at netnsPath (the calling thread's own when omitted) and returns its non-blocking
 * descriptor; the device lives as long as a descriptor on it is open (it is not made persistent).
 * Throws naming the step and errno, e.g. "ioctl TUNSETIFF weft0: EBUSY (Device or resource busy)"
 * when another process holds the device.
 */
export function openTun(name: string, netnsPath?: string): number {
  return netnsPath === undefined ? native().openTun(name) : native().openTun(name, netnsPath);
}

/**
 * Calls `onReadable` from the calling thread's event loop (the main thread's or a worker's)
 * whenever fd is readable; with an error name (e.g. "EBADF") when polling the fd fails. Node has
 * no handle for a character device (net.Socket({ fd }) refuses it, fs.read would hold a
 * thread-pool thread per pending read), hence a libuv poll from the native module.
 */
export function pollReadable(fd: number, onReadable: (error?: string) => void): FdPoll {
  return native().pollReadable(fd, onReadable);
}

/** Stops a poll; closing one twice does nothing. The descriptor itself stays open. */
export function closePoll(poll: FdPoll): void {
  native().pollClose(poll);
}

/**
 * Reads every packet waiting on a non-blocking TUN descriptor (or every batch on an NFLOG socket), up to lengths.length and
 * buffer.length / slotSize: packet i at buffer[i * slotSize] with length lengths[i]. Returns the
 * count (0: none waiting). A packet longer than slotSize is cut (the caller sizes slots above the
 * device's MTU). Throws on a read error other than EAGAIN when nothing was read, with errno's
 * name as the error's code.
 */
export function readPackets(fd: number, buffer: Buffer, slotSize: number, lengths: Int32Array): number {
  return native().readPackets(fd, buffer, slotSize, lengths);
}

/**
 * Makes a network namespace pinned at nsPath (a file under /run/netns, whose directory `ip netns`
 * has already made a shared mount point) with lo up: `ip netns add` and `ip -n NAME link set lo
 * up` in one call and no process. All or nothing: on failure no file and no mount is left.
 * Why: the lab's kubelet makes a namespace per pod, and two `ip` processes per pod were a
 * measurable part of a pod's cost (see bench/lab.ts).
 */
export function createNetns(nsPath: string): void {
  native().addNetns(nsPath);
}

/**
 * Opens a netfilter netlink socket in the calling thread's namespace bound to NFLOG group `group`
 * and configured in one acknowledged message (native/netns/nflog.c): copy the first `copyRange`
 * bytes of each packet, send a batch at `qthreshold` packets or after `timeoutCs` hundredths of a
 * second, batches of at most `nlbufsiz` bytes, packets numbered; a receive buffer of `rcvbuf`
 * bytes. Returns the non-blocking descriptor, read with readPackets (one batch a read). Throws
 * naming the step, the group and errno (the error's code), e.g. EPERM when another socket
 * already reads the group.
 */
export function openNflog(
  group: number,
  copyRange: number,
  qthreshold: number,
  timeoutCs: number,
  nlbufsiz: number,
  rcvbuf: number,
): number {
  return native().openNflog(group, copyRange, qthreshold, timeoutCs, nlbufsiz, rcvbuf);
}

/**
 * Closes a descriptor this module made (a TUN's, a socket's never adopted by Node). Node's own
 * fs.closeSync works too but, on a worker thread, warns about descriptors it did not open.
 */
export function closeFd(fd: number): void {
  native().closeFd(fd);
}
