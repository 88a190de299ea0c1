/**
 * Long-running helper processes: the lab's port servers (startDaemon: started, awaited until they
 * say "ready", stopped by PID) and the lab's detached agents, runners and etcd (spawnDetached,
 * from src/adapters/exec.ts, re-exported for the lab). The processes themselves are started by
 * src/adapters/exec.ts, the only module that imports child_process; this one adds the readiness
 * protocol and the PID helpers (/proc and kill(2)).
 *
 * A daemon signals readiness by printing a line containing "ready" on stdout; start() resolves
 * then, or rejects with the ExecError of its exit (argv, exit code or signal, what it printed) if
 * it exits or times out first.
 */

import { readFileSync } from 'node:fs';
import { type Child, type SpawnChild } from '../ports/exec.js';
import { ExecError } from '../core/port-errors.js';
import { spawnChild } from './exec.js';

export { spawnDetached } from './exec.js';

export interface Daemon {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function startDaemon(
  argv: readonly string[],
  opts: { readyTimeoutMs?: number; context: string; netns?: string; spawn?: SpawnChild },
): Promise<Daemon> {
  const timeoutMs = opts.readyTimeoutMs ?? 10_000;
  const child = (opts.spawn ?? spawnChild)({
    argv,
    context: opts.context,
    stdout: true,
    ...(opts.netns ? { netns: opts.netns } : {}),
  });
  let output = '';
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new ExecError(child.argv, null, null, '', `not ready after ${timeoutMs} ms: ${output.trim()}`, opts.context),
      );
    }, timeoutMs);
    child.onStdout((text) => {
      if (ready) return; // Keep draining, so the child never blocks on a full pipe.
      output += text;
      if (/\bready\b/.test(output)) {
        ready = true;
        clearTimeout(timer);
        resolve(wrap(child));
      }
    });
    child.onStderr((text) => (output += text));
    void child.exited.then((err) => {
      clearTimeout(timer);
      if (!ready)
        reject(
          new ExecError(
            err.argv,
            err.exitCode,
            err.signal,
            '',
            `exited before it was ready: ${output.trim() || err.stderr.trim()}`,
            opts.context,
            { cause: err },
          ),
        );
    });
  });
}

function wrap(child: Child): Daemon {
  return {
    pid: child.pid ?? -1,
    stop: async (graceMs = 2000) => {
      if (!child.running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await child.exited;
      clearTimeout(timer);
    },
  };
}

/** The process's command line (argv joined by spaces), or undefined when there is no such process. */
export function processCommandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Sends a signal to the PID; false when there is no such process. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
