/**
 * The lab router's BIRD (`weft lab up --backend bgp --bgp-peer router`): the top-of-rack / core
 * router of a lab with several segments, speaking BGP with every node on each of its legs, as a
 * route reflector (or eBGP upstream when net-conf gives the router an AS of its own). It installs
 * every node's pod subnet in the router namespace's kernel and re-advertises it to the other nodes
 * with itself as next hop, so pods on different segments are routed with no encapsulation.
 *
 * The router's BIRD is the lab's, not an agent's: started by `lab up` before the agents, restarted
 * by the lab's supervisor (superviseOnce) when it dies, ended with the router namespace by `lab down`.
 * Its config never changes with the nodes: each leg accepts any node of its segment (dynamic BGP).
 */

import { join } from 'node:path';
import { renderRouterBirdConfig } from '../core/bgp/bird-config.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import { labNetConf, segmentCidr, segmentRouter, segmentsOf, type LabSpec } from '../core/lab/lab-spec.js';
import type { Exec } from '../ports/exec.js';
import { birdArgv, birdFiles, runningBirdPid, writeBirdConfig, type BirdFiles } from '../adapters/bird.js';
import { spawnDetached } from '../adapters/daemon.js';
import type { NamedNetns } from '../adapters/netns.js';
import type { LabPaths } from './lab-state.js';

/** Whether the lab runs BIRD in its router. */
export function labRouterSpeaksBgp(spec: LabSpec): boolean {
  return spec.backend === 'bgp' && spec.bgpPeer === 'router' && (spec.segments ?? 1) > 1;
}

export function routerBirdFiles(paths: LabPaths): BirdFiles {
  return birdFiles(join(paths.dir, 'router'));
}

/** The router BIRD's PID while it runs, else undefined. */
export function routerBirdPid(paths: LabPaths): number | undefined {
  return runningBirdPid(routerBirdFiles(paths));
}

/** Writes the router's BIRD config (checked by `bird -p`) and starts it in the router namespace; its PID. */
export async function startRouterBird(
  exec: Exec,
  netns: NamedNetns,
  paths: LabPaths,
  spec: LabSpec,
  routerNs: string,
): Promise<number> {
  const bgp = parseNetConf(labNetConf(spec)).backend.bgp;
  if (!bgp) throw new Error(`lab ${spec.name}: the router speaks BGP only for the bgp backend`);
  const files = routerBirdFiles(paths);
  const text = renderRouterBirdConfig({
    // The leg on segment 0 identifies the router.
    routerId: segmentRouter(0),
    legs: segmentsOf(spec).map((k) => ({ address: segmentRouter(k), segment: segmentCidr(k) })),
    network: spec.network,
    conf: bgp,
  });
  await writeBirdConfig(exec, files, text);
  return spawnDetached({
    netns: netns.path(routerNs),
    // Nothing to recover: the router's kernel routes went with it (no persist).
    argv: birdArgv(files, { recover: false }),
    logFile: `${paths.logDir}/router-bird.log`,
    context: `start BIRD in the router of lab ${spec.name}`,
  });
}
