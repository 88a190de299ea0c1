/**
 * Starting long-running helper processes (the lab's port servers) and stopping them by PID.
 * A daemon signals readiness by printing a line containing "ready" on stdout; start() resolves
 * then, or rejects with what it printed if it exits or times out first.
 */

import { spawn, type ChildProcess } from 'node:child_process';

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
