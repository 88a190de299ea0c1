/**
 * One `nft monitor` per network namespace, for `weft trace`: its lines as they come (trace
 * events parsed by src/core/trace/nft-monitor.ts), and a way to know it is listening before the
 * probe is sent. `nft monitor` prints nothing when it has subscribed; it does print the ruleset
 * changes made after that, so the tracer waits until this monitor has printed the trace table's
 * own `add table` line: from then on every trace event of this namespace reaches it.
 */

import { parseMonitorLine, type TraceEvent } from '../core/trace/nft-monitor.js';
import type { Child, ChildRequest } from '../ports/exec.js';
import { spawnChild } from './exec.js';

export class NftMonitor {
  private readonly child: Child;
  private partial = '';
  private readonly lines: string[] = [];
  private readonly waiters: Array<{ test: (line: string) => boolean; resolve: () => void }> = [];
  /** Trace events in the order nft printed them, with the time each arrived (performance.now()). */
  readonly events: Array<{ event: TraceEvent; at: number }> = [];

  constructor(
    readonly netns: string,
    spawn: (req: ChildRequest) => Child = spawnChild,
  ) {
    this.child = spawn({ argv: ['nft', 'monitor'], netns, stdout: true, context: `nft monitor in ${netns}` });
    this.child.onStdout((text) => this.take(text));
  }

  /** Resolves once a line containing `text` has been printed; rejects after timeoutMs or if nft exits. */
  async waitForLine(text: string, timeoutMs: number): Promise<void> {
    if (this.lines.some((l) => l.includes(text))) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ test: (l) => l.includes(text), resolve })),
        this.child.exited.then((err) => {
          throw new Error(`nft monitor in ${this.netns} ended: ${err.message}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`nft monitor in ${this.netns}: no "${text}" within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the monitor (by its PID, through the child handle) and waits for it. */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.child.exited;
  }

  private take(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line);
      const event = parseMonitorLine(line);
      if (event) this.events.push({ event, at: performance.now() });
      for (let i = this.waiters.length - 1; i >= 0; i--)
        if (this.waiters[i]!.test(line)) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }
}
