/**
 * `weft get bgp` as tables: per BGP speaker (each node, and the lab router when it runs BIRD), its
 * sessions (neighbour, AS, BGP state, since when, routes imported) and the routes it learnt (the
 * prefix, the next hop, the session it came from). Pure: the lab reads birdc (src/lab/bgp-status.ts).
 */

import type { BgpSessionStatus, BirdRoute } from './birdc-output.js';

export interface BgpSpeakerStatus {
  /** The node's name, or "router". */
  speaker: string;
  sessions: BgpSessionStatus[];
  /** Routes BIRD learnt over BGP (the speaker's own announcements are left out). */
  learnt: BirdRoute[];
  /** Why BIRD could not be asked (not running, no socket). */
  error?: string;
}

export function bgpSessionRows(status: readonly BgpSpeakerStatus[]): { header: string[]; rows: string[][] } {
  const rows: string[][] = [];
  for (const s of status) {
    if (s.error) {
      rows.push([s.speaker, '-', '-', '-', `UNKNOWN (${s.error})`, '-', '-']);
      continue;
    }
    if (s.sessions.length === 0) rows.push([s.speaker, '(none)', '-', '-', '-', '-', '-']);
    for (const x of s.sessions)
      rows.push([
        s.speaker,
        x.name,
        x.neighborAddress ?? '-',
        x.neighborAs === undefined ? '-' : String(x.neighborAs),
        `${x.bgpState}${x.gracefulRestartActive ? ' (graceful restart)' : ''}${x.bgpState !== 'Established' && x.lastError ? ` (${x.lastError})` : ''}`,
        x.since,
        x.imported === undefined ? '-' : String(x.imported),
      ]);
  }
  return { header: ['node', 'session', 'neighbor', 'as', 'state', 'since', 'routes'], rows };
}

export function bgpRouteRows(status: readonly BgpSpeakerStatus[]): { header: string[]; rows: string[][] } {
  const rows: string[][] = [];
  for (const s of status)
    for (const r of s.learnt)
      rows.push([s.speaker, r.prefix, r.via ?? r.type, r.iface ?? '-', r.protocol, r.primary ? 'yes' : 'no']);
  return { header: ['node', 'prefix', 'via', 'dev', 'session', 'best'], rows };
}
