/**
 * `weft trace outside service/NS/NAME` (or to a load-balancer address): what the model expects of
 * a packet from a client outside the cluster to a LoadBalancer Service's address, for the trace's
 * prediction (src/core/trace/predict.ts). The lab's gateway routes the address to the nodes that
 * announce it (./lb-routes.ts: every node for externalTrafficPolicy Cluster, the nodes with a
 * ready endpoint for Local); the node that gets it DNATs it to an endpoint (Local: one of its own).
 *
 * Pure: the lab client (src/lab/client.ts) gives it the stored objects and sends the real packet.
 */

import type { EndpointSlice, Service } from '../k8s/objects.js';
import { endpointsOf } from '../services/service-table.js';
import { loadBalancerRoutes, type LabNodeAddress } from './lb-routes.js';

export interface LoadBalancerTarget {
  /** The load-balancer address the packet is sent to. */
  address: string;
  port: number;
  /** The Service ("ns/name"). */
  service: string;
  /** The nodes the gateway routes the address to (node order); empty when none announces it. */
  nodes: string[];
  /** The endpoints ("ip:port") a node may DNAT it to: ready ones, on those nodes for Local. */
  candidates: string[];
}

/**
 * The load-balancer target of `to` from outside: `service/NS/NAME` (its first load-balancer
 * address) or an address that is some LoadBalancer Service's; undefined when `to` is an address
 * no Service has (a node's, for a NodePort). Throws, naming TO or --port and the reason, for a
 * Service that is missing, not of type LoadBalancer, has no address yet or no such port.
 */
export function loadBalancerTarget(input: {
  to: string;
  port: number | undefined;
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  nodes: readonly LabNodeAddress[];
}): LoadBalancerTarget | undefined {
  let svc: Service | undefined;
  let address: string | undefined;
  if (input.to.startsWith('service/')) {
    const [, ns, name, extra] = input.to.split('/');
    if (!ns || !name || extra !== undefined) throw new Error(`TO: "${input.to}" is not service/NAMESPACE/NAME`);
    svc = input.services.find((s) => s.metadata.namespace === ns && s.metadata.name === name);
    if (!svc) throw new Error(`TO: services "${name}" not found in namespace "${ns}"`);
    if (svc.spec.type !== 'LoadBalancer')
      throw new Error(
        `TO: from outside a Service is reached by its load-balancer address; ${ns}/${name} is of type ${svc.spec.type ?? 'ClusterIP'} (trace to node/NAME and a NodePort instead)`,
      );
    address = svc.status?.loadBalancer.ingress?.[0]?.ip;
    if (address === undefined) throw new Error(`TO: service ${ns}/${name} has no load-balancer address yet`);
  } else {
    svc = input.services.find(
      (s) => s.spec.type === 'LoadBalancer' && (s.status?.loadBalancer.ingress ?? []).some((i) => i.ip === input.to),
    );
    if (!svc) return undefined;
    address = input.to;
  }
  const ref = `${svc.metadata.namespace}/${svc.metadata.name}`;
  const sp =
    input.port === undefined
      ? svc.spec.ports.find((p) => p.protocol === 'TCP')
      : svc.spec.ports.find((p) => p.port === input.port && p.protocol === 'TCP');
  if (!sp) {
    const have = svc.spec.ports.map((p) => `${p.port}/${p.protocol}`).join(', ');
    throw new Error(
      `--port: service ${ref} has no TCP port${input.port === undefined ? '' : ` ${input.port}`} (its ports: ${have})`,
    );
  }
  const via = new Set(loadBalancerRoutes({ services: [svc], slices: input.slices, nodes: input.nodes }).get(address));
  const nodes = input.nodes.filter((n) => via.has(n.ip)).map((n) => n.name);
  const local = svc.spec.externalTrafficPolicy === 'Local';
  const candidates = endpointsOf(svc, sp, input.slices)
    .filter((e) => e.ready && (!local || (e.nodeName !== undefined && nodes.includes(e.nodeName))))
    .map((e) => `${e.ip}:${e.port}`);
  return { address, port: sp.port, service: ref, nodes, candidates };
}
