/**
 * The one module in src/ that imports child_process: every program weft runs goes through here,
 * once (NodeExec), attached to the terminal (runAttached), as a long-lived child talked to over
 * its pipes (spawnChild: the `ip -batch` and `nft -i` sessions, the lab's port servers), or
 * detached (spawnDetached: the lab's agents, pod runners and etcd). Always an argv array, never
 * a shell; a namespace is entered with one helper (inNetns); and every failure is an ExecError
 * carrying argv, exit code or signal, stderr and the caller's context (as zx's ProcessOutput does).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { type Child, type ChildRequest, type Exec, type ExecRequest, type ExecResult } from '../ports/exec.js';
import { ExecError } from '../core/port-errors.js';

/** How much of a long-lived child's stderr is kept for its exit error. */
const STDERR_TAIL = 4096;

/**
 * The argv that runs `argv` inside the network namespace at `netns` (a path such as
 * /var/run/netns/x), or `argv` itself without one. nsenter from util-linux enters a namespace by
 * path, which `ip -n` cannot; `--` keeps the program's own flags away from nsenter.
 */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns ? ['nsenter', `--net=${netns}`, '--', ...argv] : [...argv];
}

function spawnOnce(req: ExecRequest): Promise<ExecResult & { signal: string | null }> {
  const argv = inNetns(req.netns, req.argv);
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    if (!program) {
      reject(new ExecError(argv, null, null, '', 'empty argv', req.context));
      return;
    }
    const child = spawn(program, args, {
      env: req.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: req.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      reject(new ExecError(argv, null, null, '', e.message, req.context, { cause: e }));
    });
    child.on('close', (code, signal) => {
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode: code ?? -1,
        signal,
      });
    });
    // A child that exits before reading stdin makes the write fail with EPIPE; its exit status
    // tells the real story, so the write error is deliberately not reported on its own.
    child.stdin.on('error', () => undefined);
    child.stdin.end(req.input ?? '');
  });
}

export class NodeExec implements Exec {
  async run(req: ExecRequest): Promise<ExecResult> {
    const r = await spawnOnce(req);
    if (r.exitCode !== 0 || r.signal) {
      throw new ExecError(
        inNetns(req.netns, req.argv),
        r.signal ? null : r.exitCode,
        r.signal,
        r.stdout,
        r.stderr,
        req.context,
      );
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: 0 };
  }

  async tryRun(req: ExecRequest): Promise<ExecResult> {
    const r = await spawnOnce(req);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  }
}

/**
 * Runs a program attached to this process's terminal (stdin, stdout and stderr inherited), as
 * `weft exec` does, and resolves with its exit code (128 + signal number when it was killed).
 */
/**
 * The argv that runs `argv` in a pod's namespaces: a named network namespace through
 * `ip netns exec` (which binds /etc/netns/NAME/* over /etc), else one given by path through
 * nsenter; and first, when given, a mount namespace bound to a file (./mount-ns.ts).
 */
export function podArgv(req: {
  argv: readonly string[];
  netnsName?: string;
  netns?: string;
  mountNs?: string;
}): string[] {
  const inNet = req.netnsName ? ['ip', 'netns', 'exec', req.netnsName, ...req.argv] : inNetns(req.netns, req.argv);
  return req.mountNs ? ['nsenter', `--mount=${req.mountNs}`, '--', ...inNet] : inNet;
}

export function runAttached(
  req: Pick<ExecRequest, 'argv' | 'netns' | 'context'> & {
    /**
     * A named network namespace (ip netns) to run in instead of `netns`: entered with
     * `ip netns exec`, which binds /etc/netns/NAME/* (a pod's resolv.conf) over /etc.
     */
    netnsName?: string;
    /** A mount namespace bound to this file (./mount-ns.ts), entered first with nsenter --mount. */
    mountNs?: string;
  },
): Promise<number> {
  const argv = podArgv(req);
  const [program, ...args] = argv;
  if (!program) return Promise.reject(new ExecError(argv, null, null, '', 'empty argv', req.context));
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: 'inherit' });
    child.on('error', (err) => reject(new ExecError(argv, null, null, '', err.message, req.context, { cause: err })));
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
  });
}

/** A long-lived child over its pipes (see the Child port). */
class NodeChild implements Child {
  readonly argv: readonly string[];
  readonly exited: Promise<ExecError>;
  private readonly proc: ChildProcess | undefined;
  private stderrTail = '';
  private done = false;
  private readonly stdoutListeners: Array<(text: string) => void> = [];
  private readonly stderrListeners: Array<(text: string) => void> = [];

  constructor(req: ChildRequest) {
    this.argv = inNetns(req.netns, req.argv);
    const [program, ...args] = this.argv;
    if (!program) {
      this.done = true;
      this.proc = undefined;
      this.exited = Promise.resolve(new ExecError(this.argv, null, null, '', 'empty argv', req.context));
      return;
    }
    const proc = spawn(program, args, {
      env: req.env ?? process.env,
      stdio: [req.stdin ? 'pipe' : 'ignore', req.stdout ? 'pipe' : 'ignore', 'pipe'],
    });
    this.proc = proc;
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (text: string) => {
      for (const l of this.stdoutListeners) l(text);
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL);
      for (const l of this.stderrListeners) l(text);
    });
    // Write errors (EPIPE once the child is gone) are the exit's story, told by `exited`.
    proc.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      let startError: Error | undefined;
      proc.on('error', (err) => {
        startError = err;
        // A program that never started emits no 'close' when it had no pipes to close.
        if (proc.pid === undefined) {
          this.done = true;
          resolve(new ExecError(this.argv, null, null, '', err.message, req.context, { cause: err }));
        }
      });
      // 'close' comes after 'exit', once stdout and stderr are fully read.
      proc.on('close', (code, signal) => {
        this.done = true;
        const stderr = startError ? `${this.stderrTail}${startError.message}` : this.stderrTail;
        resolve(
          new ExecError(
            this.argv,
            signal ? null : code,
            signal,
            '',
            stderr,
            req.context,
            startError ? { cause: startError } : undefined,
          ),
        );
      });
    });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  write(text: string): void {
    if (!this.done) this.proc?.stdin?.write(text);
  }

  onStdout(listener: (text: string) => void): void {
    this.stdoutListeners.push(listener);
  }

  onStderr(listener: (text: string) => void): void {
    this.stderrListeners.push(listener);
  }

  kill(signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP' = 'SIGTERM'): void {
    if (!this.done) this.proc?.kill(signal);
  }
}

/** Starts a long-lived child (the SpawnChild port). */
export function spawnChild(req: ChildRequest): Child {
  return new NodeChild(req);
}

/**
 * Starts a process that outlives its starter (the lab's agents, pod runners and etcd): its own
 * session, stdin closed, stdout and stderr appended to `logFile`. Returns its PID.
 */
export function spawnDetached(req: {
  argv: readonly string[];
  netns?: string;
  logFile: string;
  env?: Record<string, string>;
  context: string;
}): number {
  const argv = inNetns(req.netns, req.argv);
  const [program, ...args] = argv;
  if (!program) throw new ExecError(argv, null, null, '', 'empty argv', req.context);
  const fd = openSync(req.logFile, 'a');
  try {
    const child = spawn(program, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(req.env ? { env: req.env } : {}),
    });
    if (child.pid === undefined) throw new ExecError(argv, null, null, '', `no PID (see ${req.logFile})`, req.context);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** How a program started by spawnProgram ended: exit code or signal number, or why it never started. */
export interface ProgramEnd {
  exitCode: number | null;
  signal: number | null;
  /** Set when the program could not be started (no such file, bad working directory…). */
  startError?: string;
}

/** A program started by spawnProgram: its PID (also its process group) and its end. */
export interface StartedProgram {
  pid: number | undefined;
  ended: Promise<ProgramEnd>;
}

/**
 * Starts a pod's program (the lab's kubelet, see src/lab/program-runner.ts): in its own session
 * and process group (so the whole group can be signalled, and it outlives a runner that dies),
 * stdin /dev/null, stdout and stderr appended to `logFile`, with exactly `env` and `cwd`. It is
 * entered into the named network namespace with `ip netns exec`, which also binds
 * /etc/netns/NAME/* over /etc as a pod expects; `ip` execs the program, so the PID is the program's.
 */
export function spawnProgram(req: {
  argv: readonly string[];
  /** A named network namespace (ip netns), or undefined for the caller's own. */
  netnsName?: string;
  /** A mount namespace bound to this file (see ./mount-ns.ts) to run in, entered with nsenter --mount. */
  mountNs?: string;
  logFile: string;
  env: Record<string, string>;
  cwd: string;
  context: string;
}): StartedProgram {
  const argv = podArgv(req);
  const [program, ...args] = argv;
  if (!program)
    return { pid: undefined, ended: Promise.resolve({ exitCode: null, signal: null, startError: 'empty argv' }) };
  const fd = openSync(req.logFile, 'a');
  try {
    const child = spawn(program, args, { detached: true, stdio: ['ignore', fd, fd], env: req.env, cwd: req.cwd });
    return { pid: child.pid, ended: programEnd(child, req.context, argv) };
  } finally {
    closeSync(fd);
  }
}

/** How a started program ends: its exit code or signal, or why it could not start. */
function programEnd(child: ChildProcess, context: string, argv: readonly string[]): Promise<ProgramEnd> {
  return new Promise<ProgramEnd>((resolve) => {
    child.once('error', (err) =>
      resolve({ exitCode: null, signal: null, startError: `${context}: ${argv.join(' ')}: ${err.message}` }),
    );
    child.once('exit', (code, signal) =>
      resolve({ exitCode: code, signal: signal ? (osConstants.signals[signal] ?? null) : null }),
    );
  });
}
