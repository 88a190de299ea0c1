/**
 * The underlay and pods for the backend kernel tests (test/backend.test.ts), built by hand with
 * `ip -batch` so that the test exercises only the backend: one or two L2 segments (a namespace
 * holding a Linux bridge each; with two, a router namespace between them), node namespaces with
 * an eth0 on a segment and ip_forward on, and in each node a `cni0` bridge with the subnet's .1
 * and one pod namespace (.2, default route via .1), the way the bridge plugin would wire it.
 *
 *   segment A 10.99.0.0/24 ─┬─ node n (eth0 10.99.0.n) ── cni0 10.244.n.1 ── pod 10.244.n.2
 *   (router .254) ──────────┤
 *   segment B 10.98.0.0/24 ─┴─ node m (eth0 10.98.0.m) ── ...
 */

import { spawn } from 'node:child_process';
import { vtepMacFor } from '../../src/core/backend/plan.js';
import type { BackendNetConf, BackendNode, BackendType, PeerLease } from '../../src/core/backend/state.js';
import { must, type Netns } from './netns.js';

export type SegmentName = 'A' | 'B';
const SEGMENT_PREFIX: Record<SegmentName, string> = { A: '10.99.0', B: '10.98.0' };

export interface LabNode {
  n: number;
  ns: string;
  /** Path of the node namespace, for the Exec port's netns option. */
  path: string;
  pod: string;
  segment: SegmentName;
  publicIp: string;
  subnet: string;
  podIp: string;
}

export interface Lab {
  nodes: LabNode[];
}

function batch(ns: string, lines: string[]): void {
  must(['ip', '-n', ns, '-batch', '-'], lines.join('\n') + '\n');
}

function sysctl(ns: string, key: string): void {
  must(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=1`]);
}

/** Builds segments, an optional router, and one node + one pod per entry of `nodes`. */
export function buildLab(fx: Netns, label: string, nodes: Array<{ n: number; segment: SegmentName }>): Lab {
  const segments = [...new Set(nodes.map((x) => x.segment))].sort();
  const segNs = new Map<SegmentName, string>();
  for (const s of segments) {
    const ns = fx.add(`${label}ul${s.toLowerCase()}`);
    batch(ns, ['link add br0 type bridge', 'link set br0 up']);
    segNs.set(s, ns);
  }
  if (segments.length > 1) {
    // The router: one leg (.254) on each segment, forwarding between them.
    const rt = fx.add(`${label}rt`);
    for (const s of segments) {
      const leg = `r${s.toLowerCase()}`;
      batch(rt, [
        `link add ${leg} type veth peer name ${leg} netns ${segNs.get(s)}`,
        `address add ${SEGMENT_PREFIX[s]}.254/24 dev ${leg}`,
        `link set ${leg} up`,
      ]);
      batch(segNs.get(s) ?? '', [`link set ${leg} master br0`, `link set ${leg} up`]);
    }
    sysctl(rt, 'net.ipv4.ip_forward');
  }
  const out: LabNode[] = [];
  for (const { n, segment } of nodes) {
    const ns = fx.add(`${label}n${n}`);
    const pod = fx.add(`${label}p${n}`);
    const seg = segNs.get(segment) ?? '';
    const publicIp = `${SEGMENT_PREFIX[segment]}.${n}`;
    batch(ns, [
      `link add eth0 type veth peer name n${n} netns ${seg}`,
      `address add ${publicIp}/24 dev eth0`,
      'link set eth0 up',
      // Nodes reach the other segment through the router (only used when there is one).
      ...segments
        .filter((s) => s !== segment)
        .map((s) => `route add ${SEGMENT_PREFIX[s]}.0/24 via ${SEGMENT_PREFIX[segment]}.254`),
      'link add cni0 type bridge',
      `address add 10.244.${n}.1/24 dev cni0`,
      'link set cni0 up',
      `link add vpod type veth peer name eth0 netns ${pod}`,
      'link set vpod master cni0',
      'link set vpod up',
    ]);
    batch(seg, [`link set n${n} master br0`, `link set n${n} up`]);
    batch(pod, [`address add 10.244.${n}.2/24 dev eth0`, 'link set eth0 up', `route add default via 10.244.${n}.1`]);
    sysctl(ns, 'net.ipv4.ip_forward');
    out.push({ n, ns, path: fx.path(ns), pod, segment, publicIp, subnet: `10.244.${n}.0/24`, podIp: `10.244.${n}.2` });
  }
  return { nodes: out };
}

export function backendNode(x: LabNode): BackendNode {
  return { subnet: x.subnet, publicIp: x.publicIp, underlay: { name: 'eth0', cidr: `${x.publicIp}/24`, mtu: 1500 } };
}

export function leaseOf(x: LabNode, type: BackendType, vni = 1): PeerLease {
  return {
    subnet: x.subnet,
    publicIp: x.publicIp,
    backendType: type,
    backendData: type === 'vxlan' ? { VNI: vni, VtepMAC: vtepMacFor(x.publicIp) } : {},
  };
}

export function netConf(type: 'vxlan' | 'host-gw', extra: Partial<BackendNetConf['backend']> = {}): BackendNetConf {
  return { network: '10.244.0.0/16', backend: { type, vni: 1, port: 8472, directRouting: false, ...extra } };
}

export interface PingResult {
  from: string;
  to: string;
  ok: boolean;
  output: string;
}

/** Runs ping in a namespace without blocking the event loop; resolves with its output. */
export function pingAsync(ns: string, ip: string, args: string[] = ['-c', '1', '-W', '2']): Promise<PingResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, 'ping', '-4', '-n', ...args, ip], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ from: ns, to: ip, ok: code === 0, output }));
  });
}

/** Every pod pings every other pod (in parallel); resolves with the pairs that failed. */
export async function pingMatrix(nodes: readonly LabNode[]): Promise<string[]> {
  const runs = nodes.flatMap((a) =>
    nodes.filter((b) => b !== a).map((b) => pingAsync(a.pod, b.podIp, ['-c', '2', '-i', '0.2', '-W', '2'])),
  );
  const results = await Promise.all(runs);
  return results
    .filter((r) => !r.ok)
    .map((r) => `${r.from} → ${r.to}: ${r.output.trim().split('\n').slice(-2).join(' ')}`);
}
