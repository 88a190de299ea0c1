/**
 * The lab router's BIRD (`weft lab up --backend bgp --bgp-peer router`): the top-of-rack / core
 * router of a lab with several segments, speaking BGP with every node on each of its legs, as a
 * route reflector (or eBGP upstream when net-conf gives the router an AS of its own). It installs
 * every node's pod subnet in the router namespace's kernel and re-advertises it to the other nodes
 * with itself as next hop, so pods on different segments are routed with no encapsulation.
 *
 * The router's BIRD is the lab's, not an agent's: started by `lab up` before the agents, kept by
 * the lab's supervisor (superviseOnce calls syncRouterBird every look: it restarts a dead BIRD and
 * rewrites its sessions from the nodes' leases, applied with `birdc configure`, so a node that
 * leaves is withdrawn at once), and ended with the router namespace by `lab down`.
 */

import { join } from 'node:path';
import { renderRouterBirdConfig } from '../core/bgp/bird-config.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import { labNetConf, segmentCidr, segmentRouter, segmentsOf, type LabSpec } from '../core/lab/lab-spec.js';
import type { Exec } from '../ports/exec.js';
import {
  BirdControl,
  birdArgv,
  birdFiles,
  readBirdConfig,
  runningBirdPid,
  writeBirdConfig,
  type BirdFiles,
} from '../adapters/bird.js';
import { spawnDetached } from '../adapters/daemon.js';
import type { NamedNetns } from '../adapters/netns.js';
import { openStore } from '../agent/open-store.js';
import type { LabPaths, LabRecord } from './lab-state.js';

/** Whether the lab runs BIRD in its router. */
export function labRouterSpeaksBgp(spec: LabSpec): boolean {
  return spec.backend === 'bgp' && spec.bgpPeer === 'router' && (spec.segments ?? 1) > 1;
}

export function routerBirdFiles(paths: LabPaths): BirdFiles {
  return birdFiles(join(paths.dir, 'router'));
}

/** The lab's lease store (where the agents hold their subnets). */
export function openLabLeases(paths: LabPaths, record: LabRecord) {
  const tls = record.etcdTls;
  return openStore({
    store: record.spec.store.kind,
    storeFile: paths.leases,
    etcdEndpoints: (record.etcdEndpoints ?? []).join(','),
    etcdPrefix: '/coreos.com/network',
    ...(tls ? { etcdCafile: tls.caFile, etcdCertfile: tls.certFile, etcdKeyfile: tls.keyFile } : {}),
  });
}

async function routerConfig(paths: LabPaths, record: LabRecord): Promise<string> {
  const bgp = parseNetConf(labNetConf(record.spec)).backend.bgp;
  if (!bgp) throw new Error(`lab ${record.spec.name}: the router speaks BGP only for the bgp backend`);
  const leases = await openLabLeases(paths, record);
  let nodes: string[];
  try {
    nodes = (await leases.listLeases()).map((l) => l.publicIp);
  } finally {
    await leases.close();
  }
  return renderRouterBirdConfig({
    // The leg on segment 0 identifies the router.
    routerId: segmentRouter(0),
    legs: segmentsOf(record.spec).map((k) => ({ address: segmentRouter(k), segment: segmentCidr(k) })),
    network: record.spec.network,
    conf: bgp,
    nodes,
  });
}

/**
 * Brings the router's BIRD in line with the leases: (re)writes its config when the nodes changed
 * (then `birdc configure`), and starts it when it is not running. Returns what it did, for the
 * supervisor's log ([] when nothing).
 */
export async function syncRouterBird(
  exec: Exec,
  netns: NamedNetns,
  paths: LabPaths,
  record: LabRecord,
): Promise<string[]> {
  if (!labRouterSpeaksBgp(record.spec) || !record.routerNs) return [];
  const files = routerBirdFiles(paths);
  const text = await routerConfig(paths, record);
  const done: string[] = [];
  const running = runningBirdPid(files) !== undefined;
  if (text !== readBirdConfig(files)) {
    await writeBirdConfig(exec, files, text);
    if (running) {
      await new BirdControl(exec, files.socket).configure();
      done.push('router BIRD reconfigured (the nodes changed)');
    }
  }
  if (!running) {
    record.routerBirdPid = spawnDetached({
      netns: netns.path(record.routerNs),
      // Nothing to recover: the router's kernel routes went with its BIRD (no persist).
      argv: birdArgv(files, { recover: false }),
      logFile: `${paths.logDir}/router-bird.log`,
      context: `start BIRD in the router of lab ${record.spec.name}`,
    });
    done.push('router BIRD started');
  }
  return done;
}
