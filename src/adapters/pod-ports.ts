/**
 * Serves a lab pod's declared ports with real sockets in the pod's network namespace, from the
 * node's pod runner process: the sockets are created inside the namespace (netns-native.ts) and
 * adopted by Node's net and dgram sockets, which answer on them from this process.
 *
 * What a pod answers, so that probes and people can tell who they reached:
 * - TCP: a greeting line `weft <namespace/pod> <port> from <client address>` (the address as the
 *   pod sees it, which shows NAT), then an echo of whatever the client sends.
 * - UDP: each datagram echoed back to its sender; one that starts with WHO_REQUEST gets the
 *   greeting line before the echo, so `weft probe --to service/...` can tell which pod answered.
 * (src/core/pod-greeting.ts says it all in one place.)
 *
 * The answering happens on a thread of its own (./pod-ports-worker.ts), so that nothing the pod
 * runner's main thread waits for (its synchronous store calls) delays a pod's answers.
 */

import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { closeSync } from 'node:fs';
import { bindSocketsInNetns } from './netns-native.js';
import { isWhoRequest, podGreeting, WHO_REQUEST } from '../core/pod-greeting.js';
import type { WorkerReply, WorkerRequest } from './pod-ports-worker.js';

export interface PodPort {
  protocol: 'TCP' | 'UDP';
  port: number;
}

export interface ServedPorts {
  /** Closes every socket; resolves when they are closed. */
  close(): Promise<void>;
}

function serveTcp(server: Server, pod: string, port: number): void {
  server.on('connection', (sock: TcpSocket) => {
    sock.on('error', () => sock.destroy());
    sock.write(podGreeting(pod, port, sock.remoteAddress ?? '?'));
    sock.pipe(sock);
  });
  server.on('error', () => undefined);
}

function serveUdp(sock: UdpSocket, pod: string, port: number): void {
  sock.on('message', (msg, rinfo) => {
    // The echo stays byte for byte; only a who-request gets the greeting in front.
    const answer = isWhoRequest(msg.subarray(0, WHO_REQUEST.length).toString('latin1'))
      ? Buffer.concat([Buffer.from(podGreeting(pod, port, rinfo.address)), msg])
      : msg;
    sock.send(answer, rinfo.port, rinfo.address);
  });
  // A send to a vanished peer reports ICMP errors here; the socket stays usable.
  sock.on('error', () => undefined);
}

export type Bound =
  | { protocol: 'TCP'; port: number; server: Server }
  | { protocol: 'UDP'; port: number; socket: UdpSocket };

export function closeAll(bound: readonly Bound[]): Promise<void> {
  return Promise.all(
    bound.map(
      (b) =>
        new Promise<void>((resolve) =>
          b.protocol === 'TCP' ? b.server.close(() => resolve()) : b.socket.close(() => resolve()),
        ),
    ),
  ).then(() => undefined);
}

/** Binds in this process's own namespace (hostNetwork pods: the runner runs in the node's). */
export async function bindHere(ports: readonly PodPort[]): Promise<Bound[]> {
  const handles: Bound[] = [];
  try {
    for (const p of ports) {
      handles.push(
        await new Promise<Bound>((resolve, reject) => {
          if (p.protocol === 'TCP') {
            const server = createServer();
            server.once('error', (err) => reject(new Error(`bind tcp port ${p.port}: ${err.message}`)));
            server.listen({ port: p.port, host: '::', ipv6Only: false }, () =>
              resolve({ protocol: 'TCP', port: p.port, server }),
            );
          } else {
            const socket = createSocket({ type: 'udp6', ipv6Only: false });
            socket.once('error', (err) => reject(new Error(`bind udp port ${p.port}: ${err.message}`)));
            socket.bind(p.port, '::', () => resolve({ protocol: 'UDP', port: p.port, socket }));
          }
        }),
      );
    }
  } catch (err) {
    await closeAll(handles);
    throw err;
  }
  return handles;
}

/** Adopts a bound socket descriptor into a Node server or socket (which then owns it). */
export function adopt(p: PodPort, fd: number): Promise<Bound> {
  return new Promise<Bound>((resolve, reject) => {
    if (p.protocol === 'TCP') {
      const server = createServer();
      server.once('error', (err) => reject(new Error(`listen on tcp port ${p.port}: ${err.message}`)));
      server.listen({ fd }, () => resolve({ protocol: 'TCP', port: p.port, server }));
    } else {
      const socket = createSocket({ type: 'udp6' });
      socket.once('error', (err) => reject(new Error(`adopt udp port ${p.port}: ${err.message}`)));
      socket.bind({ fd }, () => resolve({ protocol: 'UDP', port: p.port, socket }));
    }
  });
}

/** Binds inside the namespace at nsPath (all or nothing). */
export async function bindIn(nsPath: string, ports: readonly PodPort[]): Promise<Bound[]> {
  const fds = bindSocketsInNetns(nsPath, ports);
  const handles: Bound[] = [];
  try {
    for (const [i, p] of ports.entries()) handles.push(await adopt(p, fds[i]!));
  } catch (err) {
    await closeAll(handles);
    // Descriptors after the one that failed were never handed to Node: only ours to close. (The
    // failed one may already belong to a Node handle; closing it here could close a reused fd.)
    for (const fd of fds.slice(handles.length + 1)) closeSync(fd);
    throw err;
  }
  return handles;
}

/** Answers on bound ports as a pod does (the greeting, the echo). */
export function serveBound(pod: string, handles: readonly Bound[]): void {
  for (const h of handles) {
    if (h.protocol === 'TCP') serveTcp(h.server, pod, h.port);
    else serveUdp(h.socket, pod, h.port);
  }
}

/** The serving thread (./pod-ports-worker.ts), started on first use; unref'd while it serves nothing. */
let worker: Worker | undefined;
let nextId = 1;
let serving = 0;
const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

function call(req: WorkerRequest): Promise<void> {
  if (!worker) {
    const w = new Worker(new URL('./pod-ports-worker.js', import.meta.url));
    w.on('message', (r: WorkerReply) => {
      const p = pending.get(r.id);
      pending.delete(r.id);
      if (r.error === undefined) p?.resolve();
      else p?.reject(new Error(r.error));
      if (pending.size === 0 && serving === 0) w.unref();
    });
    // The pods' sockets live in that thread: if it dies, this process must not go on as if they
    // were served (the lab's supervisor restarts a runner that exits, and it serves them again).
    w.on('error', (err) => {
      throw new Error(`the pod port server thread failed: ${err.message}`, { cause: err });
    });
    worker = w;
  }
  worker.ref();
  const w = worker;
  return new Promise<void>((resolve, reject) => {
    pending.set(req.id, { resolve, reject });
    w.postMessage(req);
  });
}

/**
 * Serves the ports of pod `pod` ("namespace/name") on the serving thread. With nsPath the
 * sockets are bound in that namespace (here: setns is per thread, and this one knows the pod's
 * namespace), otherwise in this process's own. Rejects (having bound nothing) when any port
 * cannot be bound.
 */
export async function servePodPorts(
  pod: string,
  ports: readonly PodPort[],
  nsPath: string | undefined,
): Promise<ServedPorts> {
  if (ports.length === 0) return { close: async () => undefined };
  const id = nextId++;
  const fds = nsPath === undefined ? undefined : bindSocketsInNetns(nsPath, ports);
  await call({ op: 'serve', id, pod, ports: [...ports], ...(fds ? { fds } : {}) });
  serving++;
  let closed: Promise<void> | undefined;
  return {
    close: () =>
      (closed ??= call({ op: 'close', id }).finally(() => {
        serving--;
        if (serving === 0 && pending.size === 0) worker?.unref();
      })),
  };
}
