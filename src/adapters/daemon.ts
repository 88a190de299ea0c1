/**
 * Starting long-running helper processes (the lab's port servers) and stopping them by PID.
 * A daemon signals readiness by printing a line containing "ready" on stdout; start() resolves
 * then, or rejects with what it printed if it exits or times out first.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface Daemon {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function startDaemon(argv: readonly string[], opts: { readyTimeoutMs?: number; context: string }): Promise<Daemon> {
  const [program, ...args] = argv;
  if (!program) return Promise.reject(new Error(`${opts.context}: empty argv`));
  const child: ChildProcess = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.context}: not ready after ${opts.readyTimeoutMs ?? 10_000} ms: ${output.trim()}`));
    }, opts.readyTimeoutMs ?? 10_000);
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      if (/\bready\b/.test(output)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining so the child never blocks on a full pipe.
        child.stdout?.resume();
        resolve(wrap(child));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => (output += b.toString('utf8')));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${opts.context}: ${argv.join(' ')}: ${err.message}`, { cause: err }));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${opts.context}: exited (${signal ?? `code ${code}`}) before it was ready: ${output.trim()}`));
    });
  });
}

function wrap(child: ChildProcess): Daemon {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid ?? -1,
    stop: async (graceMs = 2000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts a process that outlives its starter (the lab's agents, pod runners and etcd): its own
 * session, stdin closed, stdout and stderr appended to `logFile`. Returns its PID.
 */
export function spawnDetached(argv: readonly string[], logFile: string, env?: Record<string, string>): number {
  const [program, ...args] = argv;
  if (!program) throw new Error('spawnDetached: empty argv');
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(program, args, { detached: true, stdio: ['ignore', fd, fd], ...(env ? { env } : {}) });
    if (child.pid === undefined) throw new Error(`start ${argv.join(' ')}: no PID (see ${logFile})`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
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
