/**
 * Cells of `weft get services` and `weft get endpointslices` as kubectl prints them (kubectl's
 * printers for Service and EndpointSlice, pkg/printers/internalversion/printers.go):
 * - EXTERNAL-IP: ClusterIP and NodePort show spec.externalIPs or <none>; LoadBalancer shows its
 *   ingress addresses (sorted, deduplicated, cut to 13 characters and "..." past 16 unless -o
 *   wide) then spec.externalIPs, or <pending> when it has neither; ExternalName shows its name.
 * - PORT(S): port[:nodePort]/protocol, comma-separated; <none> for none.
 * - EndpointSlice PORTS and ENDPOINTS: the first three (a port without a number shows its name,
 *   or *), then " + N more..."; <unset> for none.
 * - Ingress CLASS, HOSTS (the first four, "*" for a rule without a host, then " + N more..."),
 *   ADDRESS (the load-balancer addresses) and PORTS ("80", or "80, 443" with tls), as kubectl's.
 */

import { INGRESS_CLASS_ANNOTATION, type EndpointSlice, type Ingress, type Service } from './objects.js';

/** kubectl's loadBalancerWidth. */
const LOAD_BALANCER_WIDTH = 16;

function loadBalancerText(s: Service, wide: boolean): string {
  const ingress = (s.status?.loadBalancer.ingress ?? []) as ReadonlyArray<{ ip?: string; hostname?: string }>;
  const names = [...new Set(ingress.map((i) => i.ip || i.hostname || '').filter((x) => x !== ''))].sort();
  const text = names.join(',');
  return !wide && text.length > LOAD_BALANCER_WIDTH ? `${text.slice(0, LOAD_BALANCER_WIDTH - 3)}...` : text;
}

export function serviceExternalIp(s: Service, wide: boolean): string {
  const external = s.spec.externalIPs ?? [];
  switch (s.spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return external.length > 0 ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerText(s, wide);
      const all = [...(lb === '' ? [] : lb.split(',')), ...external];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return s.spec.externalName ?? '';
  }
}

export function servicePorts(s: Service): string {
  const text = s.spec.ports
    .map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`))
    .join(',');
  return text === '' ? '<none>' : text;
}

/** kubectl's listWithMoreString over the first three items. */
function firstThree(items: readonly string[]): string {
  if (items.length === 0) return '<unset>';
  const shown = items.slice(0, 3).join(',');
  return items.length > 3 ? `${shown} + ${items.length - 3} more...` : shown;
}

export function sliceEndpointPorts(e: EndpointSlice): string {
  return firstThree(e.ports.map((p) => (p.port !== undefined ? String(p.port) : (p.name ?? '*'))));
}

export function sliceEndpoints(e: EndpointSlice): string {
  return firstThree(e.endpoints.flatMap((ep) => ep.addresses));
}

/** The Ingress's class: spec.ingressClassName, else the deprecated annotation. */
export function ingressClassOf(i: Ingress): string | undefined {
  return i.spec.ingressClassName ?? i.metadata.annotations[INGRESS_CLASS_ANNOTATION];
}

export function ingressHosts(i: Ingress): string {
  const hosts = i.spec.rules.map((r) => r.host ?? '*');
  if (hosts.length === 0) return '*';
  const shown = hosts.slice(0, 4).join(',');
  return hosts.length > 4 ? `${shown} + ${hosts.length - 4} more...` : shown;
}

export function ingressAddress(i: Ingress): string {
  return (i.status?.loadBalancer.ingress ?? []).map((x) => x.ip).join(',');
}

export function ingressPorts(i: Ingress): string {
  return i.spec.tls.length > 0 ? '80, 443' : '80';
}
