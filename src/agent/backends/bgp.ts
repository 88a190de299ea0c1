/**
 * The bgp backend (Calico's model with Debian's BIRD 2): the agent renders this node's BIRD config
 * from the cluster state (src/core/bgp/bird-config.ts), keeps one BIRD running in the node's
 * namespace, and leaves the routing to it: BIRD announces the node's pod subnet to its peers (every
 * node of the segment, or the router) and installs theirs into the kernel. No weft process is in
 * the forwarding path, and there is no encapsulation, so pods get the underlay's MTU.
 *
 * Supervision:
 * - A config change (a peer joined or left) is written after `bird -p` accepted it, then applied
 *   with `birdc configure`: BIRD adds or removes only those sessions; it is never restarted for it.
 * - When BIRD dies, the kernel keeps its routes (kernel protocol `persist`) and its peers keep this
 *   node's routes (BGP graceful restart), so pods keep talking; `problem()` says so while the agent
 *   restarts BIRD with backoff (200 ms doubling to 10 s; reset once a BIRD has lived 30 s). The new
 *   BIRD starts with -R and so keeps the kernel routes until its sessions are back.
 * - A BIRD left by an agent killed with -9 is ended (by the PID in its PID file) before a new one
 *   starts; `stop()` ends the agent's BIRD by PID with SIGKILL, like a crash, on purpose: a
 *   graceful shutdown would send every peer a Cease and make them drop this node's routes at once,
 *   while an agent restart should not interrupt traffic to this node's pods.
 * - The node guard keeps pods from BGP's port (179/tcp) on this node: guardPorts.
 */

import { renderNodeBirdConfig, BGP_PORT, BGP_ROUTE_METRIC, BIRD_ROUTE_PROTOCOL } from '../../core/bgp/bird-config.js';
import type { TimerHandle } from '../../ports/clock.js';
import type { Child } from '../../ports/exec.js';
import {
  BirdControl,
  birdFiles,
  killBird,
  readBirdConfig,
  removeBirdFiles,
  startBird,
  writeBirdConfig,
  type BirdFiles,
} from '../../adapters/bird.js';
import type { Backend, BackendDeps, BackendKind, BackendSyncInput, BackendSyncResult } from './backend.js';

const BACKOFF_FIRST_MS = 200;
const BACKOFF_MAX_MS = 10_000;
/** A BIRD that lived this long was healthy: the next death starts the backoff again. */
const HEALTHY_AFTER_MS = 30_000;

class BgpBackend implements Backend {
  readonly type = 'bgp' as const;
  private readonly files: BirdFiles;
  private readonly control: BirdControl;
  private child: Child | undefined;
  private startedAt = 0;
  private restartTimer: TimerHandle | undefined;
  private failures = 0;
  private stopping = false;
  private problemText: string | undefined;
  /** The config BIRD runs (or will read when it starts). */
  private applied: string | undefined;

  constructor(private readonly deps: BackendDeps) {
    this.files = birdFiles(deps.runDir);
    this.control = new BirdControl(deps.exec, this.files.socket);
  }

  async sync(input: BackendSyncInput): Promise<BackendSyncResult> {
    const bgp = input.conf.backend.bgp;
    if (!bgp) throw new Error('bgp backend: net-conf has no bgp settings (Backend.Type is not "bgp")');
    let rendered: ReturnType<typeof renderNodeBirdConfig>;
    try {
      // Throws (naming the field) before anything is written: a bad config changes nothing.
      rendered = renderNodeBirdConfig({
        node: { subnet: input.node.subnet, publicIp: input.node.publicIp, underlayCidr: input.node.underlay.cidr },
        network: input.conf.network,
        conf: bgp,
        peers: input.peers,
      });
    } catch (err) {
      // The node keeps routing with its last good config (an agent restarted into a bad net-conf
      // finds the one its predecessor's BIRD ran), and the error names the field to fix.
      if (!this.child && !this.restartTimer && !this.stopping && readBirdConfig(this.files) !== undefined)
        await this.start().catch((startErr: unknown) =>
          this.deps.log.warn('BIRD start with the last good config failed', { error: (startErr as Error).message }),
        );
      throw err;
    }
    const described: string[] = [];
    const sessions = rendered.sessions.map((s) => `${s.address} (AS ${s.neighborAs})`).join(', ') || 'none';
    this.applied ??= readBirdConfig(this.files);
    if (rendered.text !== this.applied) {
      await writeBirdConfig(this.deps.exec, this.files, rendered.text);
      if (this.child?.running && !this.restartTimer) {
        // Remembered only once BIRD took it: a failed configure is tried again by the next sync.
        await this.control.configure();
        described.push(`BIRD reconfigured: sessions ${sessions}`);
      } else described.push(`BIRD config written: sessions ${sessions}`);
      this.applied = rendered.text;
    }
    if (!this.child && !this.restartTimer && !this.stopping) {
      const pid = await this.start();
      described.push(`BIRD started (PID ${pid ?? '?'}): sessions ${sessions}`);
    }
    return {
      podMtu: input.node.underlay.mtu,
      described,
      peerErrors: rendered.errors,
      guardPorts: [{ protocol: 'tcp', port: BGP_PORT }],
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimeout(resolve, ms));
  }

  /** Starts BIRD (ending a stale one first) and waits until it answers on its socket; its PID. */
  private async start(): Promise<number | undefined> {
    const killed = await killBird(this.files, (ms) => this.sleep(ms));
    if (killed) this.deps.log.info('ended the BIRD an earlier agent left', { pidFile: this.files.pidFile });
    // Graceful restart recovery (-R) only when there is something to recover: it holds back the
    // first announcements until the sessions converge, which costs a fresh node seconds.
    const recover = killed || this.startedAt !== 0 || (await this.kernelHasBirdRoutes());
    const child = startBird(this.deps.spawn, this.files, 'the bgp backend BIRD', { recover });
    this.child = child;
    this.startedAt = this.deps.clock.now();
    child.onStderr((text) => {
      for (const line of text.split('\n')) if (line.trim()) this.deps.log.warn('BIRD', { line: line.trim() });
    });
    void child.exited.then((err) => this.exited(child, err.message));
    for (let i = 0; i < 100 && child.running; i++) {
      if (await this.control.ready()) {
        this.problemText = undefined;
        this.deps.log.info('BIRD running', { pid: child.pid, socket: this.files.socket });
        return child.pid;
      }
      await this.sleep(20);
    }
    if (!child.running) throw new Error(`start BIRD: it exited at once (see the agent log): ${child.argv.join(' ')}`);
    throw new Error(`start BIRD: no answer on ${this.files.socket} after 2 s`);
  }

  /** Whether the kernel holds routes a BIRD of ours installed (a predecessor's, kept by `persist`). */
  private async kernelHasBirdRoutes(): Promise<boolean> {
    return (await birdKernelRoutes(this.deps)).length > 0;
  }

  private exited(child: Child, how: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.stopping) return;
    if (this.deps.clock.now() - this.startedAt > HEALTHY_AFTER_MS) this.failures = 0;
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** this.failures, BACKOFF_MAX_MS);
    this.failures++;
    this.problemText = `BIRD is not running (${how}); restarting it in ${delay} ms (the kernel keeps its routes meanwhile)`;
    this.deps.log.warn('BIRD exited', { how, restartInMs: delay, failures: this.failures });
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = this.deps.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.start().catch((err: unknown) => {
        const delayNext = Math.min(BACKOFF_FIRST_MS * 2 ** this.failures, BACKOFF_MAX_MS);
        this.failures++;
        this.problemText = `BIRD could not be restarted (${(err as Error).message}); trying again in ${delayNext} ms`;
        this.deps.log.warn('BIRD restart failed', { error: (err as Error).message, retryInMs: delayNext });
        // A child that started but never answered is ended; its exit must not schedule a second restart.
        const stale = this.child;
        this.child = undefined;
        stale?.kill('SIGKILL');
        this.scheduleRestart(delayNext);
      });
    }, delay);
  }

  problem(): string | undefined {
    return this.problemText;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    const child = this.child;
    this.child = undefined;
    if (child?.running) {
      child.kill('SIGKILL');
      await child.exited;
    }
  }
}

/** The kernel routes of this node's BIRD: its protocol (12) and weft's metric (routes of any other BIRD have BIRD's own). */
async function birdKernelRoutes(deps: BackendDeps): Promise<Array<{ dst: string }>> {
  const out = await deps.exec.run({
    argv: ['ip', '-j', 'route', 'show', 'table', 'main', 'proto', String(BIRD_ROUTE_PROTOCOL)],
    context: "list BIRD's kernel routes",
  });
  const routes = JSON.parse(out.stdout || '[]') as Array<{ dst: string; metric?: number }>;
  return routes.filter((r) => r.metric === BGP_ROUTE_METRIC);
}

export const BGP: BackendKind = {
  type: 'bgp',
  // Peers learn this node's subnet from BGP itself; the lease needs nothing of the backend.
  leaseData: () => ({}),
  create: (deps) => new BgpBackend(deps),
  async cleanup(deps) {
    const files = birdFiles(deps.runDir);
    const done: string[] = [];
    if (await killBird(files, (ms) => new Promise((r) => deps.clock.setTimeout(r, ms))))
      done.push(`ended BIRD (${files.pidFile})`);
    for (const r of await birdKernelRoutes(deps)) {
      await deps.exec.run({
        argv: ['ip', 'route', 'del', r.dst, 'proto', String(BIRD_ROUTE_PROTOCOL), 'metric', String(BGP_ROUTE_METRIC)],
        context: `cleanup: delete BIRD's route ${r.dst}`,
      });
      done.push(`deleted route ${r.dst} (bgp)`);
    }
    if (removeBirdFiles(files)) done.push(`removed ${files.dir}`);
    return done;
  },
};
