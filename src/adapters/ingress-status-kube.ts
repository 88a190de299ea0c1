/**
 * Ingress status through the Kubernetes API (`weft ingress --cluster kube --write-status`): the
 * status subresource, at the resourceVersion just read, so a user's change in between is a 409 and
 * the controller writes again on its next sync.
 *
 * The API's IngressStatus has only `loadBalancer`: weft's own Configured condition (see
 * src/core/ingress/status.ts) cannot be kept there, so only the addresses are written, and only
 * when they differ from what the API server has.
 */

import { canonicalJsonText } from '../core/canonical-json.js';
import type { Ingress } from '../core/k8s/objects.js';
import { KubeApiError, resourceOf, type KubeClient, type KubeObject } from './kube-api.js';

export function kubeIngressStatusWriter(
  client: () => Promise<KubeClient>,
): (ing: Ingress, status: Ingress['status'] | undefined) => Promise<boolean> {
  const resource = resourceOf('Ingress');
  return async (ing, status) => {
    const want = status?.loadBalancer ?? {};
    if (canonicalJsonText(ing.status?.loadBalancer ?? {}) === canonicalJsonText(want)) return true;
    const c = await client();
    try {
      const current = await c.get<KubeObject & { status?: Record<string, unknown> }>(
        resource,
        ing.metadata.name,
        ing.metadata.namespace,
      );
      if (canonicalJsonText(current.status?.loadBalancer ?? {}) === canonicalJsonText(want)) return true;
      await c.updateStatus(resource, { ...current, status: { ...current.status, loadBalancer: want } });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return true; // deleted meanwhile
      if (err instanceof KubeApiError && err.code === 409) return false;
      throw err;
    }
  };
}
