/**
 * Exec: the port through which everything in weft runs another program (ip, nft, sysctl, a
 * delegated CNI plugin). The real implementation is src/adapters/exec.ts, the only module that
 * imports child_process.
 */

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

/** A program that failed: carries argv, exit code, signal, stderr and the caller's context. */
export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
    readonly context: string | undefined,
    options?: { cause?: unknown },
  ) {
    const what = context ? `${context}: ` : '';
    const how = signal ? `killed by ${signal}` : `exit code ${exitCode}`;
    const why = stderr.trim() || stdout.trim();
    super(`${what}${argv.join(' ')}: ${how}${why ? `: ${why}` : ''}`, options);
  }
}
