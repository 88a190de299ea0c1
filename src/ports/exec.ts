/**
 * Exec: the port through which everything in weft runs another program (ip, nft, sysctl, a
 * delegated CNI plugin), either once (`Exec.run`) or as a long-lived child talked to over its
 * pipes (`SpawnChild`: the agent's `ip -batch` and `nft -i` sessions, the lab's helpers). The real
 * implementation is src/adapters/exec.ts, the only module in src/ that imports child_process,
 * so every process error has one shape: ExecError, with argv, exit code or signal, stderr and the
 * caller's context.
 */

import type { ExecError } from '../core/port-errors.js';

export interface ExecRequest {
  /** Program and arguments; never a shell string. */
  argv: readonly string[];
  /** Written to the program's stdin, then stdin is closed. */
  input?: string;
  /** The whole environment of the child; the parent's when omitted. */
  env?: Record<string, string>;
  /** Run inside the network namespace at this path (via nsenter --net=PATH). */
  netns?: string;
  /** What the caller was doing, prefixed to the error message ("add veth pair for c1"). */
  context?: string;
  /** Kill the child after this long (ms). */
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface Exec {
  /** Runs a program and resolves when it exits 0; rejects with an ExecError otherwise. */
  run(req: ExecRequest): Promise<ExecResult>;
  /** Runs a program and resolves with its exit status whatever it is (rejects only if it cannot start). */
  tryRun(req: ExecRequest): Promise<ExecResult>;
}

/** A long-lived child: argv, where it runs, and which of its pipes the caller reads or writes. */
export interface ChildRequest {
  /** Program and arguments; never a shell string. */
  argv: readonly string[];
  /** Run inside the network namespace at this path (via nsenter --net=PATH). */
  netns?: string;
  /** What the child is for ("ip batch session"), in every error about it. */
  context: string;
  /** The whole environment of the child; the parent's when omitted. */
  env?: Record<string, string>;
  /** Pipe stdin (write()); otherwise stdin is /dev/null. */
  stdin?: boolean;
  /** Pipe stdout (onStdout()); otherwise it is discarded. stderr is always piped and kept. */
  stdout?: boolean;
}

/** A running child process. Its stderr is kept (the last few KiB) for the error it ends with. */
export interface Child {
  /** The PID, or undefined when the program could not be started. */
  readonly pid: number | undefined;
  /** The argv as run (with the nsenter prefix when it runs in a namespace). */
  readonly argv: readonly string[];
  /** True until the child has exited. */
  readonly running: boolean;
  /** Writes to its stdin (ignored once it has exited; write errors show up as its exit). */
  write(text: string): void;
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  /**
   * Resolves (never rejects) once the child has exited and its pipes are drained, with the
   * ExecError that says how: exit code or signal, or why it could not start, and its stderr.
   */
  readonly exited: Promise<ExecError>;
  /** Sends a signal (SIGTERM by default; SIGHUP asks a daemon such as nginx to reload); nothing when it has exited. */
  kill(signal?: 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP'): void;
}

/** Starts a long-lived child. Never throws: a program that cannot start is a Child that has exited. */
export type SpawnChild = (req: ChildRequest) => Child;
