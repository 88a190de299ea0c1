/**
 * The lab's door to a store outside it (`weft lab up --store etcd=URL`). The lab's nodes can
 * reach nothing but their underlay segment (weft never connects a lab to the host's network), so
 * the lab serves the store's port on the segment's gateway address (10.99.0.254) and this process,
 * running in the host's namespace, relays each connection to the URL. The listening socket is
 * created inside the segment namespace (see src/adapters/netns-native.ts), so this
 * is a plain TCP relay for control-plane traffic: no packet of a pod ever passes through it.
 */

import { connect, type Server, type Socket } from 'node:net';
import { bindIn } from '../adapters/pod-ports.js';

export async function runStoreGateway(o: {
  segmentNsPath: string;
  port: number;
  target: URL;
  log: (line: string) => void;
}): Promise<void> {
  const bound = await bindIn(o.segmentNsPath, [{ protocol: 'TCP', port: o.port }]);
  const first = bound[0];
  if (!first || first.protocol !== 'TCP') throw new Error('store gateway: no listening socket was made');
  const server: Server = first.server;
  const targetPort = Number(o.target.port || 80);
  const open = new Set<Socket>();
  server.on('connection', (inside: Socket) => {
    open.add(inside);
    inside.once('close', () => open.delete(inside));
    const outside = connect({ host: o.target.hostname, port: targetPort });
    const end = (why: Error | undefined) => {
      if (why) o.log(`store gateway: relay to ${o.target.host} ended: ${why.message}`);
      inside.destroy();
      outside.destroy();
    };
    inside.on('error', end);
    outside.on('error', end);
    inside.pipe(outside).pipe(inside);
  });
  o.log(`store gateway: relaying ${o.port} in the lab to ${o.target.host}`);
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  // Open relays end with the gateway: the agents reconnect (to nothing, as the lab is going).
  server.close();
  for (const s of open) s.destroy();
}
