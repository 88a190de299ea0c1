/**
 * The node status document, `<run dir>/node-status.json`: what this node's agent is doing, per
 * controller: its state, whether it is ready, what revision it has applied (the subnet held, the
 * objects revision whose NetworkPolicies the kernel enforces, …) and when, its last error. It is
 * the one answer to "what is this node doing" for `weft lab status`, the benchmarks and later the
 * dashboard, and replaces run/policy-applied.json (readPolicyApplied below keeps its meaning).
 *
 * Replaced atomically (temp file, then rename), so a reader never sees half of it. The agent
 * writes it at once when a controller says its status changed (the policy loop, after each
 * applied revision: the benchmark waits for that), and otherwise whenever a periodic look finds
 * it different.
 */

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { ControllerStatus } from './controller.js';

export interface NodeStatusDocument {
  node: string;
  /** Every controller is ready (what /healthz says). */
  ready: boolean;
  /** When this document was written (ISO 8601). */
  writtenAt: string;
  controllers: ControllerStatus[];
}

/** What run/policy-applied.json held: the objects revision the policy rules enforce, and when. */
export interface PolicyAppliedFile {
  revision: number;
  appliedAt: string;
  appliedAtMs: number;
}

/**
 * The agent's status server on a unix socket (/healthz, /metrics, /flows): reachable from the
 * host without entering the node's network namespace (see src/adapters/status-server.ts).
 */
export function statusSocketPath(runDir: string): string {
  return join(runDir, 'status.sock');
}

export function nodeStatusPath(runDir: string): string {
  return join(runDir, 'node-status.json');
}

export function writeNodeStatus(runDir: string, doc: NodeStatusDocument): void {
  // The run dir may not exist yet: the agent reports "starting" before it writes anything else.
  mkdirSync(runDir, { recursive: true, mode: 0o755 });
  const path = nodeStatusPath(runDir);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
  renameSync(tmp, path);
}

/** The document, or undefined while the agent has not written one (or it is not readable). */
export function readNodeStatus(runDir: string): NodeStatusDocument | undefined {
  let text: string;
  try {
    text = readFileSync(nodeStatusPath(runDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`read ${nodeStatusPath(runDir)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as NodeStatusDocument;
  } catch (err) {
    throw new Error(`read ${nodeStatusPath(runDir)}: not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The objects revision this node's NetworkPolicy rules enforce and when they reached the kernel,
 * or undefined while none has been applied (no document yet, or policy off on this node).
 */
export function readPolicyApplied(runDir: string): PolicyAppliedFile | undefined {
  const policy = readNodeStatus(runDir)?.controllers.find((c) => c.name === 'policy');
  if (policy?.revision === undefined || policy.revisionAt === undefined) return undefined;
  return {
    revision: Number(policy.revision),
    appliedAt: new Date(policy.revisionAt).toISOString(),
    appliedAtMs: policy.revisionAt,
  };
}

export interface NodeStatusWriterOptions {
  runDir: string;
  node: string;
  statuses: () => ControllerStatus[];
  clock: Clock;
  /** How often to look for changes (ms). */
  everyMs: number;
  /** Where a failed write is reported (the next look tries again). */
  onError: (err: Error) => void;
}

/** Writes the document when the statuses changed: at once on write(), and on a periodic look. */
export class NodeStatusWriter {
  private last = '';
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly o: NodeStatusWriterOptions) {}

  /** Writes the document now if it differs from the last one written. */
  write(): void {
    const controllers = this.o.statuses();
    const key = JSON.stringify(controllers);
    if (key === this.last) return;
    try {
      writeNodeStatus(this.o.runDir, {
        node: this.o.node,
        ready: controllers.length > 0 && controllers.every((c) => c.ready),
        writtenAt: new Date(this.o.clock.now()).toISOString(),
        controllers,
      });
      this.last = key;
    } catch (err) {
      this.o.onError(err as Error);
    }
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.write();
      this.timer = this.o.clock.setTimeout(tick, this.o.everyMs);
    };
    tick();
  }

  /** Stops looking, after one last write (the controllers' final states). */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.write();
  }
}
