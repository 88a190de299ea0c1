/**
 * `weft trace`'s real half: one probe packet sent from a pod's namespace and followed through
 * every namespace of the lab by the kernel's own nftables tracing.
 *
 * 1. An IP id (and for TCP/UDP a source port) is drawn for the probe; every namespace gets the
 *    trace table for it (src/core/trace/trace-table.ts) and an `nft monitor` (adapters/nft-monitor.ts),
 *    which is listening once it has printed that table's own `add table` line.
 * 2. hping3 sends exactly one packet from the source namespace with that id: a TCP SYN, a UDP
 *    datagram or an ICMP echo request.
 * 3. The trace events are collected until none has come for a quiet spell (or the deadline), then
 *    the trace tables are removed and the monitors ended, also when something failed on the way.
 *
 * What each namespace's kernel reported is returned per namespace, in the order the packet first
 * reached them; `hops` in src/core/trace/hops.ts turns that into words. Nothing here is simulated:
 * a namespace that reported nothing did not see the packet (or saw it changed beyond recognition,
 * which the IP id makes unlikely; see trace-table.ts).
 */

import { NftCommand } from '../adapters/nft.js';
import { NftMonitor } from '../adapters/nft-monitor.js';
import { planFullRebuild, planRemoval } from '../core/nft/sync.js';
import { groupByTrace, type TraceEvent } from '../core/trace/nft-monitor.js';
import { traceTable, traceTableName, type TraceProtocol } from '../core/trace/trace-table.js';
import { routeHopOf, type RouteHop } from '../core/trace/route-hop.js';
import type { Exec } from '../ports/exec.js';

export interface TraceNamespace {
  /** What the namespace is, for people: "node n1", "pod default/web-1", "router". */
  label: string;
  /** Its path (/var/run/netns/...). */
  netns: string;
  /**
   * A router without nftables of its own (the lab's gateway): no chain sees the packet leave, so
   * its route is asked from the packet as it came in.
   */
  router?: boolean;
}

export interface ProbeSpec {
  from: TraceNamespace;
  daddr: string;
  /** Destination port (TCP, UDP). */
  port?: number;
  protocol: TraceProtocol;
}

export interface NamespaceTrace extends TraceNamespace {
  /** The events of each trace id the kernel gave the packet here (one, unless it passed twice). */
  traces: TraceEvent[][];
  /** Where this namespace's kernel routed the packet on (forwarded packets only). */
  route?: RouteHop;
  /** When the first event arrived (performance.now()): the namespaces' order along the path. */
  firstAt: number;
}

export interface RealTrace {
  probe: ProbeSpec & { ipId: number; sport?: number };
  /** The namespaces that saw the packet, in the order they first reported it. */
  seen: NamespaceTrace[];
  /** What hping3 printed (its reply line, when one came back). */
  sender: string;
}

export interface RealTraceOptions {
  exec: Exec;
  /** Every namespace to watch (the source's included). */
  namespaces: readonly TraceNamespace[];
  probe: ProbeSpec;
  /** How long without a new event ends the collection (ms, default 300). */
  quietMs?: number;
  /** The longest the whole trace may take (ms, default 8000). */
  timeoutMs?: number;
  /** The IP id and source port to use (tests); drawn at random otherwise. */
  ipId?: number;
  sport?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function traceRealPacket(o: RealTraceOptions): Promise<RealTrace> {
  const ipId = o.ipId ?? 1 + Math.floor(Math.random() * 65535);
  const sport = o.probe.protocol === 'icmp' ? undefined : (o.sport ?? 20000 + Math.floor(Math.random() * 30000));
  const deadline = performance.now() + (o.timeoutMs ?? 8000);
  const monitors = o.namespaces.map((ns) => ({ ns, monitor: new NftMonitor(ns.netns) }));
  const placed: TraceNamespace[] = [];
  try {
    // Every namespace at once (a trace over a lab's dozen namespaces would otherwise wait a dozen
    // nft runs); those placed are remembered so that the finally removes exactly them.
    const placing = await Promise.allSettled(
      monitors.map(async ({ ns }) => {
        await new NftCommand(o.exec, ns.netns).apply(
          planFullRebuild(traceTable(ipId, o.probe.protocol)),
          `trace: mark the probe in ${ns.label}`,
        );
        placed.push(ns);
      }),
    );
    const failed = placing.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(monitors.map(({ monitor }) => monitor.waitForLine(`add table ip ${traceTableName(ipId)}`, 5000)));
    const r = await o.exec.tryRun({
      argv: hpingArgv(o.probe, ipId, sport),
      netns: o.probe.from.netns,
      timeoutMs: 5000,
      context: `trace: send the probe from ${o.probe.from.label}`,
    });
    if (r.exitCode !== 0 && !/packet loss/.test(r.stdout + r.stderr))
      throw new Error(`trace: hping3 from ${o.probe.from.label} failed: ${(r.stderr || r.stdout).trim()}`);
    // hping3 has returned (it waits for a reply): collect until the kernel has gone quiet.
    const sentAt = performance.now();
    const quiet = o.quietMs ?? 300;
    for (;;) {
      const last = Math.max(sentAt, ...monitors.map(({ monitor }) => monitor.events.at(-1)?.at ?? 0));
      const now = performance.now();
      if (now >= deadline || now - last >= quiet) break;
      await sleep(Math.min(quiet, 50));
    }
    const seen: NamespaceTrace[] = (
      await Promise.all(
        monitors.map(async ({ ns, monitor }): Promise<NamespaceTrace | undefined> => {
          if (monitor.events.length === 0) return undefined;
          const events = monitor.events.map((e) => e.event);
          const route = await routeOf(o.exec, ns, events);
          const traces = [...groupByTrace(events).values()];
          return { ...ns, traces, firstAt: monitor.events[0]!.at, ...(route ? { route } : {}) };
        }),
      )
    ).filter((n): n is NamespaceTrace => n !== undefined);
    seen.sort((a, b) => a.firstAt - b.firstAt);
    return {
      probe: { ...o.probe, ipId, ...(sport !== undefined ? { sport } : {}) },
      seen,
      sender: (r.stdout + r.stderr).trim(),
    };
  } finally {
    await Promise.all(
      placed.map((ns) =>
        new NftCommand(o.exec, ns.netns)
          .apply(planRemoval({ family: 'ip', name: traceTableName(ipId) }), `trace: unmark ${ns.label}`)
          .catch(() => undefined),
      ),
    );
    await Promise.all(monitors.map(({ monitor }) => monitor.stop()));
  }
}

/**
 * The kernel's routing decision for the packet in one namespace, asked with the packet's own
 * addresses and input device (the last forwarded packet line: after any DNAT, before SNAT); for
 * a VXLAN device also its VNI, the gateway's neighbour entry and the FDB entry it leads to.
 */
async function routeOf(exec: Exec, ns: TraceNamespace, events: readonly TraceEvent[]): Promise<RouteHop | undefined> {
  const p = [...events]
    .reverse()
    .find(
      (e) =>
        e.packet?.iif !== undefined &&
        (e.packet.oif !== undefined || ns.router === true) &&
        e.packet['ip saddr'] !== undefined,
    )?.packet;
  if (!p) return undefined;
  const ask = async (argv: string[]): Promise<unknown> => {
    const r = await exec.tryRun({ argv, netns: ns.netns, context: `trace: ${argv.join(' ')} in ${ns.label}` });
    if (r.exitCode !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      return undefined;
    }
  };
  const daddr = p['ip daddr']!;
  const routeGet = await ask(['ip', '-j', 'route', 'get', daddr, 'from', p['ip saddr']!, 'iif', p.iif!]);
  const dev = (Array.isArray(routeGet) ? (routeGet[0] as { dev?: unknown } | undefined)?.dev : undefined) as
    | string
    | undefined;
  return routeHopOf({
    routeGet,
    routeMatch: await ask(['ip', '-j', 'route', 'show', 'match', daddr]),
    ...(dev !== undefined
      ? {
          link: await ask(['ip', '-j', '-d', 'link', 'show', 'dev', dev]),
          neigh: await ask(['ip', '-j', 'neigh', 'show', 'dev', dev]),
          fdb: await ask(['bridge', '-j', 'fdb', 'show', 'dev', dev]),
        }
      : {}),
  });
}

/** hping3's argv for exactly one probe packet with that IP id. */
export function hpingArgv(p: ProbeSpec, ipId: number, sport: number | undefined): string[] {
  const argv = ['hping3', '-c', '1', '-N', String(ipId)];
  if (p.protocol === 'icmp') argv.push('--icmp');
  else {
    if (p.port === undefined) throw new Error(`trace: a ${p.protocol.toUpperCase()} probe needs a port`);
    if (p.protocol === 'udp') argv.push('--udp');
    else argv.push('-S');
    argv.push('-p', String(p.port), '-s', String(sport), '-k');
  }
  argv.push(p.daddr);
  return argv;
}
