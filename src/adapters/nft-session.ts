/**
 * Nft through one long-lived `nft -i` process instead of a new `nft -f -` per transaction.
 *
 * Why: starting a process is the slow part of a small ruleset change (about 15-20 ms of fork,
 * exec and nft start-up on this machine, against under 1 ms for the kernel transaction itself),
 * and the agent's NetworkPolicy loop changes set elements often. The policy benchmark's
 * apply-to-enforcement latency is mostly this.
 *
 * How: nft's interactive mode runs each input line as one batch, that is one atomic kernel
 * transaction, so a transaction is sent as one line (its commands joined by "; "). nft says
 * nothing on success and writes errors to stderr, so each transaction is followed by a marker
 * command that always fails in a known way (listing a set of a table that never exists); the
 * transaction is done when the marker's error arrives, and failed if any other error came first.
 *
 * - Transactions are queued: one in flight at a time, in order.
 * - Big transactions (a full table with many elements) go through `nft -f -` as before: the
 *   interactive reader is line-based and meant for short lines.
 * - If the process dies or stops answering, the transaction in flight fails and the next one
 *   starts a new process. close() ends it. The process is started through src/adapters/exec.ts
 *   (spawnChild); its death fails the transaction in flight with that ExecError as the cause.
 */

import type { Child, Exec, SpawnChild } from '../ports/exec.js';
import { spawnChild } from './exec.js';
import type { Nft } from '../ports/nft.js';
import type { NftTx } from '../core/nft/tx.js';
import { NftCommand } from './nft.js';

const MARKER_TABLE = 'weft-nft-session-marker';
/** Above this many bytes a transaction goes through `nft -f -`. */
const MAX_LINE = 64 * 1024;

interface Pending {
  seq: number;
  child: Child;
  context: string;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class NftSession implements Nft {
  private child: Child | undefined;
  private stderr = '';
  private seq = 0;
  private inFlight: Pending | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly fallback: NftCommand;

  private readonly timeoutMs: number;

  /** `netns`: a namespace path to run nft in (default: this process's own). */
  constructor(
    exec: Exec,
    private readonly opts: { netns?: string; timeoutMs?: number; spawn?: SpawnChild } = {},
  ) {
    this.fallback = new NftCommand(exec, opts.netns);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** The PID of the running `nft -i`, if any (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  apply(tx: NftTx, context: string): Promise<void> {
    if (tx.empty) return Promise.resolve();
    const line = tx.render().trimEnd().split('\n').join('; ');
    const run = () => (line.length > MAX_LINE ? this.fallback.apply(tx, context) : this.send(line, context));
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  listTable(family: string, name: string): Promise<unknown[] | undefined> {
    return this.fallback.listTable(family, name);
  }

  close(): void {
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  private start(): Child {
    const child = (this.opts.spawn ?? spawnChild)({
      argv: ['nft', '-i'],
      ...(this.opts.netns ? { netns: this.opts.netns } : {}),
      context: 'nft -i session',
      stdin: true,
    });
    this.stderr = '';
    child.onStderr((text) => {
      if (this.child !== child) return;
      this.stderr += text;
      this.check();
    });
    void child.exited.then((exit) => {
      if (this.child === child) this.child = undefined;
      if (this.inFlight?.child !== child) return;
      this.finish(new Error(`${this.inFlight.context}: ${exit.message}`, { cause: exit }));
    });
    this.child = child;
    return child;
  }

  private send(line: string, context: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = this.child ?? this.start();
      const seq = ++this.seq;
      const timer = setTimeout(() => {
        if (this.child === child) this.child = undefined;
        this.finish(new Error(`${context}: nft -i did not answer within ${this.timeoutMs} ms`));
        child.kill('SIGKILL');
      }, this.timeoutMs);
      this.inFlight = { seq, child, context, resolve, reject, timer };
      this.stderr = '';
      child.write(`${line}\nlist set inet ${MARKER_TABLE} m${seq}\n`);
    });
  }

  /** Settles the transaction in flight when its marker's error has arrived. */
  private check(): void {
    const p = this.inFlight;
    if (!p) return;
    const marker = `list set inet ${MARKER_TABLE} m${p.seq}`;
    const lines = this.stderr.split('\n');
    const at = lines.findIndex((l) => l.trim() === marker);
    // The marker's own error is "Error: ...", its command line, then a line of carets.
    if (at < 1 || lines.length < at + 3) return;
    const before = lines
      .slice(0, at - 1)
      .join('\n')
      .trim();
    this.stderr = lines.slice(at + 2).join('\n');
    this.finish(before ? new Error(`${p.context}: nft: ${before}`) : undefined);
  }

  private finish(err: Error | undefined): void {
    const p = this.inFlight;
    if (!p) return;
    this.inFlight = undefined;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve();
  }
}
