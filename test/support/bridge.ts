/**
 * Fixtures for the bridge plugin's kernel tests: a "node" namespace with its own CNI bin dir,
 * host-local data dir and lock dir, pods as further namespaces, and readers for what a test must
 * prove is there or gone (links, reservations, masquerade elements), plus real TCP traffic.
 *
 * Traffic uses tiny Node scripts run inside the namespaces (no nc on the test machines): a server
 * that echoes, or answers with the peer address it sees (to prove masquerading), and a client.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { invoke, makeBinDir, type PluginRun } from './cni.js';
import { ipJson, nftObjects, inNs, type Netns } from './netns.js';

export interface NodeCtx {
  fx: Netns;
  node: string;
  binDir: string;
  dataDir: string;
  lockDir: string;
}

export function makeNode(fx: Netns, label: string): NodeCtx {
  const node = fx.add(`${label}-node`);
  const tmp = fx.tmpDir(`br-${label}`);
  return { fx, node, binDir: makeBinDir(join(tmp, 'bin')), dataDir: join(tmp, 'ipam'), lockDir: join(tmp, 'locks') };
}

export interface Pod {
  ns: string;
  path: string;
  containerId: string;
}

export function makePod(ctx: NodeCtx, name: string): Pod {
  const ns = ctx.fx.add(name);
  return { ns, path: ctx.fx.path(ns), containerId: `ctr-${name}` };
}

/** Runs a plugin in the node namespace for one pod, as a runtime would. */
export function run(
  ctx: NodeCtx,
  plugin: string,
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS',
  config: unknown,
  pod?: Pod,
  netnsOverride?: string,
): PluginRun {
  return invoke({
    nodeNs: ctx.node,
    binDir: ctx.binDir,
    plugin,
    command,
    config,
    ...(pod ? { containerId: pod.containerId } : {}),
    ...(netnsOverride !== undefined ? { netns: netnsOverride } : pod ? { netns: pod.path } : {}),
    envOverrides: { WEFT_LOCK_DIR: ctx.lockDir },
  });
}

/** The same, without blocking the event loop, for concurrent ADDs. */
export function runAsync(
  ctx: NodeCtx,
  plugin: string,
  command: 'ADD' | 'DEL',
  config: unknown,
  pod: Pod,
): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: ctx.binDir,
      WEFT_LOCK_DIR: ctx.lockDir,
    };
    const child = spawn('ip', ['netns', 'exec', ctx.node, join(ctx.binDir, plugin)], { env });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout }));
    child.stdin.end(JSON.stringify(config));
  });
}

export function linkNames(ns: string): string[] {
  return ipJson<Array<{ ifname: string }>>(ns, ['link', 'show']).map((l) => l.ifname);
}

export function vethNames(ns: string): string[] {
  return ipJson<Array<{ ifname: string; linkinfo?: { info_kind?: string } }>>(ns, ['-d', 'link', 'show'])
    .filter((l) => l.linkinfo?.info_kind === 'veth')
    .map((l) => l.ifname);
}

/** host-local reservation files (one per reserved address) of a network. */
export function reservations(ctx: NodeCtx, network: string): string[] {
  const dir = join(ctx.dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
}

/** The masquerade table's elements as "set key [comment]" lines; undefined when the table is gone. */
export function masqElements(ns: string): string[] | undefined {
  const objects = nftObjects(ns);
  if (!objects.some((o) => o.table?.name === 'weft-masq')) return undefined;
  const out: string[] = [];
  for (const o of objects) {
    const set = o.set;
    if (!set || set.table !== 'weft-masq' || !Array.isArray(set.elem)) continue;
    for (const e of set.elem as Array<{ elem?: { val?: unknown; comment?: string } }>) {
      out.push(`${String(set.name)} ${JSON.stringify(e.elem?.val ?? e)} [${e.elem?.comment ?? ''}]`);
    }
  }
  return out;
}

export function nftTables(ns: string): string[] {
  return nftObjects(ns)
    .filter((o) => o.table)
    .map((o) => `${String(o.table?.family)} ${String(o.table?.name)}`);
}

/** The pod's address of one family from an ADD result. */
export function podIp(result: Record<string, unknown>, family: 4 | 6): string {
  const ips = (result.ips ?? []) as Array<{ address: string }>;
  const ip = ips.find((i) => i.address.includes(':') === (family === 6));
  if (!ip) throw new Error(`no IPv${family} address in ${JSON.stringify(result)}`);
  return ip.address.split('/')[0] ?? '';
}

const SERVER = `
const net = require('node:net');
const mode = process.argv[1];
const srv = net.createServer((s) => {
  if (mode === 'whoami') { s.end(String(s.remoteAddress).replace(/^::ffff:/, '')); return; }
  s.pipe(s);
});
srv.listen(7777, '::', () => process.stdout.write('ready\\n'));
`;

const CLIENT = `
const net = require('node:net');
const [host, mode] = [process.argv[1], process.argv[2]];
const payload = Buffer.alloc(256 * 1024, 'weft');
const s = net.connect({ host, port: 7777, timeout: 15000 });
const chunks = [];
s.on('data', (b) => { chunks.push(b); if (mode === 'echo' && Buffer.concat(chunks).length >= payload.length) s.end(); });
s.on('timeout', () => { console.error('timeout'); process.exit(2); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.on('close', () => {
  const got = Buffer.concat(chunks);
  if (mode === 'echo') { process.stdout.write(got.equals(payload) ? 'ok' : 'mismatch ' + got.length); }
  else process.stdout.write(got.toString());
});
if (mode === 'echo') s.write(payload);
`;

/** Starts a TCP server on port 7777 in `ns` ("echo" or "whoami"); resolves once it listens. */
export function startServer(ns: string, mode: 'echo' | 'whoami'): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start`)), 5000);
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('error', reject);
  });
}

/** Connects from `ns` to host:7777; "echo" returns "ok" when 256 KiB came back intact. */
export function tcpClient(ns: string, host: string, mode: 'echo' | 'whoami'): string {
  const r = inNs(ns, [process.execPath, '-e', CLIENT, host, mode], { timeoutMs: 20_000 });
  if (r.status !== 0) {
    // Say what the client saw of the path, so a failure can be told from a slow machine.
    const neigh = inNs(ns, ['ip', 'neigh', 'show']).stdout.trim().replace(/\n/g, ' | ');
    throw new Error(`tcp ${ns} → ${host}: ${r.stderr.trim()} (neighbours: ${neigh})`);
  }
  return r.stdout;
}

export function ping(ns: string, ip: string): void {
  const r = inNs(ns, ['ping', ip.includes(':') ? '-6' : '-4', '-c', '2', '-i', '0.2', '-W', '2', ip]);
  if (r.status !== 0) throw new Error(`ping ${ns} → ${ip} failed: ${r.stdout.trim()} ${r.stderr.trim()}`);
}
