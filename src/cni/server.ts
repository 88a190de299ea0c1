/**
 * The node agent's CNI socket: the weft plugin wrappers (see install.ts) hand each call to the
 * agent of their node over a Unix socket, and the agent runs the very same plugin code in its own
 * process, through the same dispatcher the plugin executable uses (cni/main.ts runInProcess).
 *
 * Why: a plugin call exec'd as its own Node process costs a Node start and module loading, about
 * 250 ms of CPU per call on a 2-core VM under load, which was most of the cost of a pod. Through
 * the socket a call costs one `socat` start and the plugin's own work (its `ip` batches).
 * Multus' thick plugin and ovn-kubernetes' CNI shim work the same way. When no agent answers on
 * the socket the wrapper runs the plugin itself, so DEL works with the agent down.
 *
 * Wire format (one call per connection; the client half-closes after the request):
 *   request:  KEY=VALUE lines (the CNI_* environment, WEFT_LOCK_DIR, and WEFT_PLUGIN_TYPE),
 *             an empty line, then the plugin's stdin (the network config) up to EOF
 *   response: the exit code on the first line, then exactly what the plugin printed on stdout
 * The socket file is made mode 0600: it runs network changes as root, for root only.
 */

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import type { LogFields } from '../ports/logger.js';

export type PluginRunner = (
  type: string,
  env: Record<string, string>,
  stdin: string,
) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export interface CniServerOptions {
  socketPath: string;
  run: PluginRunner;
  /** Called with a line for every call whose plugin wrote to stderr, and for malformed requests. */
  log: (message: string, fields: LogFields) => void;
}

/** Requests larger than this are refused (a network config is a few KiB). */
const MAX_REQUEST_BYTES = 4 << 20;

/** Only these variables reach the plugin: the CNI ones and weft's own. */
const PASSED_ENV = /^(CNI_[A-Z_]+|WEFT_LOCK_DIR)$/;

/** Parses a request; throws with the reason when it is malformed (exported for unit tests). */
export function parseCniRequest(bytes: Buffer): { type: string; env: Record<string, string>; stdin: string } {
  const text = bytes.toString('utf8');
  const split = text.indexOf('\n\n');
  if (split < 0) throw new Error('request has no empty line between the environment and the config');
  const env: Record<string, string> = {};
  let type = '';
  for (const line of text.slice(0, split).split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`request line ${JSON.stringify(line.slice(0, 80))} is not KEY=VALUE`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'WEFT_PLUGIN_TYPE') type = value;
    else if (PASSED_ENV.test(key)) env[key] = value;
  }
  if (type === '') throw new Error('request has no WEFT_PLUGIN_TYPE');
  return { type, env, stdin: text.slice(split + 2) };
}

function serve(conn: Socket, o: CniServerOptions): void {
  const chunks: Buffer[] = [];
  let size = 0;
  conn.on('error', () => conn.destroy());
  conn.on('data', (b: Buffer) => {
    size += b.length;
    if (size > MAX_REQUEST_BYTES) {
      o.log('CNI request too large; connection closed', { bytes: size });
      conn.destroy();
      return;
    }
    chunks.push(b);
  });
  conn.on('end', () => {
    void (async () => {
      let reply: string;
      try {
        const req = parseCniRequest(Buffer.concat(chunks));
        const r = await o.run(req.type, req.env, req.stdin);
        if (r.stderr.trim() !== '')
          o.log('CNI plugin wrote to stderr', {
            type: req.type,
            command: req.env.CNI_COMMAND,
            container: req.env.CNI_CONTAINERID,
            stderr: r.stderr.trim(),
          });
        reply = `${r.exitCode}\n${r.stdout}`;
      } catch (err) {
        const msg = `weft CNI socket: ${(err as Error).message}`;
        o.log('bad CNI request', { error: (err as Error).message });
        // The spec's error JSON, code 4 (invalid network config) for a request we cannot read.
        reply = `1\n${JSON.stringify({ cniVersion: '1.0.0', code: 4, msg })}\n`;
      }
      conn.end(reply);
    })();
  });
}

/** Listens on socketPath (replacing a stale socket file); resolves once it accepts calls. */
export async function startCniServer(o: CniServerOptions): Promise<{ close(): Promise<void> }> {
  mkdirSync(dirname(o.socketPath), { recursive: true, mode: 0o755 });
  rmSync(o.socketPath, { force: true });
  // allowHalfOpen: the client half-closes after its request and still reads the reply.
  const server: Server = createServer({ allowHalfOpen: true }, (conn) => serve(conn, o));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => resolve());
  });
  chmodSync(o.socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(o.socketPath, { force: true });
      }),
  };
}
