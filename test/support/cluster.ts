/**
 * A small cluster for agent tests, built from namespaces with the lab's own underlay code: one
 * L2 segment, N node namespaces each running `weft agent` as a real process inside it, and pods
 * made through the conflist each agent writes, by exec'ing the CNI plugins as a runtime does.
 */

import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { NodeExec } from '../../src/adapters/exec.js';
import { CniRuntime, type ConfList } from '../../src/cni/runtime.js';
import type { CniResult } from '../../src/core/cni/result.js';
import { Underlay, type Segment, type UnderlayNode } from '../../src/lab/underlay.js';
import { installCni } from '../../src/cni/install.js';
import { NETNS_DIR, Netns } from './netns.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  /** stderr (JSON log lines) collected so far. */
  log: string[];
  exited: Promise<number | null>;
}

export interface ClusterNode extends UnderlayNode {
  runDir: string;
  cniConfDir: string;
  ipamDir: string;
  agent?: AgentProcess;
}

export interface Pod {
  name: string;
  ns: string;
  node: ClusterNode;
  containerId: string;
  result: CniResult;
  ip: string;
}

export class Cluster {
  readonly exec = new NodeExec();
  readonly underlay: Underlay;
  readonly nodes: ClusterNode[] = [];
  readonly pods: Pod[] = [];
  segment: Segment | undefined;
  readonly binDir: string;
  readonly work: string;

  /** `prefix` like "weft-ag-"; leftovers with it are removed now. */
  constructor(
    readonly prefix: string,
    work: string,
  ) {
    Netns.removeAll(prefix);
    this.underlay = new Underlay(this.exec, prefix);
    this.work = work;
    this.binDir = join(work, 'bin');
    installCni({ binDir: this.binDir, prefix: 'weft-' });
  }

  async build(nodeCount: number): Promise<void> {
    this.segment = await this.underlay.addSegment('ul', '10.99.0');
    for (let i = 1; i <= nodeCount; i++) await this.addNode(`n${i}`, this.segment, i);
  }

  async addNode(name: string, segment: Segment, host: number): Promise<ClusterNode> {
    const u = await this.underlay.addNode(name, segment, host);
    const base = join(this.work, name);
    const node: ClusterNode = {
      ...u,
      runDir: join(base, 'run'),
      cniConfDir: join(base, 'net.d'),
      ipamDir: join(base, 'ipam'),
    };
    mkdirSync(base, { recursive: true });
    this.nodes.push(node);
    return node;
  }

  /** Starts `weft agent` inside the node namespace with the given store flags. */
  startAgent(node: ClusterNode, storeArgs: string[], extra: string[] = []): AgentProcess {
    const argv = [
      'netns',
      'exec',
      node.ns,
      process.execPath,
      CLI,
      'agent',
      ...storeArgs,
      '--node-name',
      node.name,
      '--iface',
      'eth0',
      '--run-dir',
      node.runDir,
      '--cni-conf-dir',
      node.cniConfDir,
      '--ipam-data-dir',
      node.ipamDir,
      '--metrics-addr',
      '127.0.0.1:9777',
      ...extra,
    ];
    const child = spawn('ip', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    const log: string[] = [];
    child.stderr?.on('data', (b: Buffer) =>
      log.push(
        ...b
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      ),
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    node.agent = { child, log, exited };
    return node.agent;
  }

  /** SIGTERM (or SIGKILL) the node's agent and wait for it to exit. */
  async stopAgent(node: ClusterNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const a = node.agent;
    if (!a) return;
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill(signal);
    await a.exited;
    node.agent = undefined;
  }

  subnetEnv(node: ClusterNode): string | undefined {
    try {
      return readFileSync(join(node.runDir, 'subnet.env'), 'utf8');
    } catch {
      return undefined;
    }
  }

  conflist(node: ClusterNode): ConfList {
    return JSON.parse(readFileSync(join(node.cniConfDir, '10-weft.conflist'), 'utf8')) as ConfList;
  }

  runtime(node: ClusterNode): CniRuntime {
    return new CniRuntime({ exec: this.exec, binDirs: [this.binDir], wrap: ['ip', 'netns', 'exec', node.ns] });
  }

  /** Makes a pod namespace on the node and runs the node's conflist ADD for it. */
  async addPod(node: ClusterNode, name: string): Promise<Pod> {
    const ns = `${this.prefix}${name}`;
    await this.exec.run({ argv: ['ip', 'netns', 'add', ns] });
    await this.exec.run({ argv: ['ip', '-n', ns, 'link', 'set', 'lo', 'up'] });
    const containerId = `${this.prefix}${name}`;
    const result = await this.runtime(node).add(this.conflist(node), {
      containerId,
      netns: join(NETNS_DIR, ns),
      ifname: 'eth0',
    });
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`pod ${name}: no address in the result`);
    const pod = { name, ns, node, containerId, result, ip };
    this.pods.push(pod);
    return pod;
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) await this.stopAgent(n, 'SIGKILL');
    await this.underlay.removeAll();
    rmSync(this.work, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
