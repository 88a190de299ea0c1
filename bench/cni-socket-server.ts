/**
 * For bench/cni-add-del.ts: the node agent's CNI socket on its own (src/cni/server.ts with the
 * agent's long-lived ip and nft sessions), run inside a bench node namespace, so the benchmark can time
 * plugin calls through the socket as the lab's pods make them. Prints "ready" once listening.
 * Usage: node cni-socket-server.js SOCKET_PATH
 */

import { IpSession } from '../src/adapters/ip-session.js';
import { NodeExec } from '../src/adapters/exec.js';
import { NftSession } from '../src/adapters/nft-session.js';
import { runInProcess } from '../src/cni/main.js';
import { startCniServer } from '../src/cni/server.js';

const socketPath = process.argv[2];
if (!socketPath) throw new Error('usage: cni-socket-server.js SOCKET_PATH');
const ipSession = new IpSession();
const nft = new NftSession(new NodeExec());
const server = await startCniServer({
  socketPath,
  run: (t, e, s) => runInProcess(t, e, s, { ipSession, nft }),
  log: () => undefined,
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  ipSession.close();
  nft.close();
  void server.close().then(() => process.exit(0));
});
