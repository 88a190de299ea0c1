/**
 * Drives the `weft` CLI against a lab of the test's own, as a user would from a shell: each call
 * is a real `weft` process. The lab's directory is under a temp root (WEFT_LAB_ROOT), its
 * namespaces carry the lab's own prefix, and leftovers of a previous run of the same test are
 * removed first with `weft lab down`.
 */

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, type CmdResult } from './netns.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

export interface PodDoc {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string; hostNetwork?: boolean };
  status: { phase: string; podIP?: string; hostIP?: string };
}

export interface NodeDoc {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { podCIDR?: string };
  status: { addresses: Array<{ type: string; address: string }>; conditions: Array<{ type: string; status: string }> };
}

export interface ProbeJson {
  port: number;
  protocol: string;
  pods: string[];
  results: Array<{ from: string; to: string; connected: boolean }>;
}

export class TestLab {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly name: string) {
    this.root = mkdtempSync(join(tmpdir(), `weft-labroot-${name}-`));
    this.env = { ...process.env, WEFT_LAB_ROOT: this.root, WEFT_LAB: name };
    // A previous run may have left this lab's namespaces (its root dir is gone, the prefix finds them).
    sh([process.execPath, CLI, 'lab', 'down', '--name', name], { env: this.env, timeoutMs: 60_000 });
  }

  get dir(): string {
    return join(this.root, this.name);
  }

  get prefix(): string {
    return `weft-lab-${this.name}-`;
  }

  /** Writes a file under the lab's temp root (removed with it) and returns its path. */
  file(name: string, text: string): string {
    const p = join(this.root, name);
    writeFileSync(p, text);
    return p;
  }

  /** Brings the lab up with the example cluster of namespaces x, y, z applied. */
  upWithExample(args: string[] = []): void {
    this.up(args);
    this.must(['apply', '-f', join(EXAMPLES, 'xyz')]);
  }

  weft(args: string[], opts: { input?: string; timeoutMs?: number } = {}): CmdResult {
    return sh([process.execPath, CLI, ...args], {
      env: this.env,
      timeoutMs: opts.timeoutMs ?? 180_000,
      ...(opts.input === undefined ? {} : { input: opts.input }),
    });
  }

  must(args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.weft(args, opts);
    if (r.status !== 0) throw new Error(`weft ${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /**
   * `weft lab up`. Without --dns-replicas in `args` the lab has no cluster DNS: the suites that are
   * not about DNS neither need its two pods nor want them in their pod lists and matrices.
   */
  up(args: string[] = []): string {
    const dns = args.includes('--dns-replicas') ? [] : ['--dns-replicas', '0'];
    return this.must(['lab', 'up', '--name', this.name, ...dns, ...args]);
  }

  down(): CmdResult {
    const r = this.weft(['lab', 'down', '--name', this.name], { timeoutMs: 120_000 });
    rmSync(this.root, { recursive: true, force: true });
    return r;
  }

  pods(): PodDoc[] {
    return (JSON.parse(this.must(['get', 'pods', '-A', '-o', 'json'])) as { items: PodDoc[] }).items;
  }

  nodes(): NodeDoc[] {
    return (JSON.parse(this.must(['get', 'nodes', '-o', 'json'])) as { items: NodeDoc[] }).items;
  }

  probe(args: string[]): ProbeJson {
    return JSON.parse(this.must(['probe', '-o', 'json', ...args])) as ProbeJson;
  }

  /** The PIDs of every process whose command line mentions the lab's root directory or names it with --lab (pod runners, relays). */
  processes(): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
        if (cmd.includes(this.root) || cmd.includes(` --lab ${this.name} `)) pids.push(Number(entry));
      } catch {
        continue; // The process ended while we looked.
      }
    }
    return pids;
  }
}
