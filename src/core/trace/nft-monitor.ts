/**
 * `nft monitor` output → the kernel's own trace of a packet (the basis of `weft trace`).
 *
 * A packet that carries nftrace (weft's trace table sets it for exactly one probe packet, see
 * trace-table.ts) makes netfilter report, per table and chain it passes, one line each:
 *
 *   trace id 8af41166 ip filt input packet: iif "eth0" ip saddr 10.0.0.1 ... tcp dport 81 ...
 *   trace id 8af41166 ip filt input rule tcp dport 81 counter packets 0 bytes 0 drop comment "x" (verdict drop)
 *   trace id 8af41166 ip filt input policy accept
 *   trace id 8af41166 ip filt sub verdict return
 *
 * `packet:` shows the packet as the chain sees it (after any DNAT before it), `rule` a rule that
 * decided something (its text as nft lists it, and the verdict it gave: continue, jump CHAIN,
 * goto CHAIN, accept, drop, return), `policy` the base chain's policy when no rule decided.
 * The other lines of `nft monitor` (ruleset changes, "# new generation ...") are not trace lines:
 * parseMonitorLine gives undefined for them. Pure: the lab's tracer (src/lab/trace.ts) reads the
 * lines from one `nft monitor` per network namespace.
 */

export interface TraceEvent {
  /** The kernel's trace id: one per packet per network namespace it passes. */
  id: string;
  family: string;
  table: string;
  chain: string;
  kind: 'packet' | 'rule' | 'policy' | 'verdict';
  /** `packet`: the fields as nft printed them, by name ("iif", "ip saddr", "tcp dport", ...). */
  packet?: Readonly<Record<string, string>>;
  /** `rule`: the rule's text without its counter values and comment. */
  rule?: string;
  /** The rule's comment, if any (weft's rules say which Service or policy they come from). */
  comment?: string;
  /** `rule`, `policy`, `verdict`: accept, drop, continue, return, jump CHAIN, goto CHAIN. */
  verdict?: string;
}

const LINE = /^trace id (\S+) (\S+) (\S+) (\S+) (packet: |rule |policy |verdict )(.*)$/;

/** One line of `nft monitor` output as a trace event; undefined for any other line. */
export function parseMonitorLine(line: string): TraceEvent | undefined {
  const m = LINE.exec(line.trimEnd());
  if (!m) return undefined;
  const [, id, family, table, chain, what, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const base = { id, family, table, chain };
  switch (what) {
    case 'packet: ':
      return { ...base, kind: 'packet', packet: packetFields(rest) };
    case 'policy ':
      return { ...base, kind: 'policy', verdict: rest.trim() };
    case 'verdict ':
      return { ...base, kind: 'verdict', verdict: rest.trim() };
    default: {
      const v = /^(.*) \(verdict ([^)]*)\)$/.exec(rest);
      const text = v ? v[1]! : rest;
      const c = /^(.*?) comment "((?:[^"\\]|\\.)*)"$/.exec(text);
      const rule = (c ? c[1]! : text).replace(/(^| )counter packets \d+ bytes \d+/, '$1counter').trim();
      return {
        ...base,
        kind: 'rule',
        rule,
        ...(c ? { comment: c[2]! } : {}),
        ...(v ? { verdict: v[2]! } : {}),
      };
    }
  }
}

/**
 * The fields of a `packet:` line: nft prints `SELECTOR VALUE` pairs where the selector is one or
 * two words (`iif "eth0"`, `ip saddr 10.0.0.1`, `tcp flags == syn`); values are one word, or a
 * quoted string.
 */
export function packetFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const words = text.trim().match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  const ONE_WORD = new Set(['iif', 'oif', 'iifname', 'oifname']);
  let i = 0;
  while (i < words.length) {
    const first = words[i]!;
    if (ONE_WORD.has(first) && i + 1 < words.length) {
      out[first] = unquote(words[i + 1]!);
      i += 2;
      continue;
    }
    if (i + 2 >= words.length) break;
    const name = `${first} ${words[i + 1]!}`;
    let j = i + 2;
    if (words[j] === '==' && j + 1 < words.length) j++;
    out[name] = unquote(words[j]!);
    i = j + 1;
  }
  return out;
}

function unquote(w: string): string {
  return w.startsWith('"') && w.endsWith('"') ? w.slice(1, -1).replace(/\\(.)/g, '$1') : w;
}

/** The events of each trace id, in the order nft printed them. */
export function groupByTrace(events: readonly TraceEvent[]): Map<string, TraceEvent[]> {
  const out = new Map<string, TraceEvent[]>();
  for (const e of events) {
    const list = out.get(e.id);
    if (list) list.push(e);
    else out.set(e.id, [e]);
  }
  return out;
}

/**
 * How a packet's pass through one namespace ended, from its events: the last decisive verdict
 * (drop, or accept at the last base chain), or undefined when nothing decided (every chain let it
 * through with a policy accept or a continue).
 */
export function finalVerdict(events: readonly TraceEvent[]): 'drop' | 'accept' | undefined {
  let last: 'drop' | 'accept' | undefined;
  for (const e of events) {
    const v = e.verdict?.split(' ')[0];
    if (v === 'drop') return 'drop';
    if (v === 'accept') last = 'accept';
  }
  return last;
}
