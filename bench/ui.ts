/**
 * Benchmark of `weft ui` (issue 13), in the browser (Debian's chromium through playwright-core,
 * by its executable path), on a 3-node lab (vxlan) with examples/xyz:
 *
 * - first paint: navigation start → the topology drawn with every pod of the lab, read from the
 *   page's own performance mark `weft:topology-drawn` (src/ui/app.js), each run in a fresh browser
 *   context (nothing cached). Baseline, same run, same server: a static page load, the page's
 *   stylesheet loaded as a document (navigation start → its load event), also in a fresh context.
 * - update latency: a `weft apply` of a new pod at t0 → the pod first drawn on the open page (the
 *   page notes when each pod was first drawn, on the same clock), p50 and p99 over N applies.
 *   Baseline, same run: t0 → the pod readable in the lab's store (what `weft get` reads), asked
 *   every 5 ms while the apply runs; the difference is the dashboard's own path (its poll of the
 *   store revision, the snapshot, the event stream, the drawing).
 *
 * Prints a table and writes bench/results/ui.json. Not a test: it asserts nothing about time.
 * Run (as root): npm run build && node dist/bench/ui.js (WEFT_BENCH_UI_RUNS: first paints,
 * default 10; WEFT_BENCH_UI_APPLIES: applies, default 20; WEFT_BENCH_UI_LAB: the lab's name).
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';
import { LabClient } from '../src/lab/client.js';
import { NodeExec } from '../src/adapters/exec.js';

const LAB = process.env.WEFT_BENCH_UI_LAB ?? 'bui';
const RUNS = Number(process.env.WEFT_BENCH_UI_RUNS ?? 10);
const APPLIES = Number(process.env.WEFT_BENCH_UI_APPLIES ?? 20);
const CHROMIUM = '/usr/bin/chromium';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const { root, env, weft, teardown } = benchLabs('ui');

/** The nearest-rank percentile p (0-100) of xs. */
const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;

/** Polls `check` until it returns a value (the bench's own wait-for-condition). */
async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 100,
) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `weft apply -f -` of `manifest`, started now; resolves when it exited (rejects when it failed). */
function applyAsync(manifest: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'apply', '--lab', LAB, '-f', '-'], {
      env,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(Date.now()) : reject(new Error(`weft apply: exit ${code}: ${stderr}`)),
    );
    child.stdin.end(manifest);
  });
}

interface PodList {
  items: Array<{ metadata: { name: string }; status: { phase?: string } }>;
}

const pod = (name: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: x, labels: { bench: ui } }\n` +
  'spec: { containers: [{ name: serve, image: weft-lab-echo, ports: [{ containerPort: 80, protocol: TCP }] }] }\n';

/** One navigation in a fresh context: the page's mark (or the load event) in ms after navigation start. */
async function firstPaint(browser: Browser, url: string, pods: number): Promise<number> {
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  try {
    const page = await context.newPage();
    await page.goto(url);
    const mark = await page.waitForFunction(
      () => {
        const m = performance.getEntriesByName('weft:topology-drawn')[0] as
          | { startTime: number; detail: { pods: number } }
          | undefined;
        return m ? { at: m.startTime, pods: m.detail.pods } : undefined;
      },
      undefined,
      { timeout: 60_000 },
    );
    const { at, pods: drawn } = (await mark.jsonValue())!;
    if (drawn !== pods) throw new Error(`the first drawing had ${drawn} pods, the lab ${pods}`);
    return at;
  } finally {
    await context.close();
  }
}

async function staticLoad(browser: Browser, url: string): Promise<number> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${url}style.css`, { waitUntil: 'load' });
    // The browser's Navigation Timing entry (the DOM's type, which this Node-typed file lacks).
    // Awaited here, before the finally closes the context under it.
    return await page.evaluate(
      () =>
        (
          performance as unknown as { getEntriesByType: (t: string) => Array<{ loadEventEnd: number }> }
        ).getEntriesByType('navigation')[0]!.loadEventEnd,
    );
  } finally {
    await context.close();
  }
}

/** When the open page first drew pod x/NAME (epoch ms), once it has. */
const drawnAt = (page: Page, name: string) =>
  page.evaluate(
    (id) => (globalThis as unknown as { weft: { drawnAt: Map<string, number> } }).weft.drawnAt.get(id),
    `x/${name}`,
  );

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const results: Record<string, unknown> = { date: new Date().toISOString() };
  let server: ReturnType<typeof spawn> | undefined;
  let browser: Browser | undefined;
  try {
    weft(['lab', 'up', '--name', LAB, '--dns-replicas', '0']);
    weft(['apply', '--lab', LAB, '-f', 'examples/xyz']);
    const pods = await until('every example pod running', () => {
      const list = JSON.parse(weft(['get', 'pods', '-A', '--lab', LAB, '-o', 'json'])) as PodList;
      return list.items.length === 9 && list.items.every((p) => p.status.phase === 'Running')
        ? list.items.length
        : undefined;
    });
    server = spawn(process.execPath, [CLI, 'ui', '--lab', LAB, '--port', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await until('weft ui to print its address', () => /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

    // First paint, alternating with the baseline so drift in the machine's load falls on both.
    await firstPaint(browser, url, pods); // warm the server's file reads and the browser
    const paint: number[] = [];
    const load: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      load.push(await staticLoad(browser, url));
      paint.push(await firstPaint(browser, url, pods));
    }
    results.firstPaint = { runs: RUNS, pods, paintMs: paint, staticLoadMs: load };
    rows.push({
      what: `first paint (topology with all ${pods} pods)`,
      weft: `p50 ${ms(percentile(paint, 50))}, p99 ${ms(percentile(paint, 99))}`,
      baseline: `p50 ${ms(percentile(load, 50))}: a static page of the same server`,
      ratio: (percentile(paint, 50) / percentile(load, 50)).toFixed(1),
      note: `${RUNS} fresh contexts; navigation start → the page's mark`,
    });

    // Update latency: one open page, a pod applied at t0, the time it is first drawn.
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName('weft:topology-drawn').length > 0);
    const visible: number[] = [];
    const stored: number[] = [];
    const applied: number[] = [];
    const lab = LabClient.open(root, LAB, new NodeExec());
    try {
      for (let i = 0; i < APPLIES; i++) {
        const name = `bench-${i}`;
        const t0 = Date.now();
        const exited = applyAsync(pod(name));
        // The store as `weft get` reads it, asked every 5 ms while the apply runs.
        const inStore = await until(
          `x/${name} in the store`,
          async () => ((await lab.store.get({ kind: 'Pod', namespace: 'x', name })) ? Date.now() : undefined),
          30_000,
          5,
        );
        const exitedAt = await exited;
        const seen = await until(`x/${name} drawn on the page`, () => drawnAt(page, name), 30_000);
        visible.push(seen - t0);
        stored.push(inStore - t0);
        applied.push(exitedAt - t0);
      }
    } finally {
      await lab.close();
    }
    await context.close();
    const after = visible.map((v, i) => v - stored[i]!);
    results.update = {
      applies: APPLIES,
      visibleMs: visible,
      storedMs: stored,
      applyExitMs: applied,
      afterStoreMs: after,
    };
    rows.push({
      what: 'update latency (apply → pod on the page)',
      weft: `p50 ${ms(percentile(visible, 50))}, p99 ${ms(percentile(visible, 99))}`,
      baseline: `p50 ${ms(percentile(stored, 50))}, p99 ${ms(percentile(stored, 99))}: the pod readable in the store`,
      ratio: (percentile(visible, 50) / percentile(stored, 50)).toFixed(2),
      note: `${APPLIES} applies; the page p50 ${ms(percentile(after, 50))} / p99 ${ms(percentile(after, 99))} after the store (the server polls every 300 ms); weft apply exits at p50 ${ms(percentile(applied, 50))}`,
    });
  } finally {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    teardown([LAB]);
  }
  report('ui', rows, results, [44, 26, 60, 7]);
}

await main();
