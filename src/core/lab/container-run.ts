/**
 * The life of one container's program in the lab's kubelet, as pure state transitions: when a
 * program that exited is started again (restartPolicy), after how long (kubelet's crash back-off),
 * and what the container's and the pod's status say meanwhile. The pod runner (src/lab/pod-runner.ts)
 * starts and reaps the processes and passes the times; everything it decides comes from here.
 *
 * Kubernetes' meanings:
 * - restartPolicy (pod level): Always restarts every exit, OnFailure only a non-zero exit, Never
 *   none (pkg/kubelet/container/helpers.go ShouldContainerBeRestarted).
 * - Back-off (pkg/kubelet/kuberuntime, flowcontrol.Backoff with kubelet's constants): a restart waits
 *   10 s, doubling on each further crash up to 5 min; a program that ran 10 min before it exited
 *   starts again from 10 s. While it waits the container is `waiting` with reason CrashLoopBackOff.
 * - A program that exited is `terminated` with its exit code and reason Completed (0) or Error
 *   (anything else, including a signal: exit code 128 + signal number, as container runtimes report).
 * - The pod is Running while any container runs or will run again; once none will, Succeeded when
 *   every container's last exit was 0, Failed otherwise (kubelet's getPhase).
 */

import type { ContainerState, ContainerStatus, PodPhase, RestartPolicy } from '../k8s/objects.js';

/** The back-off of restarts: first delay, ceiling, and how long a run must last to start over. */
export interface BackoffConfig {
  baseMs: number;
  maxMs: number;
  resetAfterMs: number;
}

/** kubelet's constants (initial 10 s, MaxContainerBackOff 300 s, reset after 2 x max = 10 min). */
export const KUBELET_BACKOFF: BackoffConfig = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/** A back-off with another first delay (the runner's WEFT_LAB_BACKOFF_MS, for tests): ceiling 30x, reset 60x. */
export function backoffWithBase(baseMs: number): BackoffConfig {
  return { baseMs, maxMs: baseMs * 30, resetAfterMs: baseMs * 60 };
}

/** How a program ended: its exit code, or the signal that killed it. */
export interface ProgramExit {
  exitCode: number | null;
  signal: number | null;
}

export interface Terminated {
  exitCode: number;
  signal?: number;
  reason: 'Completed' | 'Error';
  startedAt: number;
  finishedAt: number;
}

export type ProgramPhase =
  | { kind: 'running'; startedAt: number }
  | { kind: 'waiting'; reason: 'ContainerCreating' | 'CrashLoopBackOff'; restartAt?: number; message?: string }
  | ({ kind: 'terminated' } & Terminated);

/** One container's program as the kubelet tracks it (times in ms since the epoch). */
export interface ProgramState {
  restartCount: number;
  /** The delay before the last restart (0 before any crash). */
  backoffMs: number;
  phase: ProgramPhase;
  /** The run before the current one (kubelet's lastState). */
  last?: Terminated;
  /** Whether it has ever started (a first start is not a restart). */
  everStarted: boolean;
}

/** A container whose program has not started yet. */
export function newProgram(): ProgramState {
  return { restartCount: 0, backoffMs: 0, phase: { kind: 'waiting', reason: 'ContainerCreating' }, everStarted: false };
}

/**
 * A program as a restarted runner takes it back from the container's stored status: one that had
 * ended for good stays terminated (it is not run again); any other was started before, so its
 * next start is a restart.
 */
export function programFromStatus(status: ContainerStatus): ProgramState {
  const t = status.state.terminated;
  const base: ProgramState = { ...newProgram(), restartCount: status.restartCount, everStarted: true };
  if (!t) return base;
  const ms = (iso: string | undefined, fallback: number) => {
    const v = iso === undefined ? Number.NaN : Date.parse(iso);
    return Number.isNaN(v) ? fallback : v;
  };
  const finishedAt = ms(t.finishedAt, 0);
  return {
    ...base,
    phase: {
      kind: 'terminated',
      exitCode: t.exitCode,
      ...(t.signal === undefined ? {} : { signal: t.signal }),
      reason: t.exitCode === 0 ? 'Completed' : 'Error',
      startedAt: ms(t.startedAt, finishedAt),
      finishedAt,
    },
  };
}

/** kubelet's ShouldContainerBeRestarted for a program that exited with `exitCode`. */
export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exitCode !== 0;
  return false;
}

/** The delay before the next restart of a program that ran `ranMs` after a previous delay of `prevMs`. */
export function nextBackoff(prevMs: number, ranMs: number, cfg: BackoffConfig): number {
  if (prevMs === 0 || ranMs >= cfg.resetAfterMs) return cfg.baseMs;
  return Math.min(prevMs * 2, cfg.maxMs);
}

/** The program (re)started at `now`: running, and a restart when it had run before. */
export function programStarted(s: ProgramState, now: number): ProgramState {
  return {
    ...s,
    restartCount: s.everStarted ? s.restartCount + 1 : s.restartCount,
    everStarted: true,
    phase: { kind: 'running', startedAt: now },
  };
}

/** The exit code a runtime reports: the program's own, or 128 + the signal that killed it. */
export function exitCodeOf(exit: ProgramExit): number {
  if (exit.exitCode !== null) return exit.exitCode;
  return 128 + (exit.signal ?? 0);
}

/**
 * The program exited at `now`: waiting in CrashLoopBackOff until `restartAt` when the policy
 * restarts it, terminated for good otherwise.
 */
export function programExited(
  s: ProgramState,
  exit: ProgramExit,
  now: number,
  policy: RestartPolicy,
  cfg: BackoffConfig,
): ProgramState {
  const startedAt = s.phase.kind === 'running' ? s.phase.startedAt : now;
  const exitCode = exitCodeOf(exit);
  const term: Terminated = {
    exitCode,
    ...(exit.signal !== null && exit.exitCode === null ? { signal: exit.signal } : {}),
    reason: exitCode === 0 ? 'Completed' : 'Error',
    startedAt,
    finishedAt: now,
  };
  if (!shouldRestart(policy, exitCode)) return { ...s, phase: { kind: 'terminated', ...term } };
  const backoffMs = nextBackoff(s.backoffMs, now - startedAt, cfg);
  return {
    ...s,
    backoffMs,
    last: term,
    phase: {
      kind: 'waiting',
      reason: 'CrashLoopBackOff',
      restartAt: now + backoffMs,
      message: `back-off ${Math.round(backoffMs / 1000)}s restarting failed container`,
    },
  };
}

/** The program could not be started at all (no such file…): a failed run of zero length. */
export function programFailedToStart(
  s: ProgramState,
  message: string,
  now: number,
  policy: RestartPolicy,
  cfg: BackoffConfig,
): ProgramState {
  const next = programExited(
    { ...s, phase: { kind: 'running', startedAt: now } },
    { exitCode: 128, signal: null },
    now,
    policy,
    cfg,
  );
  const counted = { ...next, everStarted: true, restartCount: s.everStarted ? s.restartCount + 1 : s.restartCount };
  if (counted.phase.kind === 'waiting') return { ...counted, phase: { ...counted.phase, message } };
  return counted;
}

/** A restart is due: the program waits in back-off and its time has come. */
export function restartDue(s: ProgramState, now: number): boolean {
  return s.phase.kind === 'waiting' && s.phase.restartAt !== undefined && now >= s.phase.restartAt;
}

const iso = (ms: number) => new Date(ms).toISOString();

function terminatedState(t: Terminated): ContainerState {
  return {
    terminated: {
      exitCode: t.exitCode,
      ...(t.signal === undefined ? {} : { signal: t.signal }),
      reason: t.reason,
      startedAt: iso(t.startedAt),
      finishedAt: iso(t.finishedAt),
    },
  };
}

/** core/v1 ContainerStatus of a program container; `ready` is what its readiness probe says. */
export function programStatus(name: string, s: ProgramState, ready: boolean, image?: string): ContainerStatus {
  const p = s.phase;
  const state: ContainerState =
    p.kind === 'running'
      ? { running: { startedAt: iso(p.startedAt) } }
      : p.kind === 'waiting'
        ? { waiting: { reason: p.reason, ...(p.message === undefined ? {} : { message: p.message }) } }
        : terminatedState(p);
  return {
    name,
    ready: p.kind === 'running' && ready,
    started: p.kind === 'running',
    restartCount: s.restartCount,
    state,
    ...(s.last ? { lastState: terminatedState(s.last) } : {}),
    ...(image === undefined ? {} : { image }),
  };
}

/**
 * The pod's phase from its programs (containers without a program run for as long as the pod:
 * pass them as running): Running while any runs or waits to run again; then Succeeded when every
 * last exit was 0, Failed otherwise.
 */
export function podPhaseOf(programs: readonly ProgramState[]): PodPhase {
  if (programs.some((s) => s.phase.kind !== 'terminated')) return 'Running';
  return programs.every((s) => s.phase.kind === 'terminated' && s.phase.exitCode === 0) ? 'Succeeded' : 'Failed';
}
