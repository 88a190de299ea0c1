#!/usr/bin/env node
/**
 * The lab's port server: serves every port a pod declares, with one small Node process per pod
 * (so hundreds of pods stay light). TCP: accepts, answers "weft <pod> <port> from <client>\n"
 * (the client address as the server sees it, which shows NAT) and echoes what it receives. UDP:
 * echoes each datagram (a who-request gets the greeting first: src/core/pod-greeting.ts). Prints
 * "ready" on stdout once every socket is bound, which is what its starter waits for.
 *
 * Usage: echo-server.js [--name POD] tcp:80 udp:81 ...
 */

import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { isWhoRequest, podGreeting, WHO_REQUEST } from '../core/pod-greeting.js';

interface Listen {
  protocol: 'tcp' | 'udp';
  port: number;
}

function parseArgs(argv: string[]): { name: string; listens: Listen[] } {
  let name = 'pod';
  const listens: Listen[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--name') {
      name = argv[++i] ?? name;
      continue;
    }
    const m = /^(tcp|udp):(\d{1,5})$/i.exec(a);
    if (!m) throw new Error(`echo-server: "${a}" is not tcp:PORT or udp:PORT`);
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new Error(`echo-server: port ${port} is out of range`);
    listens.push({ protocol: m[1]!.toLowerCase() as 'tcp' | 'udp', port });
  }
  return { name, listens };
}

async function listen(l: Listen, name: string): Promise<void> {
  if (l.protocol === 'tcp') {
    const server = createServer((sock) => {
      sock.on('error', () => sock.destroy());
      sock.write(podGreeting(name, l.port, sock.remoteAddress ?? '?'));
      sock.pipe(sock);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // "::" with ipv6Only false takes IPv4 too (dual-stack socket).
      server.listen({ port: l.port, host: '::', ipv6Only: false }, resolve);
    });
    return;
  }
  const sock = createSocket({ type: 'udp6', ipv6Only: false });
  sock.on('message', (msg, rinfo) => {
    const answer = isWhoRequest(msg.subarray(0, WHO_REQUEST.length).toString('latin1'))
      ? Buffer.concat([Buffer.from(podGreeting(name, l.port, rinfo.address)), msg])
      : msg;
    sock.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(l.port, '::', resolve);
  });
}

async function main(): Promise<void> {
  const { name, listens } = parseArgs(process.argv.slice(2));
  await Promise.all(listens.map((l) => listen(l, name)));
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
