/**
 * Reading and writing `Pod.status` the way Kubernetes consumers and kubelets do: what address a
 * pod is reachable at (only a Running pod with a podIP is, which is what kube-proxy and the
 * NetworkPolicy implementations use), and the status a node reports for each step of its pod.
 * Pure; the writer (the lab's pod runner) passes the time.
 */

import type { Pod, PodCondition, PodPhase, PodStatus } from './objects.js';

/** The pod's Ready condition is True (a Running pod whose readiness probes, if any, pass). */
export function isPodReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The pod's IP when it is Running and has one; undefined otherwise. */
export function runningPodIP(pod: Pod): string | undefined {
  return pod.status?.phase === 'Running' ? pod.status.podIP : undefined;
}

/**
 * The status a node reports: PodScheduled always, Ready when Running and `ready` (what the
 * readiness probes say; true when omitted, as for a pod without probes). These are kubelet's two
 * conditions weft keeps.
 */
export function nodePodStatus(s: {
  phase: PodPhase;
  message?: string;
  podIP?: string;
  hostIP?: string;
  startTime?: string;
  ready?: boolean;
}): PodStatus {
  const ready = s.phase === 'Running' && s.ready !== false;
  const conditions: PodCondition[] = [
    { type: 'PodScheduled', status: 'True' },
    {
      type: 'Ready',
      status: ready ? 'True' : 'False',
      ...(ready ? {} : { reason: s.phase === 'Failed' ? 'PodFailed' : 'ContainersNotReady' }),
    },
  ];
  return {
    phase: s.phase,
    ...(s.message !== undefined ? { message: s.message } : {}),
    ...(s.hostIP !== undefined ? { hostIP: s.hostIP } : {}),
    ...(s.podIP !== undefined ? { podIP: s.podIP, podIPs: [{ ip: s.podIP }] } : {}),
    conditions,
    ...(s.startTime !== undefined ? { startTime: s.startTime } : {}),
  };
}
