/**
 * How the tools for people (`weft probe --to`, `weft explain FROM service/...`) name a Service and
 * one of its ports: `service/NAMESPACE/NAME`, and a port given by number or by name (the Service's
 * first port when none is given), with clear refusals for what has no VIP to connect to
 * (headless and ExternalName Services) and for ports the Service does not have.
 */

import type { Protocol, Service, ServicePort } from '../k8s/objects.js';
import { hasVip } from './service-table.js';

export interface ServiceRef {
  namespace: string;
  name: string;
}

/** `service/NS/NAME` (also `svc/` and `services/`, as kubectl's resource names). */
export function parseServiceRef(text: string, arg: string): ServiceRef {
  const m = /^(?:service|services|svc)\/([^/]+)\/([^/]+)$/.exec(text);
  if (!m) throw new Error(`${arg}: "${text}" is not service/NAMESPACE/NAME`);
  return { namespace: m[1]!, name: m[2]! };
}

export const serviceRefText = (r: ServiceRef) => `${r.namespace}/${r.name}`;

const portText = (p: ServicePort) => `${p.port}/${p.protocol}${p.name ? ` (${p.name})` : ''}`;

/**
 * The Service named, which must have a VIP. `arg` names the argument in errors (--to, TO).
 */
export function findVipService(
  services: readonly Service[],
  ref: ServiceRef,
  arg: string,
): Service & { spec: { clusterIP: string } } {
  const s = services.find((x) => x.metadata.namespace === ref.namespace && x.metadata.name === ref.name);
  const text = serviceRefText(ref);
  if (!s) throw new Error(`${arg}: service "${text}" not found`);
  if (s.spec.type === 'ExternalName')
    throw new Error(
      `${arg}: service "${text}" is of type ExternalName (a DNS alias of ${s.spec.externalName ?? '?'}): it has no cluster IP to connect to`,
    );
  if (s.spec.clusterIP === 'None')
    throw new Error(
      `${arg}: service "${text}" is headless (clusterIP: None): it has no cluster IP to connect to; reach its pods directly`,
    );
  if (!hasVip(s)) throw new Error(`${arg}: service "${text}" has no cluster IP yet`);
  if (s.spec.ports.length === 0) throw new Error(`${arg}: service "${text}" has no ports`);
  return s;
}

/**
 * The Service port a `--port` (a number or a port name; undefined: the first port) and an
 * optional `--protocol` pick.
 */
export function resolveServicePort(
  s: Service,
  portArg: string | undefined,
  protocol: Protocol | undefined,
  arg = '--port',
): ServicePort {
  const text = `${s.metadata.namespace}/${s.metadata.name}`;
  const ports = s.spec.ports.filter((p) => protocol === undefined || p.protocol === protocol);
  const all = s.spec.ports.map(portText).join(', ');
  if (portArg === undefined) {
    if (ports.length === 0)
      throw new Error(`--protocol: service "${text}" has no ${protocol} port (its ports: ${all})`);
    return ports[0]!;
  }
  const found = /^\d+$/.test(portArg)
    ? ports.find((p) => p.port === Number(portArg))
    : ports.find((p) => p.name === portArg);
  if (!found)
    throw new Error(
      `${arg}: service "${text}" has no ${protocol === undefined ? '' : `${protocol} `}port ${/^\d+$/.test(portArg) ? portArg : `named "${portArg}"`} (its ports: ${all})`,
    );
  return found;
}
