/**
 * When the lab's kubelet runs a pod's readiness probes and what their results make of the pod's
 * Ready condition: pure, driven by the times its caller passes (the pod runner's clock), so the
 * runner only executes probes and writes the status when `ready` changes.
 *
 * Kubernetes' meanings (kubelet's prober worker, pkg/kubelet/prober/worker.go):
 * - A container's readiness starts False (unless the caller knows it was Ready, see below) and the
 *   first probe runs initialDelaySeconds after the container started, then one every
 *   periodSeconds. A probe that takes longer than the period delays the next one (the worker
 *   probes one at a time, and its ticker drops the ticks it missed).
 * - The result flips only after a run of the same result: successThreshold successes in a row make
 *   it Ready, failureThreshold failures in a row make it not Ready; anything shorter keeps it.
 * - The pod is Ready when every container is; a container without a readiness probe is Ready
 *   once running (so a pod without probes is Ready once Running).
 *
 * Starting Ready: a pod runner that restarts finds its pods running and their stored Ready
 * condition; starting from it (instead of False) keeps a runner restart from flapping every
 * endpoint of the node, as a kubelet restart does not make running pods unready either.
 */

import type { Probe } from '../k8s/objects.js';

export type ProbeTiming = Pick<
  Probe,
  'initialDelaySeconds' | 'periodSeconds' | 'successThreshold' | 'failureThreshold'
>;

/** One container's probe: its timing, result run and whether a probe of it is running now. */
export interface ContainerProbeState {
  readonly timing: ProbeTiming;
  ready: boolean;
  /** The last result and how many times in a row it came (kubelet's lastResult/resultRun). */
  last: boolean | undefined;
  run: number;
  /** When the next probe is due (ms since the epoch). */
  nextAt: number;
  running: boolean;
}

/** The state of one container's readiness probe started at `startedAt` (ms). */
export function startProbe(timing: ProbeTiming, startedAt: number, ready = false): ContainerProbeState {
  return {
    timing,
    ready,
    last: undefined,
    run: 0,
    nextAt: startedAt + timing.initialDelaySeconds * 1000,
    running: false,
  };
}

/** A probe result: the run it extends, and readiness once the run reaches its threshold. */
export function recordResult(s: ContainerProbeState, ok: boolean): ContainerProbeState {
  const run = s.last === ok ? s.run + 1 : 1;
  const threshold = ok ? s.timing.successThreshold : s.timing.failureThreshold;
  return { ...s, last: ok, run, ready: run >= threshold ? ok : s.ready, running: false };
}

/**
 * The probes of one pod, by container name. begin() marks a probe as started (the caller runs
 * it), finish() records its result; `ready` is the pod's readiness and nextWakeAt() when the
 * caller should look again.
 */
export class PodReadiness {
  private readonly probes = new Map<string, ContainerProbeState>();

  constructor(probes: ReadonlyArray<{ container: string; timing: ProbeTiming }>, startedAt: number, ready = false) {
    for (const p of probes) this.probes.set(p.container, startProbe(p.timing, startedAt, ready));
  }

  /** Every container Ready (true for a pod without readiness probes). */
  get ready(): boolean {
    return [...this.probes.values()].every((s) => s.ready);
  }

  /** The containers whose probe is due at `now` and not running. */
  due(now: number): string[] {
    return [...this.probes].filter(([, s]) => !s.running && now >= s.nextAt).map(([c]) => c);
  }

  /** A probe of `container` starts at `now`: the next one is due a period later, or when this one ends. */
  begin(container: string, now: number): void {
    const s = this.probes.get(container);
    if (!s) return;
    this.probes.set(container, { ...s, running: true, nextAt: now + s.timing.periodSeconds * 1000 });
  }

  /** Records the result of the running probe of `container`; true when the pod's readiness changed. */
  finish(container: string, ok: boolean): boolean {
    const s = this.probes.get(container);
    if (!s) return false;
    const before = this.ready;
    this.probes.set(container, recordResult(s, ok));
    return this.ready !== before;
  }

  /** The earliest time a probe that is not running is due; undefined when every probe is running (or none exist). */
  nextWakeAt(): number | undefined {
    let at: number | undefined;
    for (const s of this.probes.values()) if (!s.running && (at === undefined || s.nextAt < at)) at = s.nextAt;
    return at;
  }
}
