/**
 * The table `weft trace` puts into every network namespace on a probe packet's way, for the
 * time of one trace: it sets nftrace on exactly that packet, so the kernel reports every table,
 * chain and rule it meets there (`nft monitor`, parsed by nft-monitor.ts).
 *
 *   table ip weft-trace-ID     (a table per trace: two traces at once do not meet)
 *     chain prerouting (LAYOUT.tracePrerouting, raw - 50)   ip id ID meta l4proto P meta nftrace set 1
 *     chain output     (LAYOUT.traceOutput, raw - 50)       the same, for a packet sent from here
 *
 * Why the IP identification field: nftrace does not survive a change of network namespace (the
 * kernel scrubs it when a packet crosses a veth or is decapsulated), so each namespace must find
 * the packet again by what it looks like there. DNAT, SNAT and masquerade rewrite addresses and
 * ports; VXLAN wraps the packet in another IP header; but the inner header's identification is
 * carried unchanged through all of them, and the tracer chooses it. The protocol narrows the
 * match further; a stray packet with the same id and protocol in the same second is possible but
 * shows as a second trace id, which the tracer reports rather than merges.
 */

import { TRACE_OBJECTS, TRACE_TABLE } from '../names.js';
import { baseChainOf } from '../nft/layout.js';
import { match, rule, type TableDef } from '../nft/model.js';

export type TraceProtocol = 'tcp' | 'udp' | 'icmp';

/** The name of one trace's table: its own, so that two traces at once never replace each other's. */
export function traceTableName(ipId: number): string {
  return `${TRACE_TABLE}-${ipId}`;
}

/** The trace table for one probe packet. */
export function traceTable(ipId: number, protocol: TraceProtocol): TableDef {
  if (!Number.isInteger(ipId) || ipId < 1 || ipId > 65535)
    throw new Error(`trace table: ip id ${ipId} is not 1..65535`);
  const mark = rule([match('ip id', ipId), match('meta l4proto', protocol), { kind: 'nftrace' }], 'weft trace probe');
  return {
    family: 'ip',
    name: traceTableName(ipId),
    comment: 'weft trace: nftrace for one probe packet (removed when the trace ends)',
    sets: [],
    chains: [
      { name: TRACE_OBJECTS.preroutingChain, base: baseChainOf('tracePrerouting'), rules: [mark] },
      { name: TRACE_OBJECTS.outputChain, base: baseChainOf('traceOutput'), rules: [mark] },
    ],
  };
}
