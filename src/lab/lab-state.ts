/**
 * Where a lab keeps its files, and lab.json, the record `weft lab up` writes and every other
 * command reads: the spec, the nodes, and the PIDs of the processes the lab started. All of it
 * lives under one directory (/run/weft/labs/NAME, on tmpfs like the namespaces themselves), so
 * `weft lab down` removes the lab's files with one rm, and a reboot leaves nothing behind.
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabSpec, PeerKind } from '../core/lab/lab-spec.js';
import type { LabApiRecord } from './lab-kube.js';
import { DEFAULT_LAB_ROOT, labNamespacePrefix, labNodeNamespace } from '../core/names.js';

export interface LabNodeRecord {
  name: string;
  ns: string;
  ip: string;
  /** The segment the node's eth0 is on (absent in labs recorded before --segments: 0). */
  segment?: number;
  /** The real peer the node runs instead of weft's agent (`--peer`); absent: weft's agent. */
  peer?: PeerKind;
  /** The PID of the node's network daemon: weft's agent, or the peer (flanneld) when `peer` is set. */
  agentPid?: number;
  runnerPid?: number;
  /** The node's kube-proxy (`--services kube-proxy`, ./peer-kube-proxy.ts); absent otherwise. */
  kubeProxyPid?: number;
}

export interface LabSegmentRecord {
  index: number;
  cidr: string;
  gateway: string;
  /** The router's leg on this segment (labs of two segments or more). */
  router?: string;
  ns: string;
}

export interface LabRecord {
  spec: LabSpec;
  /** "creating" until `lab up` finished; "up" after. */
  state: 'creating' | 'up';
  created: string;
  /** Segment 0's namespace: its bridge, the gateway of the store, the load-balancer pool and the outside clients. */
  segmentNs: string;
  /** Every segment, segment 0 first (absent in labs recorded before --segments: segment 0 alone). */
  segments?: LabSegmentRecord[];
  /** The router namespace joining the segments (labs of two segments or more). */
  routerNs?: string;
  /** The router's BIRD (bgp with --bgp-peer router): ./router-bird.ts. */
  routerBirdPid?: number;
  /** The etcd endpoints the agents use (etcd stores only). */
  etcdEndpoints?: string[];
  /** The client's TLS files for the lab's own etcd (src/lab/etcd-tls.ts); absent for a user's etcd. */
  etcdTls?: { caFile: string; certFile: string; keyFile: string };
  etcdPid?: number;
  /** Relays to a user's etcd (--store etcd=URL), one per endpoint. */
  gatewayPids?: number[];
  /** The lab's Kubernetes API (`--api kube`, ./lab-kube.ts). */
  api?: LabApiRecord;
  /** `weft lab supervise` (restarts agents and pod runners that die); set once the lab is up. */
  supervisorPid?: number;
  nodes: LabNodeRecord[];
}

/** The lab root: WEFT_LAB_ROOT when set (tests), else /run/weft/labs. */
export function labRoot(env: Record<string, string | undefined>): string {
  return env.WEFT_LAB_ROOT || DEFAULT_LAB_ROOT;
}

export class LabPaths {
  constructor(
    readonly root: string,
    readonly name: string,
  ) {}

  get dir(): string {
    return join(this.root, this.name);
  }
  get record(): string {
    return join(this.dir, 'lab.json');
  }
  get objects(): string {
    return join(this.dir, 'objects.db');
  }
  get leases(): string {
    return join(this.dir, 'leases.db');
  }
  get binDir(): string {
    return join(this.dir, 'bin');
  }
  get netConf(): string {
    return join(this.dir, 'net-conf.json');
  }
  get etcdData(): string {
    return join(this.dir, 'etcd');
  }
  get etcdTlsDir(): string {
    return join(this.dir, 'etcd-tls');
  }
  get logDir(): string {
    return join(this.dir, 'log');
  }
  /** The containers' logs of pod namespace/name (one file per container, see src/lab/program-runner.ts). */
  podLogDir(namespace: string, name: string): string {
    return join(this.logDir, 'pods', `${namespace}_${name}`);
  }
  /** The last `weft probe` matrix of each port and protocol (./probe-store.ts), for `weft ui`'s overlay. */
  get probeDir(): string {
    return join(this.dir, 'probes');
  }
  get lockDir(): string {
    return join(this.dir, 'locks');
  }
  nodeDir(node: string): string {
    return join(this.dir, 'nodes', node);
  }
  runDir(node: string): string {
    return join(this.nodeDir(node), 'run');
  }
  /** Where the node's hostNetwork pods' mount namespaces are bound (adapters/mount-ns.ts), by container ID. */
  mountNsDir(node: string): string {
    return join(this.runDir(node), 'mnt');
  }
  cniConfDir(node: string): string {
    return join(this.nodeDir(node), 'net.d');
  }
  ipamDir(node: string): string {
    return join(this.nodeDir(node), 'ipam');
  }
  get nsPrefix(): string {
    return labNamespacePrefix(this.name);
  }
  nodeNs(node: string): string {
    return labNodeNamespace(this.name, node);
  }
}

export function readLabRecord(paths: LabPaths): LabRecord | undefined {
  if (!existsSync(paths.record)) return undefined;
  try {
    return JSON.parse(readFileSync(paths.record, 'utf8')) as LabRecord;
  } catch (err) {
    throw new Error(`lab ${paths.name}: cannot read ${paths.record}: ${(err as Error).message}`, { cause: err });
  }
}

export function writeLabRecord(paths: LabPaths, record: LabRecord): void {
  mkdirSync(paths.dir, { recursive: true });
  const tmp = `${paths.record}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
  renameSync(tmp, paths.record);
}

/** Names of the labs that have a directory under the root ([] when none). */
export function labDirs(root: string): string[] {
  try {
    // A directory without lab.json is a lab whose `up` died before writing it; `lab list` still
    // finds such a lab by its namespaces (see labList).
    return readdirSync(root).filter((n) => existsSync(join(root, n, 'lab.json')));
  } catch {
    return [];
  }
}
