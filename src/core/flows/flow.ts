/**
 * Flows: what `weft flows` shows, one per allowed new connection and per denied packet that a
 * node's policy table logged to NFLOG (src/core/policy/flow-log.ts), as read by the agent
 * (./nflog.ts parses the kernel's messages) and resolved into pods and policies.
 *
 * Here, pure: the logged packet, the bounded ring a node keeps flows in, the filters of the CLI
 * and the endpoint, and the text line `weft flows` prints.
 */

import type { Direction } from '../policy/evaluate.js';

/** One end of a flow: the address, the port (TCP, UDP, SCTP), and the pod holding the address. */
export interface FlowEnd {
  ip: string;
  port?: number;
  /** "namespace/name" of the pod with this address, when the node's cache knows one. */
  pod?: string;
}

export interface Flow {
  /** When the kernel logged the packet (ms since the epoch, from the logger's timestamp). */
  time: number;
  /** The node whose policy table logged it. */
  node: string;
  /** "TCP", "UDP", "SCTP", "ICMP", or the protocol number. */
  protocol: string;
  src: FlowEnd;
  dst: FlowEnd;
  verdict: 'allowed' | 'denied';
  /** Which side's policies decided: Egress at the source pod, Ingress at the destination pod. */
  direction: Direction;
  /** "ns/name": for a drop every policy isolating the pod that way, for an allow the policy that allowed it. */
  policies: string[];
  /** For an allow: the index of the rule in the policy's spec.ingress / spec.egress. */
  rule?: number;
}

/** A logged packet as the kernel reports it, before pods and policies are known. */
export interface LoggedPacket {
  time: number;
  prefix: string;
  protocol: string;
  saddr: string;
  daddr: string;
  sport?: number;
  dport?: number;
}

/**
 * A ring of at most `capacity` entries: a push over capacity overwrites the oldest, so a flood
 * costs a fixed amount of memory whatever its length.
 */
export class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;
  /** Entries overwritten since the ring was made. */
  overwritten = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`ring capacity ${capacity}: must be at least 1`);
  }

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.next] = item;
      this.overwritten++;
    }
    this.next = (this.next + 1) % this.capacity;
  }

  get size(): number {
    return this.items.length;
  }

  /** The entries, oldest first. */
  list(): T[] {
    return this.items.length < this.capacity
      ? [...this.items]
      : [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}

export interface FlowFilter {
  /** Only flows with an end in this namespace (undefined: every namespace). */
  namespace?: string;
  /** Only flows from this pod ("ns/name"). */
  from?: string;
  /** Only flows to this pod ("ns/name"). */
  to?: string;
  /** Only flows with this pod ("ns/name") at either end (the dashboard's pod filter). */
  pod?: string;
  verdict?: Flow['verdict'];
}

export function flowMatches(f: Flow, filter: FlowFilter): boolean {
  if (filter.verdict !== undefined && f.verdict !== filter.verdict) return false;
  if (filter.from !== undefined && f.src.pod !== filter.from) return false;
  if (filter.to !== undefined && f.dst.pod !== filter.to) return false;
  if (filter.pod !== undefined && f.src.pod !== filter.pod && f.dst.pod !== filter.pod) return false;
  if (filter.namespace !== undefined) {
    const inNs = (e: FlowEnd) => e.pod !== undefined && e.pod.startsWith(`${filter.namespace}/`);
    if (!inNs(f.src) && !inNs(f.dst)) return false;
  }
  return true;
}

/** Several nodes' flows as one list, oldest first (ties: by node, so the order is stable). */
export function mergeFlows(lists: ReadonlyArray<readonly Flow[]>): Flow[] {
  return lists.flat().sort((a, b) => a.time - b.time || a.node.localeCompare(b.node));
}

function endText(e: FlowEnd): string {
  const addr = e.port === undefined ? e.ip : `${e.ip}:${e.port}`;
  return e.pod ? `${e.pod} ${addr}` : addr;
}

/** `weft flows`'s line: time, node, verdict, protocol, source → destination, policy. */
export function formatFlow(f: Flow): string {
  const why =
    f.verdict === 'denied'
      ? `isolated for ${f.direction.toLowerCase()} by ${f.policies.join(', ')}`
      : `${f.policies.join(', ')} ${f.direction.toLowerCase()}[${f.rule ?? '?'}]`;
  return `${new Date(f.time).toISOString()} ${f.node} ${f.verdict.padEnd(7)} ${f.protocol.padEnd(4)} ${endText(f.src)} -> ${endText(f.dst)}  ${why}`;
}

/** `weft flows`'s filter flags as given. */
export interface FlowFlags {
  namespace?: string;
  allNamespaces: boolean;
  from?: string;
  to?: string;
  verdict?: string;
  output: string;
}

/**
 * The filter the flags ask for, or an error naming the flag. Pods are `ns/name`, or a bare name
 * in the -n namespace ("default" when not given); with -A a pod must name its namespace.
 */
export function flowFilterOf(flags: FlowFlags): FlowFilter {
  if (flags.output !== 'text' && flags.output !== 'json')
    throw new Error(`-o: "${flags.output}" is not a format (use text or json)`);
  if (flags.allNamespaces && flags.namespace !== undefined)
    throw new Error('-n and -A: give one (a namespace, or every namespace)');
  const ns = flags.allNamespaces ? undefined : (flags.namespace ?? 'default');
  if (ns !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
    throw new Error(`-n: "${ns}" is not a namespace name`);
  const pod = (flag: string, text: string | undefined): string | undefined => {
    if (text === undefined) return undefined;
    const parts = text.split('/');
    const ok = (s: string | undefined) => s !== undefined && /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(s);
    if (parts.length === 2 && ok(parts[0]) && ok(parts[1])) return text;
    if (parts.length === 1 && ok(parts[0])) {
      if (ns === undefined) throw new Error(`${flag}: "${text}": with -A name the pod as namespace/name`);
      return `${ns}/${text}`;
    }
    throw new Error(`${flag}: "${text}" is not a pod (name, or namespace/name)`);
  };
  if (flags.verdict !== undefined && flags.verdict !== 'allowed' && flags.verdict !== 'denied')
    throw new Error(`--verdict: "${flags.verdict}" is not a verdict (use allowed or denied)`);
  const from = pod('--from', flags.from);
  const to = pod('--to', flags.to);
  return {
    ...(ns !== undefined ? { namespace: ns } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(flags.verdict !== undefined ? { verdict: flags.verdict as Flow['verdict'] } : {}),
  };
}

/** The query parameters the dashboard's flow stream takes (`weft ui`'s /api/flows). */
const QUERY_KEYS = ['namespace', 'pod', 'from', 'to', 'verdict'] as const;

/**
 * The filter of the dashboard's flow stream from its query parameters (each optional, an empty
 * value is no filter): namespace, and pod, from and to as namespace/name, verdict. An error names
 * the parameter and the reason; an unknown parameter is refused rather than ignored.
 */
export function flowQueryFilter(query: Readonly<Record<string, string | undefined>>): FlowFilter {
  const unknown = Object.keys(query).filter((k) => !(QUERY_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new Error(`${unknown[0]}: unknown parameter (use ${QUERY_KEYS.join(', ')})`);
  const given = (k: (typeof QUERY_KEYS)[number]) => (query[k] === undefined || query[k] === '' ? undefined : query[k]);
  const name = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;
  const filter: FlowFilter = {};
  const ns = given('namespace');
  if (ns !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) throw new Error(`namespace: "${ns}" is not a namespace name`);
    filter.namespace = ns;
  }
  for (const k of ['pod', 'from', 'to'] as const) {
    const v = given(k);
    if (v === undefined) continue;
    const parts = v.split('/');
    if (parts.length !== 2 || !parts.every((p) => name.test(p)))
      throw new Error(`${k}: "${v}" is not a pod as namespace/name`);
    filter[k] = v;
  }
  const verdict = given('verdict');
  if (verdict !== undefined) {
    if (verdict !== 'allowed' && verdict !== 'denied')
      throw new Error(`verdict: "${verdict}" is not a verdict (use allowed or denied)`);
    filter.verdict = verdict;
  }
  return filter;
}
