/**
 * Reading and writing `Pod.status` the way Kubernetes consumers and kubelets do: what address a
 * pod is reachable at (only a Running pod with a podIP is, which is what kube-proxy and the
 * NetworkPolicy implementations use), and the status a node reports for each step of its pod.
 * Pure; the writer (the lab's pod runner) passes the time.
 */

import type { ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from './objects.js';

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
  containerStatuses?: ContainerStatus[];
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
    ...(s.containerStatuses !== undefined ? { containerStatuses: s.containerStatuses } : {}),
  };
}

/**
 * The STATUS column of `kubectl get pods` (printPod in kubectl's printers): Terminating while being
 * deleted; else the reason of the last container that is not running (a waiting reason such as
 * CrashLoopBackOff, a terminated one such as Completed or Error, or Signal:N / ExitCode:N); else
 * the phase.
 */
export function podStatusReason(pod: Pod): string {
  if (pod.metadata.deletionTimestamp !== undefined) return 'Terminating';
  let reason: string = pod.status?.phase ?? 'Pending';
  for (const c of pod.status?.containerStatuses ?? []) {
    const w = c.state.waiting;
    const t = c.state.terminated;
    if (w?.reason) reason = w.reason;
    else if (t) {
      if (t.reason) reason = t.reason;
      else reason = t.signal !== undefined ? `Signal:${t.signal}` : `ExitCode:${t.exitCode}`;
    }
  }
  return reason;
}

/** The RESTARTS column: the sum of the containers' restart counts. */
export function podRestarts(pod: Pod): number {
  return (pod.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
}
