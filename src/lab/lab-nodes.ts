/**
 * Nodes joining and leaving a running lab (`weft lab add-node`, `weft lab remove-node`), as a
 * cluster gains a machine or loses one: what the bgp backend's "routes appear when a node joins,
 * and are withdrawn when it leaves" is measured against.
 *
 * - add-node makes node n<N+1> on the segment the address plan gives it (node i on segment
 *   (i-1) mod K), starts its agent and pod runner (and kube-proxy where the lab's Services are
 *   kube-proxy's), and waits until it is Ready. With `--api kube` it first writes the node's
 *   credentials, as lab up does; the node's kubelet registers the Node and the controller manager
 *   gives it a podCIDR.
 * - remove-node is a machine dying, then being deleted from the cluster: its agent, pod runner
 *   and every process in its namespace (BIRD too) are killed with SIGKILL (nothing is told
 *   anything), then its lease is revoked (as deleting a Node makes Flannel's kube subnet manager
 *   drop its lease) and its namespace removed. The other nodes see the lease go and drop the peer.
 *   With `--api kube` the Node is deleted through the API instead: the controller manager frees
 *   its podCIDR, and the other agents drop the peer when the Node goes.
 *
 * - switch-node moves a node from the real flanneld to weft's agent (issue 18), as a cluster
 *   moves to weft one node at a time: flanneld is stopped, what of it weft cannot take over is
 *   removed (./peer-flannel.ts), and weft's agent starts on the same node, where it finds the
 *   node's lease by its public IP and keeps the subnet, so the node's pods keep their addresses.
 *
 * All three hold the lab's supervisor lock, so the supervisor never restarts a node being removed,
 * misses one being added, or restarts flanneld on a node being switched.
 */

import { mkdirSync } from 'node:fs';
import { nodeSegment, nodeUnderlayAddress, segmentPrefix24, MAX_LAB_NODES } from '../core/lab/lab-spec.js';
import { NamedNetns } from '../adapters/netns.js';
import { processCommandLine, signalProcess } from '../adapters/daemon.js';
import { pidsInNetns } from '../adapters/proc.js';
import { openLabLeases } from './router-bird.js';
import { LabPaths, readLabRecord, writeLabRecord } from './lab-state.js';
import {
  clusterObjects,
  runsKubeProxy,
  startAgent,
  startNodeKubeProxy,
  startRunner,
  withSupervisorLock,
  type LabDeps,
} from './lab.js';
import { labApiAddNode } from './lab-kube.js';
import { removeFlannelLeftovers } from './peer-flannel.js';
import { readNodeStatus } from '../agent/node-status.js';
import { Underlay } from './underlay.js';

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Adds the next node (n<N+1>) and waits until it is Ready; its name. */
export async function labAddNode(name: string, deps: LabDeps): Promise<string> {
  const paths = new LabPaths(deps.root, name);
  const added = await withSupervisorLock(paths, async () => {
    const record = readLabRecord(paths);
    if (!record || record.state !== 'up') throw new Error(`lab "${name}" is not up`);
    const used = new Set(record.nodes.map((n) => Number(n.name.slice(1))));
    let i = 1;
    while (used.has(i)) i++;
    if (i > MAX_LAB_NODES) throw new Error(`lab ${name}: already ${MAX_LAB_NODES} nodes`);
    const segments = record.spec.segments ?? 1;
    const k = nodeSegment(i, segments);
    const segNs = record.segments?.[k]?.ns ?? record.segmentNs;
    const underlay = new Underlay(deps.exec, paths.nsPrefix);
    const n = await underlay.addNode(`n${i}`, { prefix24: segmentPrefix24(k), ns: segNs }, i);
    if (n.ip !== nodeUnderlayAddress(i, segments))
      throw new Error(`node n${i}: made at ${n.ip}, the address plan says ${nodeUnderlayAddress(i, segments)}`);
    for (const d of [paths.runDir(n.name), paths.cniConfDir(n.name), paths.ipamDir(n.name)])
      mkdirSync(d, { recursive: true });
    if (record.api) await labApiAddNode(deps.exec, record.api, paths.dir, n.name, { kubeProxy: runsKubeProxy(record) });
    const node = { name: n.name, ns: n.ns, ip: n.ip, ...(segments > 1 ? { segment: k } : {}) };
    record.nodes.push(node);
    record.spec.nodes = record.nodes.length;
    const netns = new NamedNetns(deps.exec);
    Object.assign(node, {
      agentPid: startAgent(paths, record, node, netns),
      runnerPid: startRunner(paths, node, netns),
      ...(runsKubeProxy(record) ? { kubeProxyPid: startNodeKubeProxy(paths, record, node, netns) } : {}),
    });
    writeLabRecord(paths, record);
    return { name: n.name, record };
  });
  // The node's kubelet registers it where the cluster is: the lab store, or the API server.
  const objects = clusterObjects(paths, added.record);
  try {
    await waitFor(`node ${added.name} to be Ready (see ${paths.logDir}/agent-${added.name}.log)`, 30_000, async () =>
      (await objects.nodes()).some((n) => n.name === added.name && n.ready),
    );
  } finally {
    await objects.close();
  }
  return added.name;
}

/** Kills node `node` (SIGKILL, every process in its namespace), revokes its lease and removes its namespace. */
export async function labRemoveNode(name: string, node: string, deps: LabDeps): Promise<void> {
  const paths = new LabPaths(deps.root, name);
  await withSupervisorLock(paths, async () => {
    const record = readLabRecord(paths);
    if (!record) throw new Error(`lab "${name}" does not exist`);
    const n = record.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`--node: lab ${name} has no node "${node}"`);
    const netns = new NamedNetns(deps.exec);
    const pids = new Set(pidsInNetns(netns.path(n.ns)));
    for (const pid of [n.agentPid, n.runnerPid, n.kubeProxyPid])
      if (pid !== undefined && processCommandLine(pid)?.includes(paths.dir)) pids.add(pid);
    for (const pid of pids) signalProcess(pid, 'SIGKILL');
    await waitFor(`the processes of ${node} to end`, 5_000, async () =>
      [...pids].every((p) => processCommandLine(p) === undefined),
    );
    // With --api kube the node's lease is its Node (podCIDR and annotations): deleting it below
    // is the revocation.
    if (!record.api) {
      const leases = await openLabLeases(paths, record);
      try {
        // flanneld's leases carry no node name (weft's add one): its address finds them.
        for (const l of await leases.listLeases())
          if (l.nodeName === node || (l.nodeName === undefined && l.publicIp === n.ip)) await leases.revoke(l.subnet);
      } finally {
        await leases.close();
      }
    }
    await netns.delete(n.ns);
    const objects = clusterObjects(paths, record);
    try {
      await objects.removeNode(node);
    } finally {
      await objects.close();
    }
    record.nodes = record.nodes.filter((x) => x !== n);
    record.spec.nodes = record.nodes.length;
    writeLabRecord(paths, record);
  });
}

/**
 * Switches node `node` from its peer daemon (flanneld) to weft's agent; says what it stopped and
 * what it removed. The node must run a peer. Its pods and their addresses stay: the agent reuses
 * the node's lease (same public IP) and subnet.env, and rewrites the same CNI config.
 */
export async function labSwitchNodeToWeft(
  name: string,
  node: string,
  deps: LabDeps,
): Promise<{ from: string; removed: string[] }> {
  const paths = new LabPaths(deps.root, name);
  if (!readLabRecord(paths)) throw new Error(`lab "${name}" does not exist`);
  const switched = await withSupervisorLock(paths, async () => {
    const record = readLabRecord(paths);
    if (!record || record.state !== 'up') throw new Error(`lab "${name}" is not up`);
    const n = record.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`--node: lab ${name} has no node "${node}"`);
    if (!n.peer) throw new Error(`--node: ${node} already runs weft's agent`);
    const from = n.peer === 'flannel' ? 'flanneld' : n.peer;
    const old = n.agentPid;
    if (old !== undefined && processCommandLine(old)?.includes(paths.dir)) {
      signalProcess(old, 'SIGTERM');
      try {
        await waitFor(`${from} on ${node} to stop`, 5_000, async () => processCommandLine(old) === undefined);
      } catch {
        signalProcess(old, 'SIGKILL');
        await waitFor(
          `${from} on ${node} to end after SIGKILL`,
          5_000,
          async () => processCommandLine(old) === undefined,
        );
      }
    }
    const removed = await removeFlannelLeftovers(deps.exec, record, n);
    delete n.peer;
    n.agentPid = startAgent(paths, record, n, new NamedNetns(deps.exec));
    writeLabRecord(paths, record);
    return { from, removed };
  });
  // Switched when the new agent says every controller is ready (its status document, written after this
  // switch: flanneld writes none).
  const since = Date.now() - 1_000;
  await waitFor(`weft's agent on ${node} to be ready (see ${paths.logDir}/agent-${node}.log)`, 30_000, async () => {
    const doc = readNodeStatus(paths.runDir(node));
    return doc !== undefined && doc.ready && Date.parse(doc.writtenAt) >= since;
  });
  return switched;
}
