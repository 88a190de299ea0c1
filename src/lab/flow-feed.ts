/**
 * The flow log of `weft ui`: what `weft flows -A -f` shows, kept for the page. Every node's agent
 * is followed over its status socket (GET /flows?follow=1), then its ring is read (GET /flows),
 * the same two reads `weft flows -f` makes, in the same order so a flow logged in between is in
 * both and kept once (./../core/flows/merged-log.ts). The lab's flows are held in one bounded
 * log (a lab of many nodes under a flood costs a fixed amount), and every new flow goes to the
 * subscribers (the page's streams).
 *
 * A node whose agent cannot be read (restarting, or running with --no-flow-log) is retried every
 * `retryMs` and its error is reported to the subscribers, not hidden; nodes come and go with
 * `setNodes` (the dashboard's poller passes the lab's nodes on every change).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { followNodeFlows, getNodeFlows } from '../adapters/status-client.js';
import { MergedFlowLog } from '../core/flows/merged-log.js';
import type { Flow } from '../core/flows/flow.js';

export interface FlowSource {
  node: string;
  /** The agent's status socket (statusSocketPath of the node's run dir). */
  path: string;
}

export type FlowFeedEvent = { kind: 'flow'; flow: Flow } | { kind: 'errors'; errors: Record<string, string> };

/** How the feed reads an agent: the status socket's client (injected by the unit tests). */
export interface FlowClient {
  follow: typeof followNodeFlows;
  read: typeof getNodeFlows;
}

export interface FlowFeedOptions {
  /** How many flows the feed keeps, over every node. */
  capacity: number;
  /** Default: the status socket's client (../adapters/status-client.ts). */
  client?: FlowClient;
  /** How long to wait before reading a node again after its stream ended or failed (default 1 s). */
  retryMs?: number;
  log: (line: string) => void;
}

export class FlowFeed {
  private readonly flowLog: MergedFlowLog;
  private readonly nodes = new Map<string, { path: string; abort: AbortController }>();
  private readonly nodeErrors = new Map<string, string>();
  private readonly subscribers = new Set<(e: FlowFeedEvent) => void>();
  private readonly client: FlowClient;

  constructor(private readonly o: FlowFeedOptions) {
    this.flowLog = new MergedFlowLog(o.capacity);
    this.client = o.client ?? { follow: followNodeFlows, read: getNodeFlows };
  }

  /** Follows these nodes: starts the new ones, stops those no longer given. */
  setNodes(sources: readonly FlowSource[]): void {
    const wanted = new Map(sources.map((s) => [s.node, s.path]));
    for (const [node, n] of this.nodes)
      if (wanted.get(node) !== n.path) {
        n.abort.abort();
        this.nodes.delete(node);
        this.setError(node, undefined);
      }
    for (const [node, path] of wanted) {
      if (this.nodes.has(node)) continue;
      const abort = new AbortController();
      this.nodes.set(node, { path, abort });
      void this.follow(node, path, abort.signal);
    }
  }

  stop(): void {
    for (const n of this.nodes.values()) n.abort.abort();
    this.nodes.clear();
    this.subscribers.clear();
  }

  /** The kept flows that match, oldest first, at most the newest `limit`. */
  list(matches: (f: Flow) => boolean, limit: number): Flow[] {
    return this.flowLog.list(matches, limit);
  }

  get capacity(): number {
    return this.flowLog.capacity;
  }

  /** The nodes whose flows cannot be read now, with why. */
  errors(): Record<string, string> {
    return Object.fromEntries([...this.nodeErrors].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Calls `on` with every new flow and every change of the nodes' errors; returns the unsubscribe. */
  subscribe(on: (e: FlowFeedEvent) => void): () => void {
    this.subscribers.add(on);
    return () => this.subscribers.delete(on);
  }

  private add(f: Flow): void {
    if (!this.flowLog.add(f)) return;
    for (const s of this.subscribers) s({ kind: 'flow', flow: f });
  }

  private setError(node: string, error: string | undefined): void {
    if (this.nodeErrors.get(node) === error) return;
    if (error === undefined) this.nodeErrors.delete(node);
    else {
      this.nodeErrors.set(node, error);
      this.o.log(`weft ui: flows of node ${node}: ${error}`);
    }
    const errors = this.errors();
    for (const s of this.subscribers) s({ kind: 'errors', errors });
  }

  private async follow(node: string, path: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const { ended } = await this.client.follow(path, (f) => this.add(f), signal);
        const kept = await this.client.read(path, 5_000);
        for (const f of kept.flows) this.add(f);
        this.setError(node, undefined);
        await ended;
        if (!signal.aborted) this.setError(node, 'the agent closed the flow stream (restarting?)');
      } catch (err) {
        if (!signal.aborted) this.setError(node, (err as Error).message);
      }
      // An abort ends the wait early (the sleep rejects); the loop's condition then ends it.
      await sleep(this.o.retryMs ?? 1_000, undefined, { signal }).catch(() => undefined);
    }
  }
}
