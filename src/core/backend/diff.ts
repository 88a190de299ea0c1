/**
 * Desired vs actual backend state → the smallest change list that makes the kernel match. This is
 * what makes an agent restart harmless: anything already right yields no change at all, so the
 * routes, neighbours and FDB entries that established flows use are never deleted or re-made.
 *
 * What counts as weft's: VXLAN devices with weft's name prefix, routes with weft's protocol
 * number, permanent neighbours and FDB entries with a destination on weft's devices. Everything
 * else is invisible here (the Netlink port does not even read it), so it is never touched.
 *
 * Kernel behaviour the diff relies on (each one exercised in test/backend.test.ts):
 * - deleting a device takes its addresses, routes, neighbours and FDB entries with it, so they
 *   get no delete of their own (which would fail);
 * - a VXLAN device's VNI, port, local address, underlay and learning cannot be changed in place
 *   ("Cannot change port"), so a device differing in those is deleted and created again (with
 *   the same derived MAC, so peers need not notice);
 * - changing a device's MAC, or bringing it up, flushes its neighbours, even permanent ones
 *   (NETDEV_CHANGEADDR / NETDEV_DOWN), so they are written again after such a change.
 */

import type {
  ActualBackendState,
  ActualRoute,
  BackendChange,
  BackendFdbEntry,
  BackendNeighbour,
  BackendRoute,
  DesiredBackendState,
  VxlanDeviceSpec,
  VxlanDeviceState,
} from './state.js';

function deviceNeedsRecreate(want: VxlanDeviceSpec, have: VxlanDeviceState): string | undefined {
  const diffs: string[] = [];
  if (have.vni !== want.vni) diffs.push(`vni ${have.vni} → ${want.vni}`);
  if (have.port !== want.port) diffs.push(`port ${have.port} → ${want.port}`);
  if (have.local !== want.local) diffs.push(`local ${have.local ?? 'none'} → ${want.local}`);
  if (have.underlay !== want.underlay) diffs.push(`dev ${have.underlay ?? 'none'} → ${want.underlay}`);
  if (have.learning) diffs.push('learning on → off');
  return diffs.length ? diffs.join(', ') : undefined;
}

interface DeviceOutcome {
  changes: BackendChange[];
  /** Devices whose kernel state is gone (deleted or recreated): nothing on them is "actual". */
  gone: Set<string>;
  /** The desired device's neighbours were flushed by the kernel (MAC change, brought up). */
  neighboursFlushed: boolean;
}

function diffDevices(desired: DesiredBackendState, actual: ActualBackendState): DeviceOutcome {
  const changes: BackendChange[] = [];
  const gone = new Set<string>();
  const want = desired.device;
  for (const d of actual.devices) {
    if (d.name !== want?.name) {
      changes.push({
        kind: 'delete-device',
        name: d.name,
        reason: want
          ? `not the ${desired.type} backend's device ${want.name}`
          : desired.type === 'none'
            ? 'tearing the backend down'
            : `the ${desired.type} backend uses no VXLAN device`,
      });
      gone.add(d.name);
    }
  }
  if (!want) return { changes, gone, neighboursFlushed: false };
  const have = actual.devices.find((d) => d.name === want.name);
  if (!have) {
    changes.push({ kind: 'create-device', device: want, reason: 'missing' });
    return { changes, gone, neighboursFlushed: false };
  }
  const why = deviceNeedsRecreate(want, have);
  if (why) {
    changes.push({ kind: 'delete-device', name: have.name, reason: why });
    changes.push({ kind: 'create-device', device: want, reason: why });
    gone.add(have.name);
    return { changes, gone, neighboursFlushed: false };
  }
  const set: Extract<BackendChange, { kind: 'set-device' }> = { kind: 'set-device', name: want.name };
  if (have.mtu !== want.mtu) set.mtu = want.mtu;
  if (have.mac !== want.mac) set.mac = want.mac;
  if (!have.up) set.up = true;
  if (set.mtu !== undefined || set.mac !== undefined || set.up) changes.push(set);
  for (const cidr of have.addresses)
    if (cidr !== want.address) changes.push({ kind: 'delete-address', dev: want.name, cidr });
  if (!have.addresses.includes(want.address)) changes.push({ kind: 'add-address', dev: want.name, cidr: want.address });
  return { changes, gone, neighboursFlushed: set.mac !== undefined || set.up === true };
}

function sameRoute(a: BackendRoute, b: ActualRoute): boolean {
  return b.type === 'unicast' && a.dst === b.dst && a.via === b.via && a.dev === b.dev && a.onlink === b.onlink;
}

function diffRoutes(desired: DesiredBackendState, actual: ActualBackendState, gone: Set<string>): BackendChange[] {
  const live = actual.routes.filter((r) => !(r.dev !== undefined && gone.has(r.dev)));
  const deletes: BackendChange[] = [];
  const upserts: BackendChange[] = [];
  const wanted = new Map(desired.routes.map((r) => [r.dst, r]));
  const byDst = new Map<string, ActualRoute[]>();
  for (const r of live) byDst.set(r.dst, [...(byDst.get(r.dst) ?? []), r]);
  for (const [dst, have] of byDst) {
    const want = wanted.get(dst);
    if (!want) {
      for (const r of have) deletes.push({ kind: 'delete-route', route: r });
      continue;
    }
    const exact = have.find((r) => sameRoute(want, r));
    // `ip route replace` rewrites the one route for dst; any further ones (another metric or
    // type) are deleted so exactly the wanted route remains.
    const replaced = exact ? undefined : have[0];
    for (const r of have) if (r !== exact && r !== replaced) deletes.push({ kind: 'delete-route', route: r });
    if (replaced) upserts.push({ kind: 'replace-route', route: want });
  }
  for (const want of desired.routes) if (!byDst.has(want.dst)) upserts.push({ kind: 'add-route', route: want });
  return [...deletes, ...upserts];
}

function diffNeighbours(
  desired: DesiredBackendState,
  actual: ActualBackendState,
  flushed: boolean,
  gone: Set<string>,
): BackendChange[] {
  const dev = desired.device?.name;
  const live = flushed || dev === undefined || gone.has(dev) ? [] : actual.neighbours.filter((n) => n.dev === dev);
  const changes: BackendChange[] = [];
  const wanted = new Set(desired.neighbours.map((n) => n.ip));
  // Only permanent entries are weft's; one the kernel made for an address weft does not want
  // (incomplete, stale) is left to age out, or it would be deleted on every sync.
  for (const n of live)
    if (n.permanent && !wanted.has(n.ip))
      changes.push({ kind: 'delete-neighbour', neighbour: { dev: n.dev, ip: n.ip, mac: n.mac } });
  for (const want of desired.neighbours) {
    const have = live.find((n) => n.ip === want.ip);
    if (!have) changes.push({ kind: 'add-neighbour', neighbour: want });
    else if (!have.permanent || have.mac !== want.mac) changes.push({ kind: 'replace-neighbour', neighbour: want });
  }
  return changes;
}

function diffFdb(desired: DesiredBackendState, actual: ActualBackendState, gone: Set<string>): BackendChange[] {
  const dev = desired.device?.name;
  const live = dev === undefined || gone.has(dev) ? [] : actual.fdb.filter((e) => e.dev === dev);
  const deletes: BackendChange[] = [];
  const upserts: BackendChange[] = [];
  const wanted = new Map(desired.fdb.map((e) => [e.mac, e]));
  // A VXLAN FDB entry can hold several destinations for one MAC (`bridge fdb append`); weft
  // wants exactly one, so every other destination is deleted.
  for (const e of live) {
    const want = wanted.get(e.mac);
    if (!want || want.dst !== e.dst) deletes.push({ kind: 'delete-fdb', entry: e });
  }
  for (const want of desired.fdb) {
    const have = live.filter((e) => e.mac === want.mac);
    if (have.some((e) => e.dst === want.dst)) continue;
    upserts.push({ kind: have.length ? 'replace-fdb' : 'add-fdb', entry: want });
  }
  return [...deletes, ...upserts];
}

/**
 * The changes that turn `actual` into `desired`, in an order the kernel accepts: devices first,
 * then addresses, neighbours and FDB entries, then routes (deletes before adds in each group).
 * An empty list means the kernel already matches.
 */
export function diffBackend(desired: DesiredBackendState, actual: ActualBackendState): BackendChange[] {
  const dev = diffDevices(desired, actual);
  return [
    ...dev.changes,
    ...diffNeighbours(desired, actual, dev.neighboursFlushed, dev.gone),
    ...diffFdb(desired, actual, dev.gone),
    ...diffRoutes(desired, actual, dev.gone),
  ];
}

/** One line per change, for logs and `weft` commands. */
export function describeChange(c: BackendChange): string {
  const route = (r: BackendRoute | ActualRoute) =>
    `${r.dst}${r.via ? ` via ${r.via}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}`;
  const neigh = (n: BackendNeighbour) => `${n.ip} lladdr ${n.mac} dev ${n.dev}`;
  const fdb = (e: BackendFdbEntry) => `${e.mac} dst ${e.dst} dev ${e.dev}`;
  switch (c.kind) {
    case 'create-device':
      return `create device ${c.device.name} (vni ${c.device.vni}, port ${c.device.port}, local ${c.device.local}, dev ${c.device.underlay}, mtu ${c.device.mtu}, mac ${c.device.mac}): ${c.reason}`;
    case 'delete-device':
      return `delete device ${c.name}: ${c.reason}`;
    case 'set-device':
      return `set device ${c.name}${c.mtu !== undefined ? ` mtu ${c.mtu}` : ''}${c.mac ? ` address ${c.mac}` : ''}${c.up ? ' up' : ''}`;
    case 'add-address':
    case 'delete-address':
      return `${c.kind} ${c.cidr} dev ${c.dev}`;
    case 'add-route':
    case 'replace-route':
    case 'delete-route':
      return `${c.kind} ${route(c.route)}`;
    case 'add-neighbour':
    case 'replace-neighbour':
    case 'delete-neighbour':
      return `${c.kind} ${neigh(c.neighbour)}`;
    case 'add-fdb':
    case 'replace-fdb':
    case 'delete-fdb':
      return `${c.kind} ${fdb(c.entry)}`;
  }
}
