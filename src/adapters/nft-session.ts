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
 * - Listings go through the same process (`nft -j -i`: each `list` prints its JSON as one line on
 *   stdout, before the marker's error): a listing costs no process start either. That is most of
 *   a CNI ADD's nft cost through the agent's socket (the pod guard's read-modify-write).
 * - Transactions and listings are queued: one in flight at a time, in order.
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
  /** A listing: its JSON line on stdout is awaited too (unless nft refused it). */
  listing: boolean;
  /** Settled with the listing's JSON line (undefined for a transaction). */
  resolve: (json: string | undefined) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** The marker has arrived with no error before it (a listing then waits for its line). */
  markerSeen: boolean;
}

export class NftSession implements Nft {
  private child: Child | undefined;
  private stderr = '';
  private stdout = '';
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
    const run = () =>
      line.length > MAX_LINE ? this.fallback.apply(tx, context) : this.send(line, context, false).then(() => undefined);
    return this.enqueue(run);
  }

  listTable(family: string, name: string): Promise<unknown[] | undefined> {
    const context = `list table ${family} ${name}`;
    const run = async () => {
      let json: string | undefined;
      try {
        json = await this.send(`list table ${family} ${name}`, context, true);
      } catch (err) {
        // nft says "No such file or directory" for a missing table; anything else is a real failure.
        if (/No such file or directory/.test((err as Error).message)) return undefined;
        throw err;
      }
      const parsed = JSON.parse(json ?? '{}') as { nftables?: unknown[] };
      return parsed.nftables ?? [];
    };
    return this.enqueue(run);
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run, run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  close(): void {
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  private start(): Child {
    const child = (this.opts.spawn ?? spawnChild)({
      argv: ['nft', '-j', '-i'],
      ...(this.opts.netns ? { netns: this.opts.netns } : {}),
      context: 'nft -i session',
      stdin: true,
      stdout: true,
    });
    this.stderr = '';
    this.stdout = '';
    child.onStdout((text) => {
      if (this.child !== child) return;
      this.stdout += text;
      this.check();
    });
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

  private send(line: string, context: string, listing: boolean): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const child = this.child ?? this.start();
      const seq = ++this.seq;
      const timer = setTimeout(() => {
        if (this.child === child) this.child = undefined;
        this.finish(new Error(`${context}: nft -i did not answer within ${this.timeoutMs} ms`));
        child.kill('SIGKILL');
      }, this.timeoutMs);
      this.inFlight = { seq, child, context, listing, resolve, reject, timer, markerSeen: false };
      this.stderr = '';
      this.stdout = '';
      child.write(`${line}\nlist set inet ${MARKER_TABLE} m${seq}\n`);
    });
  }

  /**
   * Settles what is in flight once its marker's error has arrived (and, for a listing nft did not
   * refuse, its JSON line: stdout and stderr are separate pipes, so either may be read first).
   */
  private check(): void {
    const p = this.inFlight;
    if (!p) return;
    if (!p.markerSeen) {
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
      if (before) {
        this.finish(new Error(`${p.context}: nft: ${before}`));
        return;
      }
      p.markerSeen = true;
    }
    if (!p.listing) {
      this.finish(undefined);
      return;
    }
    const nl = this.stdout.indexOf('\n');
    if (nl < 0) return;
    const json = this.stdout.slice(0, nl);
    this.stdout = this.stdout.slice(nl + 1);
    this.finish(undefined, json);
  }

  private finish(err: Error | undefined, json?: string): void {
    const p = this.inFlight;
    if (!p) return;
    this.inFlight = undefined;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(json);
  }
}
