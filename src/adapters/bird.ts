/**
 * BIRD 2 as a program weft runs (Debian's bird2: `bird`, `birdc`): where a daemon's files live,
 * the argv that starts it in the foreground, and its control socket through birdc (configure,
 * show). The agent's bgp backend (src/agent/backends/bgp.ts) supervises one per node; the lab
 * runs one in its router namespace. Processes are started by ./exec.ts like every other.
 *
 * One BIRD per directory: the config, control socket and PID file sit side by side under the
 * owner's run directory, so two nodes (two agents on one machine, as in the lab) never share one.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, Exec, SpawnChild } from '../ports/exec.js';
import { processCommandLine, signalProcess } from './daemon.js';

export interface BirdFiles {
  dir: string;
  conf: string;
  /** The control socket (birdc -s). A unix socket path: at most 107 bytes. */
  socket: string;
  pidFile: string;
}

/** The files of the BIRD owned by `runDir` (an agent's run directory, the lab's router directory). */
export function birdFiles(runDir: string): BirdFiles {
  const dir = join(runDir, 'bird');
  return { dir, conf: join(dir, 'bird.conf'), socket: join(dir, 'bird.ctl'), pidFile: join(dir, 'bird.pid') };
}

/**
 * The argv of a BIRD in the foreground (-f: its owner supervises it) with `-R`: graceful restart
 * recovery, so a restarted BIRD keeps the kernel routes its predecessor left (kernel protocol
 * `persist`) until BGP has converged again, instead of removing them at its first scan.
 */
export function birdArgv(files: BirdFiles, opts: { recover: boolean }): string[] {
  return ['bird', '-f', ...(opts.recover ? ['-R'] : []), '-c', files.conf, '-s', files.socket, '-P', files.pidFile];
}

/** Starts BIRD in the caller's network namespace (the agent runs in its node's). */
export function startBird(spawn: SpawnChild, files: BirdFiles, context: string, opts: { recover: boolean }): Child {
  mkdirSync(files.dir, { recursive: true });
  return spawn({ argv: birdArgv(files, opts), context });
}

/** The config file's text, or undefined when there is none. */
export function readBirdConfig(files: BirdFiles): string | undefined {
  try {
    return readFileSync(files.conf, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Writes `text` as the config, after BIRD itself parsed it (`bird -p`): a config BIRD would refuse
 * never replaces the one it runs. Atomic (rename), so a BIRD (re)starting meanwhile reads either.
 */
export async function writeBirdConfig(exec: Exec, files: BirdFiles, text: string): Promise<void> {
  mkdirSync(files.dir, { recursive: true });
  const tmp = `${files.conf}.new`;
  writeFileSync(tmp, text);
  try {
    await exec.run({ argv: ['bird', '-p', '-c', tmp], context: `check the BIRD config ${files.conf}` });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, files.conf);
}

/** The PID in the PID file if that process is still a BIRD of these files, else undefined. */
export function runningBirdPid(files: BirdFiles): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(files.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmd = processCommandLine(pid);
  return cmd?.includes('bird') && cmd.includes(files.socket) ? pid : undefined;
}

/**
 * Ends the BIRD of these files left by an earlier owner (an agent killed with -9), by PID, and
 * waits until it is gone; true when there was one. SIGKILL, as its death would have been: its
 * kernel routes stay (persist) and its peers keep its routes for the graceful restart time.
 */
export async function killBird(files: BirdFiles, sleep: (ms: number) => Promise<void>): Promise<boolean> {
  const pid = runningBirdPid(files);
  if (pid === undefined) return false;
  signalProcess(pid, 'SIGKILL');
  for (let i = 0; i < 100 && processCommandLine(pid) !== undefined; i++) await sleep(20);
  rmSync(files.socket, { force: true });
  return true;
}

/** Removes the BIRD's directory (config, socket, PID file); false when there was none. */
export function removeBirdFiles(files: BirdFiles): boolean {
  if (!existsSync(files.dir)) return false;
  rmSync(files.dir, { recursive: true, force: true });
  return true;
}

/** birdc on one BIRD's control socket. */
export class BirdControl {
  constructor(
    private readonly exec: Exec,
    readonly socket: string,
    /** Run birdc in this network namespace (path), for a BIRD the caller does not share one with. */
    private readonly netns?: string,
  ) {}

  private async birdc(args: string[], context: string): Promise<string> {
    const r = await this.exec.run({
      argv: ['birdc', '-s', this.socket, ...args],
      context,
      timeoutMs: 5000,
      ...(this.netns ? { netns: this.netns } : {}),
    });
    return r.stdout;
  }

  /** Whether BIRD answers on its socket. */
  async ready(): Promise<boolean> {
    const r = await this.exec.tryRun({
      argv: ['birdc', '-s', this.socket, 'show', 'status'],
      timeoutMs: 2000,
      ...(this.netns ? { netns: this.netns } : {}),
    });
    return r.exitCode === 0 && /Daemon is up and running/.test(r.stdout);
  }

  /**
   * `birdc configure`: BIRD rereads its config and changes only what changed (a new peer is a new
   * protocol; the other sessions stay up). Throws with BIRD's own message when it refuses.
   */
  async configure(): Promise<void> {
    const out = await this.birdc(['configure'], `reconfigure BIRD (${this.socket})`);
    if (!/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(out))
      throw new Error(`reconfigure BIRD (${this.socket}): ${out.trim()}`);
  }

  showProtocolsAll(): Promise<string> {
    return this.birdc(['show', 'protocols', 'all'], `show BIRD protocols (${this.socket})`);
  }

  showRoute(): Promise<string> {
    return this.birdc(['show', 'route'], `show BIRD routes (${this.socket})`);
  }
}
