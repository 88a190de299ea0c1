/**
 * `weft lab outside`: clients outside the cluster. Each is a namespace on the lab's underlay
 * segment that belongs to no node (its own address, default 10.99.0.250), so NodePorts,
 * load-balancer addresses, external IPs and externalTrafficPolicy can be tried the way a user
 * outside the cluster reaches them, and two addresses make two different clients (for
 * loadBalancerSourceRanges).
 *
 * A client's namespace is made on first use and kept (named with the lab's prefix, so `lab down`
 * removes it with the rest, also after a crash). The client routes the load-balancer pool to the
 * segment's gateway, which routes each address to the nodes that announce it (./lb-routes.ts).
 * A lock in the lab's directory keeps two concurrent calls from making the same client twice.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runAttached } from '../adapters/exec.js';
import { FlockLocker } from '../adapters/file-lock.js';
import { NamedNetns } from '../adapters/netns.js';
import { checkOutsideAddress, DEFAULT_OUTSIDE_ADDRESS, lbCidrOf, segmentPrefix24 } from '../core/lab/lab-spec.js';
import { labNamespacePrefix, labOutsideNamespace } from '../core/names.js';
import type { LabDeps } from './lab.js';
import { LabPaths, readLabRecord, type LabRecord } from './lab-state.js';
import { Underlay, type Segment } from './underlay.js';

/** Outside clients, the gateway and the load-balancer pool are on segment 0 (the other segments reach them through the router). */
const SEGMENT_PREFIX24 = segmentPrefix24(0);

/** The segment's gateway, ready to route load-balancer addresses to nodes (see Underlay.prepareGateway). */
export async function prepareGateway(deps: Pick<LabDeps, 'exec'>, record: LabRecord): Promise<void> {
  const underlay = new Underlay(deps.exec, labNamespacePrefix(record.spec.name));
  await underlay.prepareGateway({ prefix24: SEGMENT_PREFIX24, ns: record.segmentNs });
}

/** The namespace of the outside client at `address` (default 10.99.0.250), made when missing. */
export async function ensureOutsideClient(name: string, address: string | undefined, deps: LabDeps): Promise<string> {
  const paths = new LabPaths(deps.root, name);
  const record = readLabRecord(paths);
  if (!record) throw new Error(`lab "${name}" does not exist (weft lab list shows the labs)`);
  if (record.state !== 'up') throw new Error(`lab "${name}" is not up yet (${record.state})`);
  const ip = checkOutsideAddress(record.spec, address ?? DEFAULT_OUTSIDE_ADDRESS);
  const ns = labOutsideNamespace(name, ip);
  const netns = new NamedNetns(deps.exec);
  const lock = await new FlockLocker().acquire(join(paths.dir, 'outside.lock'));
  try {
    if (netns.list().includes(ns)) return ns;
    const underlay = new Underlay(deps.exec, paths.nsPrefix);
    const segment: Segment = { prefix24: SEGMENT_PREFIX24, ns: record.segmentNs };
    await prepareGateway(deps, record);
    try {
      await underlay.addOutsideClient(ns.slice(paths.nsPrefix.length), segment, ip, [lbCidrOf(record.spec)]);
    } catch (err) {
      // A half-made client would be taken as made next time: remove it (its veth goes with it).
      if (netns.list().includes(ns)) await netns.delete(ns);
      throw err;
    }
    return ns;
  } finally {
    await lock.release();
  }
}

/** Runs `argv` in the outside client's namespace, attached to this terminal; resolves with its exit code. */
export async function runOutside(
  name: string,
  address: string | undefined,
  argv: readonly string[],
  deps: LabDeps,
): Promise<number> {
  if (argv.length === 0) throw new Error('lab outside: give the command after --, e.g. weft lab outside -- curl ...');
  const ns = await ensureOutsideClient(name, address, deps);
  const netns = new NamedNetns(deps.exec);
  if (!existsSync(netns.path(ns))) throw new Error(`outside client namespace ${ns} vanished (lab down?)`);
  return runAttached({ argv: [...argv], netns: netns.path(ns), context: `run in the outside client ${ns}` });
}
