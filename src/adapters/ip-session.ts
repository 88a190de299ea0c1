/**
 * `ip` through one long-lived `ip -j -d -batch -` process instead of a new `ip` per call, for the
 * node agent's CNI socket, where every pod's ADD reads the node's links and changes them.
 *
 * Why: in the agent, a process start is mostly fork(), whose cost grows with the parent's
 * memory; a CPU profile of an agent creating pods put `child_process.spawn` first, above the
 * plugin's own work. The kernel side of a call is well under a millisecond.
 *
 * How: ip's batch mode runs input lines one by one and flushes stdout after each, and with -j
 * every `address show` line prints exactly one line of JSON. So a transaction is its lines plus
 * a marker, `address show dev lo`, whose one line of output says that everything before it ran.
 * Without -force ip stops at the first failing line: it prints the reason and "Command failed
 * -:N" on stderr and exits, which fails the transaction with the index of that line (the lines
 * before it stay done, as with `ip -batch` per call); the next transaction starts a new process.
 *
 * - Transactions are queued: one in flight at a time, in order.
 * - A transaction that gets no answer within the timeout kills the process and fails.
 * - Only this process's own namespace (or one given at construction): the pod side of an ADD
 *   still runs one `ip` inside the pod's namespace.
 * - The process is started through src/adapters/exec.ts (spawnChild), so a session that dies
 *   reports the same ExecError shape (argv, exit, stderr) as every other process weft runs.
 */

import type { Child, SpawnChild } from '../ports/exec.js';
import { spawnChild } from './exec.js';

/**
 * A failed `ip -batch`, run by a session or by one process: the index of the failed line among
 * the lines given (undefined when ip did not name one of them), and ip's own words.
 */
export class IpBatchError extends Error {
  constructor(
    message: string,
    readonly failedIndex: number | undefined,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'IpBatchError';
  }
}

/**
 * The error for a batch that ip stopped: ip names the failing line as "Command failed -:N",
 * counting every line it read (`base` of them before these `lines`).
 */
export function batchError(stderr: string, lines: readonly string[], base: number, fallback: string): IpBatchError {
  const m = /Command failed -:(\d+)/.exec(stderr);
  const index = m ? Number(m[1]) - base - 1 : undefined;
  const failed = index !== undefined && index >= 0 && index < lines.length ? index : undefined;
  const why = stderr.replace(/Command failed -:\d+\s*/, '').trim() || fallback;
  return new IpBatchError(failed !== undefined ? `ip ${lines[failed]}: ${why}` : why, failed, stderr);
}

const MARKER = 'address show dev lo';

/** One ip process and what it has printed since the current transaction began. */
interface Proc {
  child: Child;
  /** Lines written so far (ip numbers them from 1). */
  lines: number;
  stdout: string;
  stderr: string;
  exited: boolean;
  /** Called on new stdout, and once the process has exited and its stderr is read. */
  wake?: () => void;
}

export class IpSession {
  private proc: Proc | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timeoutMs: number;

  /** `netns`: a namespace path to run ip in (through nsenter); default this process's own. */
  constructor(private readonly opts: { netns?: string; timeoutMs?: number; spawn?: SpawnChild } = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** The PID of the running ip, if any (for tests). */
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  /**
   * Runs the lines as one batch and resolves with the output lines of the `shows` `address show`
   * lines among them, in order. Rejects with IpBatchError naming the failed line.
   */
  run(lines: readonly string[], shows: number): Promise<string[]> {
    const next = this.queue.then(() => this.runNow(lines, shows));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.proc?.child.kill();
    this.proc = undefined;
  }

  private start(): Proc {
    const child = (this.opts.spawn ?? spawnChild)({
      argv: ['ip', '-j', '-d', '-batch', '-'],
      ...(this.opts.netns ? { netns: this.opts.netns } : {}),
      context: 'ip batch session',
      stdin: true,
      stdout: true,
    });
    const proc: Proc = { child, lines: 0, stdout: '', stderr: '', exited: false };
    child.onStdout((text) => {
      proc.stdout += text;
      proc.wake?.();
    });
    child.onStderr((text) => {
      proc.stderr += text;
    });
    // `exited` resolves after stdout and stderr are fully read.
    void child.exited.then((err) => {
      // A program that could not start prints nothing: its reason stands in for ip's stderr.
      if (child.pid === undefined) proc.stderr += `${err.message}\n`;
      proc.exited = true;
      if (this.proc === proc) this.proc = undefined;
      proc.wake?.();
    });
    this.proc = proc;
    return proc;
  }

  private runNow(lines: readonly string[], shows: number): Promise<string[]> {
    const proc = this.proc && !this.proc.exited ? this.proc : this.start();
    const base = proc.lines;
    proc.lines += lines.length + 1;
    proc.stdout = '';
    proc.stderr = '';
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.wake = undefined;
        proc.child.kill('SIGKILL');
        if (this.proc === proc) this.proc = undefined;
        reject(new IpBatchError(`ip batch: no answer within ${this.timeoutMs} ms`, undefined, proc.stderr));
      }, this.timeoutMs);
      proc.wake = () => {
        const out = proc.stdout.split('\n');
        // Complete lines only: the last element is what follows the last newline.
        if (out.length - 1 >= shows + 1) {
          clearTimeout(timer);
          proc.wake = undefined;
          resolve(out.slice(0, shows));
          return;
        }
        if (!proc.exited) return;
        clearTimeout(timer);
        proc.wake = undefined;
        reject(batchError(proc.stderr, lines, base, 'ip exited'));
      };
      proc.child.write(`${[...lines, MARKER].join('\n')}\n`);
    });
  }
}
