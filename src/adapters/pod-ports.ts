/**
 * Serves a lab pod's declared ports with real sockets in the pod's network namespace, from the
 * node's pod runner process: a short-lived port-binder (src/lab/port-binder.ts) started inside
 * the namespace binds them and passes them over Node's IPC channel; this side answers on them.
 *
 * What a pod answers, so that probes and people can tell who they reached:
 * - TCP: a greeting line `weft <namespace/pod> <port> from <client address>` (the address as the
 *   pod sees it, which shows NAT), then an echo of whatever the client sends.
 * - UDP: each datagram echoed back to its sender.
 */

import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

export interface PodPort {
  protocol: 'TCP' | 'UDP';
  port: number;
}

export interface ServedPorts {
  /** Closes every socket; resolves when they are closed. */
  close(): Promise<void>;
}

const BINDER = fileURLToPath(new URL('../lab/port-binder.js', import.meta.url));

function serveTcp(server: Server, pod: string, port: number): void {
  server.on('connection', (sock: TcpSocket) => {
    sock.on('error', () => sock.destroy());
    sock.write(`weft ${pod} ${port} from ${(sock.remoteAddress ?? '?').replace(/^::ffff:/, '')}\n`);
    sock.pipe(sock);
  });
  server.on('error', () => undefined);
}

function serveUdp(sock: UdpSocket): void {
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  // A send to a vanished peer reports ICMP errors here; the socket stays usable.
  sock.on('error', () => undefined);
}

export type Bound = { protocol: 'TCP'; port: number; server: Server } | { protocol: 'UDP'; port: number; socket: UdpSocket };

function closeAll(bound: readonly Bound[]): Promise<void> {
  return Promise.all(
    bound.map((b) => new Promise<void>((resolve) => (b.protocol === 'TCP' ? b.server.close(() => resolve()) : b.socket.close(() => resolve())))),
  ).then(() => undefined);
}

/** Binds in this process's own namespace (hostNetwork pods: the runner runs in the node's). */
async function bindHere(ports: readonly PodPort[]): Promise<Bound[]> {
  const handles: Bound[] = [];
  try {
    for (const p of ports) {
      handles.push(
        await new Promise<Bound>((resolve, reject) => {
          if (p.protocol === 'TCP') {
            const server = createServer();
            server.once('error', (err) => reject(new Error(`bind tcp port ${p.port}: ${err.message}`)));
            server.listen({ port: p.port, host: '::', ipv6Only: false }, () => resolve({ protocol: 'TCP', port: p.port, server }));
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

/** Binds inside the namespace at nsPath through a port-binder child. */
export function bindIn(nsPath: string, ports: readonly PodPort[], timeoutMs: number): Promise<Bound[]> {
  return new Promise((resolve, reject) => {
    const args = ports.map((p) => `${p.protocol.toLowerCase()}:${p.port}`);
    const child = spawn('nsenter', [`--net=${nsPath}`, '--', process.execPath, BINDER, ...args], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    const handles: Bound[] = [];
    let stderr = '';
    let done = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('message', (msg: { protocol?: string; port?: number }, handle) => {
      if (!handle || typeof msg.port !== 'number') return;
      if (msg.protocol === 'tcp') handles.push({ protocol: 'TCP', port: msg.port, server: handle as Server });
      else handles.push({ protocol: 'UDP', port: msg.port, socket: handle as UdpSocket });
      if (handles.length === ports.length) {
        // Every socket is here: closing the channel lets the binder exit.
        done = true;
        clearTimeout(timer);
        child.disconnect();
        resolve(handles);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      if (done) return;
      void closeAll(handles);
      reject(new Error(`bind ports in ${nsPath}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (done) return;
      void closeAll(handles);
      reject(new Error(`bind ports ${args.join(' ')} in ${nsPath}: ${stderr.trim() || `port-binder exited (${signal ?? `code ${code}`})`}`));
    });
  });
}

/**
 * Serves the ports of pod `pod` ("namespace/name"). With nsPath the sockets are bound in that
 * namespace, otherwise in this process's own. Rejects (having bound nothing) when any port
 * cannot be bound.
 */
export async function servePodPorts(pod: string, ports: readonly PodPort[], nsPath: string | undefined, timeoutMs = 10_000): Promise<ServedPorts> {
  if (ports.length === 0) return { close: async () => undefined };
  const handles = nsPath === undefined ? await bindHere(ports) : await bindIn(nsPath, ports, timeoutMs);
  for (const h of handles) {
    if (h.protocol === 'TCP') serveTcp(h.server, pod, h.port);
    else serveUdp(h.socket);
  }
  return { close: () => closeAll(handles) };
}
