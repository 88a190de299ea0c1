/**
 * What the lab's kubelet asks the kernel about the processes it started: a process's start time
 * (field 22 of /proc/PID/stat, in clock ticks since boot), which together with the PID names one
 * process for good (a PID alone may be reused after the process is gone), and signalling a whole
 * process group.
 */

import { accessSync, constants, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

/** The start time of process `pid` (clock ticks since boot), or undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // no such process (ENOENT): that is the answer, not an error
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  const v = Number(rest[19]);
  return Number.isFinite(v) ? v : undefined;
}

/** True when process `pid` exists and has not exited (a zombie has: it only waits to be reaped). */
export function processAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no such process
  }
  // The state (field 3) follows the last ')' of the command name.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** True when process `pid` exists and is the one that started at `startTime` (not a zombie). */
export function isSameProcess(pid: number, startTime: number): boolean {
  return processStartTime(pid) === startTime && processAlive(pid);
}

/** Sends `signal` to process group `pgid`; false when the group has no process left (ESRCH). */
export function signalGroup(pgid: number, signal: 'SIGTERM' | 'SIGKILL'): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * The PIDs of every process whose network namespace is one of those bound at `netnsPaths` (same
 * inode as /proc/PID/ns/net), in one pass over /proc; paths that do not exist are skipped.
 */
export function pidsInNetns(...netnsPaths: string[]): number[] {
  const wanted = new Set<string>();
  for (const path of netnsPaths) {
    try {
      wanted.add(`net:[${statSync(path).ino}]`);
    } catch {
      continue; // no such namespace: nothing can be in it
    }
  }
  if (wanted.size === 0) return [];
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (wanted.has(readlinkSync(`/proc/${entry}/ns/net`))) out.push(Number(entry));
    } catch {
      continue; // the process ended while we looked: it is not there, which is the answer
    }
  }
  return out;
}

/**
 * The PIDs of every process whose initial environment holds exactly `entry` (NAME=VALUE), from
 * /proc/PID/environ, in one pass over /proc.
 */
export function pidsWithEnvironEntry(entry: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // the process ended while we looked (or is a kernel thread): not one of ours
    }
    if (environ.split('\0').includes(entry)) out.push(Number(pid));
  }
  return out;
}

/** Sends `signal` to process `pid`; false when it has gone (ESRCH). */
export function signalProcess(pid: number, signal: 'SIGTERM' | 'SIGKILL'): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Whether `path` is a file this process may execute (a built binary of the peers' or Kubernetes' cache). */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
