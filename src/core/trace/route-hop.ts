/**
 * The routing decision of one hop of `weft trace`, from the kernel's own answers in that
 * namespace (src/lab/packet-trace.ts asks them as JSON, `ip -j`):
 *   ip route get DST from SRC iif IIF     which device and gateway the kernel picks
 *   ip route show match DST               the route it came from (the most specific prefix)
 * and when the device is a VXLAN device, how the packet is wrapped:
 *   ip -d link show DEV                   VNI, UDP port, the outer source address
 *   ip neigh show dev DEV                 the gateway's MAC (weft's permanent neighbour entry)
 *   bridge fdb show dev DEV               where frames for that MAC go (the peer's underlay address)
 * Pure: it parses and puts them together; missing pieces stay undefined rather than guessed.
 */

export interface RouteHop {
  /** The route's prefix ("10.244.3.0/24", "default"). */
  prefix?: string;
  dev?: string;
  gateway?: string;
  onlink: boolean;
  /** The route's protocol as ip prints it ("119" is weft's, "bird", "kernel", ...). */
  protocol?: string;
  /**
   * A multipath route's next hops (ECMP, the lab gateway's route to a load-balancer address).
   * Then `gateway` is absent: which one a flow takes is the kernel's hash of that flow, and
   * `ip route get` does not reproduce it for a forwarded packet (its hash may come from the skb),
   * so the next hop is the namespace the trace saw next, not a guess here.
   */
  nexthops?: string[];
  vxlan?: { vni?: number; port?: number; local?: string; mac?: string; remote?: string };
}

type Json = Record<string, unknown>;

const asList = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function prefixLength(dst: string): number {
  if (dst === 'default') return 0;
  const slash = dst.indexOf('/');
  return slash < 0 ? 32 : Number(dst.slice(slash + 1));
}

export function routeHopOf(answers: {
  routeGet: unknown;
  routeMatch: unknown;
  link?: unknown;
  neigh?: unknown;
  fdb?: unknown;
}): RouteHop | undefined {
  const got = asList(answers.routeGet)[0];
  if (!got) return undefined;
  const dev = str(got.dev);
  const gateway = str(got.gateway);
  const viaDev = (r: Json) =>
    dev === undefined || str(r.dev) === dev || asList(r.nexthops).some((n) => str(n.dev) === dev);
  const matches = asList(answers.routeMatch)
    .filter((r) => str(r.dst) !== undefined && viaDev(r))
    .sort((a, b) => prefixLength(str(b.dst)!) - prefixLength(str(a.dst)!));
  const route = matches[0];
  const flags = [...asList(got.flags), ...(route ? asList(route.flags) : [])].map(String);
  const nexthops = route ? asList(route.nexthops).flatMap((n) => str(n.gateway) ?? []) : [];
  const out: RouteHop = {
    ...(route ? { prefix: str(route.dst)! } : {}),
    ...(dev !== undefined ? { dev } : {}),
    ...(gateway !== undefined && nexthops.length < 2 ? { gateway } : {}),
    ...(nexthops.length > 1 ? { nexthops } : {}),
    onlink: flags.includes('onlink'),
    ...(route && str(route.protocol) !== undefined ? { protocol: str(route.protocol)! } : {}),
  };
  const info = asList(answers.link)[0]?.linkinfo as Json | undefined;
  if (info && info.info_kind === 'vxlan') {
    const data = (info.info_data ?? {}) as Json;
    const mac = gateway ? str(asList(answers.neigh).find((n) => str(n.dst) === gateway)?.lladdr) : undefined;
    const remote = mac
      ? str(asList(answers.fdb).find((f) => str(f.mac) === mac && f.dst !== undefined)?.dst)
      : undefined;
    out.vxlan = {
      ...(typeof data.id === 'number' ? { vni: data.id } : {}),
      ...(typeof data.port === 'number' ? { port: data.port } : {}),
      ...(str(data.local) !== undefined ? { local: str(data.local)! } : {}),
      ...(mac !== undefined ? { mac } : {}),
      ...(remote !== undefined ? { remote } : {}),
    };
  }
  return out;
}

/** One line: "route 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink (weft's); VXLAN ...". */
export function describeRoute(r: RouteHop): string {
  const proto = r.protocol === '119' ? " (weft's)" : r.protocol ? ` (proto ${r.protocol})` : '';
  const via = r.nexthops ? ` via one of ${r.nexthops.join(', ')} (multipath: by the flow's hash)` : '';
  let text = `route ${r.prefix ?? '?'}${r.gateway ? ` via ${r.gateway}` : ''}${via}${r.dev ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}${proto}`;
  if (r.vxlan) {
    const v = r.vxlan;
    text += `; VXLAN VNI ${v.vni ?? '?'}: ${r.gateway ?? '?'} is ${v.mac ?? '? (no neighbour entry)'}, whose frames go to ${v.remote ?? '? (no FDB entry)'} (outer ${v.local ?? '?'} → ${v.remote ?? '?'}, UDP ${v.port ?? '?'})`;
  }
  return text;
}
