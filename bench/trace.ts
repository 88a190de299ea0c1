/**
 * Benchmark of `weft trace` (issue 13): how long one trace takes from the command's start to
 * the printed path, on a 3-node lab (vxlan) with examples/xyz, for a pod to a pod on another
 * node and through a ClusterIP; beside it the same-run baseline of the probe alone (hping3
 * sending the same one packet from the same pod through `weft exec`, no tracing), so the ratio
 * says what following the packet through every namespace costs. Medians and worst of N runs.
 * Prints a table and writes bench/results/trace.json. Not a test: it asserts nothing about time.
 *
 * Run (as root): npm run build && node dist/bench/trace.js
 */

import { performance } from 'node:perf_hooks';
import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';

const LAB = 'btrace';
const RUNS = Number(process.env.WEFT_BENCH_TRACE_RUNS ?? 10);
const { weft, teardown } = benchLabs('trace');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const timed = (f: () => unknown): number => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

const SERVICE =
  'apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: z }\n' +
  'spec: { selector: { pod: c }, ports: [{ port: 80, targetPort: 80 }] }\n';

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const results: Record<string, unknown> = {};
  try {
    weft(['lab', 'up', '--name', LAB, '--dns-replicas', '0']);
    weft(['apply', '--lab', LAB, '-f', 'examples/xyz']);
    weft(['apply', '--lab', LAB, '-f', '-'], SERVICE);
    for (let i = 0; i < 100; i++) {
      const pods = JSON.parse(weft(['get', 'pods', '-A', '--lab', LAB, '-o', 'json'])) as {
        items: Array<{ status: { phase?: string } }>;
      };
      if (pods.items.length === 9 && pods.items.every((p) => p.status.phase === 'Running')) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    const target = (
      JSON.parse(weft(['get', 'pods', '-n', 'z', '--lab', LAB, '-o', 'json'])) as {
        items: Array<{ metadata: { name: string }; status: { podIP: string } }>;
      }
    ).items.find((p) => p.metadata.name === 'c')!.status.podIP;
    for (const [what, to] of [
      ['pod to pod on another node', 'z/c'],
      ['pod through a ClusterIP', 'service/z/web'],
    ] as const) {
      const traceMs: number[] = [];
      const probeMs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        // Alternating, so drift in the machine's load falls on both alike.
        probeMs.push(
          timed(() =>
            weft(['exec', '--lab', LAB, '-n', 'x', 'a', '--', 'hping3', '-c', '1', '-S', '-p', '80', target]),
          ),
        );
        traceMs.push(timed(() => weft(['trace', '--lab', LAB, 'x/a', to, '--port', '80'])));
      }
      const ratio = median(traceMs) / median(probeMs);
      results[what] = { runs: RUNS, traceMs, probeMs, ratio };
      rows.push({
        what: `weft trace, ${what}`,
        weft: `median ${median(traceMs).toFixed(0)} ms, worst ${Math.max(...traceMs).toFixed(0)} ms`,
        baseline: `median ${median(probeMs).toFixed(0)} ms: the probe alone (weft exec hping3)`,
        ratio: ratio.toFixed(2),
        note: `${RUNS} runs; 3 nodes, 9 pods: 12 namespaces traced`,
      });
    }
  } finally {
    teardown([LAB]);
  }
  report('trace', rows, results, [40, 34, 56, 8]);
}

await main();
