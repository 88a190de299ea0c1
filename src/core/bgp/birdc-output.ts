/**
 * `birdc show protocols all` and `birdc show route` output, parsed into values for `weft get bgp`
 * and `weft lab status`: each BGP session's state and the routes BIRD has learnt. BIRD has no
 * machine-readable output, so this reads the fixed layout BIRD 2.0 prints (nest/proto.c and
 * nest/rt-show.c); the unit tests run it on output recorded from a real BIRD 2.0.12.
 *
 * Lines that do not match are skipped, never guessed at: a newer BIRD that adds a line leaves the
 * values it still prints intact.
 */

export interface BgpSessionStatus {
  /** The BIRD protocol name, e.g. "peer_10_99_0_2" or a dynamic one, "seg0_1". */
  name: string;
  /** BIRD's protocol state: up, start, down, flush... */
  protocolState: string;
  /** The BGP FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  bgpState: string;
  /** Since when the protocol is in its state (BIRD's time format, e.g. "14:06:07.495"). */
  since: string;
  neighborAddress?: string;
  neighborAs?: number;
  localAs?: number;
  /** The last error (e.g. "Socket: Connection closed"), when BIRD reports one. */
  lastError?: string;
  /** The peer is restarting and its routes are kept as stale (graceful restart). */
  gracefulRestartActive: boolean;
  imported?: number;
  exported?: number;
}

export interface BirdRoute {
  prefix: string;
  /** unicast, blackhole, unreachable... */
  type: string;
  /** The BIRD protocol that brought it (a session name, or weft_own for the node's own subnet). */
  protocol: string;
  /** BIRD's best route for the prefix (marked "*"). */
  primary: boolean;
  via?: string;
  iface?: string;
}

const PROTOCOL_HEADER = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/;

/** The BGP protocols of `birdc show protocols all` (other protocols are skipped). */
export function parseShowProtocolsAll(text: string): BgpSessionStatus[] {
  const out: BgpSessionStatus[] = [];
  let current: BgpSessionStatus | undefined;
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('BIRD ') || line.startsWith('Name ')) continue;
    if (!/^\s/.test(line)) {
      current = undefined;
      const m = PROTOCOL_HEADER.exec(line);
      if (!m || m[2] !== 'BGP') continue;
      const [, name = '', , , state = '', since = '', info = ''] = m;
      current = {
        name,
        protocolState: state,
        // The Info column starts with the BGP state (then perhaps the reason after spaces).
        bgpState: info.trim().split(/\s+/)[0] ?? '',
        since,
        gracefulRestartActive: false,
      };
      out.push(current);
      continue;
    }
    if (!current) continue;
    const field = /^\s+([A-Za-z][A-Za-z0-9 ]*?):\s+(.*)$/.exec(line);
    const trimmed = line.trim();
    if (trimmed === 'Neighbor graceful restart active') current.gracefulRestartActive = true;
    if (!field) continue;
    const [, key = '', value = ''] = field;
    switch (key) {
      case 'BGP state':
        current.bgpState = value.trim();
        break;
      case 'Neighbor address':
        current.neighborAddress = value.trim();
        break;
      case 'Neighbor AS':
        current.neighborAs = Number(value.trim());
        break;
      case 'Local AS':
        current.localAs = Number(value.trim());
        break;
      case 'Last error':
        current.lastError = value.trim();
        break;
      case 'Routes': {
        const r = /(\d+) imported, (?:(\d+) filtered, )?(\d+) exported/.exec(value);
        if (r) {
          current.imported = Number(r[1]);
          current.exported = Number(r[3]);
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}

const ROUTE_HEAD = /^(\S+\/\d+)?\s+(\w+)\s+\[(\S+)(?: [^\]]*)?\]\s*(\*)?/;
const ROUTE_VIA = /^\s+via (\S+) on (\S+)/;

/** The routes of `birdc show route` (a prefix with several routes lists each; the prefix is repeated). */
export function parseShowRoute(text: string): BirdRoute[] {
  const out: BirdRoute[] = [];
  let prefix: string | undefined;
  let current: BirdRoute | undefined;
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('BIRD ') || line.startsWith('Table ')) continue;
    const via = ROUTE_VIA.exec(line);
    if (via) {
      if (current) {
        current.via = via[1] ?? '';
        current.iface = via[2] ?? '';
      }
      continue;
    }
    const head = ROUTE_HEAD.exec(line);
    if (!head) continue;
    // An alternative route for the same prefix starts with spaces instead of the prefix.
    if (head[1]) prefix = head[1];
    if (!prefix) continue;
    current = { prefix, type: head[2] ?? '', protocol: head[3] ?? '', primary: head[4] === '*' };
    out.push(current);
  }
  return out;
}
