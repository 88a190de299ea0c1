#!/usr/bin/env node
/**
 * Binds a pod's ports inside the pod's network namespace and hands the bound sockets to the
 * process that started it (the node's pod runner), then exits. Started as
 * `nsenter --net=<pod netns> node port-binder.js tcp:80 udp:81` with a Node IPC channel.
 *
 * Why: a socket belongs to the network namespace it was created in for its whole life, whoever
 * holds it. So one runner per node can serve every pod's ports with real sockets in the pods'
 * namespaces, and a pod costs a few sockets instead of a server process (Node cannot setns()).
 * Node's IPC passes listening TCP servers and UDP sockets as handles (SCM_RIGHTS underneath).
 */

import { createServer, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';

interface Listen {
  protocol: 'tcp' | 'udp';
  port: number;
}

function parseListen(arg: string): Listen {
  const m = /^(tcp|udp):(\d{1,5})$/.exec(arg);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new Error(`port-binder: "${arg}" is not tcp:PORT or udp:PORT`);
  return { protocol: m[1] as 'tcp' | 'udp', port };
}

function bind(l: Listen): Promise<Server | Socket> {
  return new Promise((resolve, reject) => {
    if (l.protocol === 'tcp') {
      const server = createServer();
      server.once('error', (err) => reject(new Error(`bind tcp port ${l.port}: ${err.message}`)));
      // "::" with ipv6Only false takes IPv4 too (one dual-stack socket).
      server.listen({ port: l.port, host: '::', ipv6Only: false }, () => resolve(server));
      return;
    }
    const sock = createSocket({ type: 'udp6', ipv6Only: false });
    sock.once('error', (err) => reject(new Error(`bind udp port ${l.port}: ${err.message}`)));
    sock.bind(l.port, '::', () => resolve(sock));
  });
}

function send(message: Listen, handle: Server | Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('port-binder: no IPC channel (start it with an ipc stdio slot)'));
    process.send(message, handle, {}, (err) => (err ? reject(err) : resolve()));
  });
}

async function main(): Promise<void> {
  const listens = process.argv.slice(2).map(parseListen);
  const handles = await Promise.all(listens.map(bind));
  for (const [i, h] of handles.entries()) await send(listens[i]!, h);
  // Exit only once the runner has taken every handle and closed the channel: a message written to
  // the channel may still be unread when this process's exit is reported to the runner.
  process.once('disconnect', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
