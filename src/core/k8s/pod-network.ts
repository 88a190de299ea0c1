/**
 * A pod's kind of network, as Docker's `--network` modes name them: `pod` (the default: its own
 * namespace wired by CNI ADD), `host` (spec.hostNetwork: the node's namespace) and `none` (the
 * annotation `weft.dev/network: none`: a namespace of its own with only `lo`, no CNI ADD, no
 * address; `docker run --network=none`). Kubernetes has no field for the last, so weft reads an
 * annotation of its own, and refuses any other value of it rather than ignore it.
 */

import type { Pod } from './objects.js';

export const POD_NETWORK_ANNOTATION = 'weft.dev/network';

export type PodNetworkMode = 'pod' | 'host' | 'none';

/** Why a pod's network annotation cannot be acted on (path under the pod, reason), or [] when it can. */
export function podNetworkProblems(
  annotations: Readonly<Record<string, string>> | undefined,
  hostNetwork: boolean | undefined | null,
): Array<{ path: (string | number)[]; reason: string }> {
  const value = annotations?.[POD_NETWORK_ANNOTATION];
  if (value === undefined) return [];
  const path = ['metadata', 'annotations', POD_NETWORK_ANNOTATION];
  if (value !== 'none') return [{ path, reason: `must be "none" (the only network mode weft knows), not "${value}"` }];
  if (hostNetwork === true)
    return [{ path: ['spec', 'hostNetwork'], reason: `must not be true when ${POD_NETWORK_ANNOTATION} is "none"` }];
  return [];
}

export function podNetworkMode(pod: Pick<Pod, 'metadata' | 'spec'>): PodNetworkMode {
  if (pod.spec.hostNetwork) return 'host';
  return pod.metadata.annotations?.[POD_NETWORK_ANNOTATION] === 'none' ? 'none' : 'pod';
}

/** What a probe or trace says about a pod with no network. */
export function noNetworkReason(pod: Pick<Pod, 'metadata'>): string {
  return `pod ${pod.metadata.namespace}/${pod.metadata.name} has no network (${POD_NETWORK_ANNOTATION}: none): only lo, no address`;
}
