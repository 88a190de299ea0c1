/**
 * The programs of one pod, for the lab's kubelet (./pod-runner.ts): each container with a
 * `command` runs `command + args` as a real process inside the pod's network namespace (the host's
 * file system: the image is not used), with its stdout and stderr appended to the container's log
 * file, restarted per the pod's restartPolicy with kubelet's back-off (the decisions are pure, in
 * core/lab/container-run.ts), and stopped with SIGTERM then SIGKILL to its whole process group.
 *
 * Logs: one file per container (`<logDir>/<container>.log`, read by `weft logs`). The program
 * writes to it directly (so it keeps writing while a runner restarts); beyond LOG_LIMIT bytes the
 * runner copies it to `<container>.log.1` and truncates it, as logrotate's copytruncate does (the
 * program's descriptor is O_APPEND, so it goes on at the new end; a line written between the copy
 * and the truncation can be lost).
 */

import { copyFileSync, mkdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, ContainerStatus, PodPhase, RestartPolicy } from '../core/k8s/objects.js';
import {
  newProgram,
  podPhaseOf,
  programFromStatus,
  programExited,
  programFailedToStart,
  programStarted,
  programStatus,
  type BackoffConfig,
  type ProgramState,
} from '../core/lab/container-run.js';
import { spawnProgram, type ProgramEnd } from '../adapters/exec.js';
import { processStartTime, signalGroup } from '../adapters/proc.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProgramRecord } from '../ports/sandbox-store.js';

/** A container's log is rotated beyond this size. */
export const LOG_LIMIT = 10 * 1024 * 1024;

/** The environment every program gets before its own env (what a container runtime sets). */
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Whether the container runs a program (otherwise the runner serves its ports itself). */
export function runsProgram(c: Container): boolean {
  return (c.command ?? []).length > 0;
}

/** The log file of a container of the pod whose log directory is `logDir`. */
export function containerLogPath(logDir: string, container: string): string {
  return join(logDir, `${container}.log`);
}

export interface PodProgramsOptions {
  /** namespace/name, for logs and errors. */
  key: string;
  podName: string;
  containers: readonly Container[];
  restartPolicy: RestartPolicy;
  /** The pod's named network namespace (undefined for a hostNetwork pod: the node's). */
  netnsName: string | undefined;
  /** A hostNetwork pod's own mount namespace (its resolv.conf; see adapters/mount-ns.ts), if it has one. */
  mountNs?: string;
  logDir: string;
  backoff: BackoffConfig;
  clock: Clock;
  log: Logger;
  /** The stored container statuses of a pod a restarted runner takes back (see programFromStatus). */
  recovered?: readonly ContainerStatus[];
  /** A program started again after it had run (kubelet resets the container's readiness then). */
  onRestart?: () => void;
  /** Something in the programs' states changed: the owner writes the pod's status. */
  onChange: () => void;
  /** The running processes changed: the owner records them (see SandboxRecord.programs). */
  onRecords: (records: ProgramRecord[]) => void;
}

interface Program {
  container: Container;
  state: ProgramState;
  pid?: number;
  startTime?: number;
  ended?: Promise<ProgramEnd>;
  timer?: TimerHandle;
}

export class PodPrograms {
  private readonly programs = new Map<string, Program>();
  private stopping = false;

  constructor(private readonly o: PodProgramsOptions) {
    for (const c of o.containers) {
      if (!runsProgram(c)) continue;
      const stored = o.recovered?.find((st) => st.name === c.name);
      this.programs.set(c.name, { container: c, state: stored ? programFromStatus(stored) : newProgram() });
    }
  }

  /**
   * Starts every program. `fresh` (a new pod, not one a restarted runner took back) empties the
   * logs a previous pod of the same name left.
   */
  start(fresh: boolean): void {
    mkdirSync(this.o.logDir, { recursive: true });
    for (const p of this.programs.values()) {
      if (fresh) rmSync(containerLogPath(this.o.logDir, p.container.name), { force: true });
      // A recovered program that had ended for good is not run again.
      if (p.state.phase.kind !== 'terminated') this.launch(p);
    }
  }

  /** Every program is running now (a pod is Ready only then). */
  get allRunning(): boolean {
    return [...this.programs.values()].every((p) => p.state.phase.kind === 'running');
  }

  /** The pod's phase: Running while any program runs or will run again (containers without one run always). */
  phase(): PodPhase {
    const states = [...this.programs.values()].map((p) => p.state);
    const serving = this.o.containers.some((c) => !runsProgram(c));
    return serving ? 'Running' : podPhaseOf(states);
  }

  /** One status per container, in spec order; a container without a program runs since `startedAt`. */
  statuses(ready: boolean, startedAt: number): ContainerStatus[] {
    return this.o.containers.map((c) => {
      const p = this.programs.get(c.name);
      const state = p?.state ?? programStarted(newProgram(), startedAt);
      return programStatus(c.name, state, ready, c.image);
    });
  }

  records(): ProgramRecord[] {
    return [...this.programs.values()].flatMap((p) =>
      p.pid !== undefined && p.startTime !== undefined && p.state.phase.kind === 'running'
        ? [{ container: p.container.name, pid: p.pid, startTime: p.startTime }]
        : [],
    );
  }

  private launch(p: Program): void {
    if (this.stopping) return;
    const c = p.container;
    const logFile = containerLogPath(this.o.logDir, c.name);
    this.rotate(logFile);
    const env: Record<string, string> = { PATH: BASE_PATH, HOSTNAME: this.o.podName, HOME: '/root' };
    for (const e of c.env ?? []) env[e.name] = e.value;
    const now = this.o.clock.now();
    const started = spawnProgram({
      argv: [...(c.command ?? []), ...(c.args ?? [])],
      ...(this.o.netnsName === undefined ? {} : { netnsName: this.o.netnsName }),
      ...(this.o.mountNs === undefined ? {} : { mountNs: this.o.mountNs }),
      logFile,
      env,
      cwd: c.workingDir ?? '/',
      context: `program of ${this.o.key} container ${c.name}`,
    });
    p.pid = started.pid;
    p.startTime = started.pid === undefined ? undefined : processStartTime(started.pid);
    p.ended = started.ended;
    const restart = p.state.everStarted;
    p.state = programStarted(p.state, now);
    if (restart) this.o.onRestart?.();
    this.o.log.info('program started', { pod: this.o.key, container: c.name, pid: started.pid });
    this.o.onRecords(this.records());
    this.o.onChange();
    void started.ended.then((end) => this.exited(p, end));
  }

  private exited(p: Program, end: ProgramEnd): void {
    const now = this.o.clock.now();
    p.pid = undefined;
    p.startTime = undefined;
    if (end.startError !== undefined) {
      this.o.log.warn('program did not start', { pod: this.o.key, container: p.container.name, error: end.startError });
      p.state = programFailedToStart(p.state, end.startError, now, this.o.restartPolicy, this.o.backoff);
    } else {
      this.o.log.info('program exited', {
        pod: this.o.key,
        container: p.container.name,
        exitCode: end.exitCode,
        signal: end.signal,
      });
      p.state = programExited(p.state, end, now, this.o.restartPolicy, this.o.backoff);
    }
    if (this.stopping) return;
    this.o.onRecords(this.records());
    this.o.onChange();
    const phase = p.state.phase;
    if (phase.kind === 'waiting' && phase.restartAt !== undefined) {
      p.timer = this.o.clock.setTimeout(
        () => {
          p.timer = undefined;
          this.launch(p);
        },
        Math.max(0, phase.restartAt - now),
      );
    }
  }

  /** copytruncate beyond LOG_LIMIT (see the file comment); a missing file is nothing to rotate. */
  private rotate(logFile: string): void {
    let size: number;
    try {
      size = statSync(logFile).size;
    } catch {
      return;
    }
    if (size <= LOG_LIMIT) return;
    copyFileSync(logFile, `${logFile}.1`);
    truncateSync(logFile, 0);
  }

  /** Rotates every container's log that grew beyond the limit (called on the runner's resync). */
  rotateLogs(): void {
    for (const p of this.programs.values()) {
      try {
        this.rotate(containerLogPath(this.o.logDir, p.container.name));
      } catch (err) {
        this.o.log.warn('cannot rotate a container log', { pod: this.o.key, error: (err as Error).message });
      }
    }
  }

  /**
   * The runner is stopping (SIGTERM): nothing is started again, the running programs are left
   * running (as containers outlive kubelet; the next runner takes them back). Without this, a
   * program that `lab down` killed at the same moment as the runner could be restarted by it.
   */
  freeze(): void {
    this.stopping = true;
    for (const p of this.programs.values()) {
      p.timer?.cancel();
      p.timer = undefined;
    }
  }

  /** terminate() was called: the programs had their SIGTERM. */
  get terminating(): boolean {
    return this.stopping;
  }

  /** Stops restarting and sends SIGTERM to every running program's group (a graceful deletion began). */
  terminate(): void {
    // Once: the runner's every sync of a terminating pod calls this, and kubelet signals once.
    if (this.stopping) return;
    this.stopping = true;
    for (const p of this.programs.values()) {
      p.timer?.cancel();
      p.timer = undefined;
      if (p.pid !== undefined) signalGroup(p.pid, 'SIGTERM');
    }
  }

  /**
   * Stops every program: SIGTERM to its process group, SIGKILL to the group after `graceMs` if it
   * has not exited, and waits for the exit. Nothing restarts afterwards.
   */
  async stop(graceMs: number): Promise<void> {
    // SIGTERM unless terminate() already sent it; a program started since cannot exist (nothing restarts once stopping).
    this.terminate();
    await Promise.all(
      [...this.programs.values()].map(async (p) => {
        const pid = p.pid;
        if (pid === undefined || !p.ended) return;
        let timer: TimerHandle | undefined;
        const killed = new Promise<void>((resolve) => {
          timer = this.o.clock.setTimeout(() => {
            signalGroup(pid, 'SIGKILL');
            resolve();
          }, graceMs);
        });
        await Promise.race([p.ended, killed]);
        timer?.cancel();
        // The program itself has gone; anything it left in its group goes too.
        signalGroup(pid, 'SIGKILL');
        await p.ended;
      }),
    );
  }
}
