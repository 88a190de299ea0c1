/**
 * A lab as policy planning sees it, for tests and tools that follow packets through the tables
 * the agents would program without running them: pods placed on nodes with addresses, each
 * node's policy table planned (policy-sets.ts, policy-table.ts), and the path a packet between
 * two pods takes through those nodes' forward hooks.
 *
 * The path, as the lab's kernel sends packets: a pod's packet passes its own node's forward hook
 * (bridged to a pod of the same node, or routed out); arriving at another node it passes that
 * node's forward hook on its way to the pod. A hostNetwork pod sends from its node (the output
 * hook, which the policy table leaves alone), and a packet to a hostNetwork pod is for its node
 * (the input hook). A pod's traffic to itself is followed through its node, as hairpin traffic
 * (through a Service) would go; the table's self rule allows it.
 *
 * Known gap (as with the per-pod plan before): a pod's packet to its own node's address meets only
 * the input hook, which the policy table does not filter, so egress isolation does not cover it
 * while evaluate.ts would apply the pod's egress rules (forwardPath returns no node for it).
 */

import type { Labels, NetworkPolicy } from '../k8s/objects.js';
import type { TableDef } from '../nft/model.js';
import type { PolicyCluster } from './evaluate.js';
import type { ReachPod } from './reach.js';
import { planPolicyTable, type PolicyTableState } from './policy-sets.js';
import { policyTableDef } from './policy-table.js';
import type { FlowLogOptions } from './flow-log.js';

export interface LabModel {
  cluster: PolicyCluster;
  pods: ReachPod[];
  /** Each node's planned policy table. */
  tables: Map<string, TableDef>;
  /** Each node's planned state (what the table was rendered from). */
  states: Map<string, PolicyTableState>;
}

/** Plans every node's table for the cluster (pods without a node or address are left out of tables). */
export function planLab(
  namespaces: ReadonlyMap<string, Labels>,
  policies: readonly NetworkPolicy[],
  pods: readonly ReachPod[],
  nodes: readonly string[],
  flowLog?: FlowLogOptions,
): LabModel {
  const cluster: PolicyCluster = { namespaces, policies };
  const addressed = pods.filter((p) => p.ip !== undefined);
  const tables = new Map<string, TableDef>();
  const states = new Map<string, PolicyTableState>();
  for (const node of nodes) {
    const setPods = addressed.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      labels: p.labels,
      ip: p.ip!,
      ports: p.ports,
      selectable: !p.hostNetwork,
      local: p.node === node && !p.hostNetwork,
    }));
    const state = planPolicyTable(cluster, setPods);
    states.set(node, state);
    tables.set(node, policyTableDef(state, flowLog));
  }
  return { cluster, pods: [...pods], tables, states };
}

/** The nodes whose forward hook a packet from `from` to `to` passes, in order (see the file comment). */
export function forwardPath(from: ReachPod, to: ReachPod): string[] {
  if (from === to || (from.namespace === to.namespace && from.name === to.name))
    return from.hostNetwork || !from.node ? [] : [from.node];
  const path: string[] = [];
  if (to.hostNetwork && to.node !== undefined && to.node === from.node) return path;
  if (!from.hostNetwork && from.node) path.push(from.node);
  const toNode = to.hostNetwork ? undefined : to.node;
  if (toNode && !(from.hostNetwork && from.node === toNode) && !path.includes(toNode)) path.push(toNode);
  return path;
}
