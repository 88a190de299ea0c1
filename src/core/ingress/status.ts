/**
 * Which Ingresses a controller serves, and the status it writes on each. Pure: the controller
 * (src/ingress/controller.ts) reads the cluster cache, calls these, and writes what differs.
 *
 * - Served: the Ingress's class (spec.ingressClassName, else the deprecated
 *   kubernetes.io/ingress.class annotation) names an IngressClass whose spec.controller is this
 *   controller's. An Ingress with no class is not served: the API server gives new Ingresses the
 *   default class at creation (see core/lab/apply-plan.ts), as ingress-nginx expects without
 *   --watch-ingress-without-class.
 * - status.loadBalancer.ingress: the addresses of the controller's own LoadBalancer Service.
 * - status.conditions[Configured] (weft's own, see objects.ts IngressStatus): True once the
 *   Ingress is in the running configuration; False with reason NginxRejected (nginx -t refused
 *   what it made: the last configuration nginx accepted for it stays in force) or Incomplete (a
 *   Service, port or Secret it names is missing, or its path is shadowed by another Ingress's).
 *   lastTransitionTime moves only when the status or reason does.
 * - An Ingress no longer served loses the status the controller wrote (see the controller).
 */

import type { Ingress, IngressClass, IngressStatus } from '../k8s/objects.js';
import { ingressClassOf } from '../k8s/printers.js';

export function servedIngresses(
  ingresses: readonly Ingress[],
  classes: readonly IngressClass[],
  controller: string,
): Ingress[] {
  const ours = new Set(classes.filter((c) => c.spec.controller === controller).map((c) => c.metadata.name));
  return ingresses.filter((i) => {
    const cls = ingressClassOf(i);
    return cls !== undefined && ours.has(cls);
  });
}

export type IngressVerdict =
  | { kind: 'configured' }
  | { kind: 'rejected'; message: string }
  | { kind: 'incomplete'; messages: string[] };

type Condition = NonNullable<IngressStatus['conditions']>[number];

function conditionOf(v: IngressVerdict): Omit<Condition, 'lastTransitionTime'> {
  switch (v.kind) {
    case 'configured':
      return {
        type: 'Configured',
        status: 'True',
        reason: 'Configured',
        message: 'in the running nginx configuration',
      };
    case 'rejected':
      return { type: 'Configured', status: 'False', reason: 'NginxRejected', message: v.message };
    case 'incomplete':
      return { type: 'Configured', status: 'False', reason: 'Incomplete', message: v.messages.join('; ') };
  }
}

/** The status the controller wants on an Ingress (the prior one's transition time kept when nothing flipped). */
export function desiredIngressStatus(
  prior: IngressStatus | undefined,
  addresses: readonly string[],
  verdict: IngressVerdict,
  now: string,
): IngressStatus {
  const c = conditionOf(verdict);
  const old = prior?.conditions?.find((x) => x.type === 'Configured');
  const same = old !== undefined && old.status === c.status && old.reason === c.reason;
  const lastTransitionTime = same ? old.lastTransitionTime : now;
  const ingress = [...addresses].sort().map((ip) => ({ ip }));
  return {
    loadBalancer: ingress.length > 0 ? { ingress } : {},
    conditions: [{ ...c, lastTransitionTime }],
  };
}
