/**
 * Benchmark of the lab (issue 4), each figure beside a baseline measured in the same run:
 * - bring-up of 3, 20 and 50 nodes (`weft lab up`, until every node is Ready) against building
 *   the same underlay alone (namespaces and veths, no agent, no runner);
 * - pod creation rate for 200 pods on 10 nodes (`weft apply` until all are Running) against
 *   Debian's reference bridge + host-local plugins wiring 200 namespaces with the same
 *   parallelism (10 at a time, one per node);
 * - the full probe matrix for 81 and 400 pairs (`weft probe -A`) against the floor of starting
 *   one process per source pod inside its namespace;
 * - memory per node (agent + pod runner RSS) and per pod (runner RSS growth, and the machine's
 *   MemAvailable drop, which includes the kernel's namespaces, veths and sockets).
 * Prints a table and writes bench/results/lab.json. Not a test: it asserts nothing about time.
 *
 * Run: npm run bench   (as root; labs named b3, b20, b50, bpods, bprobe under a temp root)
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { report, type BenchRow } from './report.js';
import { NodeExec } from '../src/adapters/exec.js';
import { SqliteObjectStore } from '../src/adapters/object-store-sqlite.js';
import { systemClock } from '../src/adapters/clock.js';
import { CniRuntime, type ConfList } from '../src/cni/runtime.js';
import { Underlay } from '../src/lab/underlay.js';
import { Netns } from '../test/support/netns.js';

/** Which parts to run: WEFT_BENCH_LAB=bringup,pods,probe (default all). */
const PARTS = new Set((process.env.WEFT_BENCH_LAB ?? 'bringup,pods,probe').split(','));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const REFERENCE_DIR = '/usr/lib/cni';
const root = mkdtempSync(join(tmpdir(), 'weft-bench-labs-'));
const env = { ...process.env, WEFT_LAB_ROOT: root };

function weft(args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env,
    input: input ?? '',
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`weft ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

async function timedAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function memAvailableKb(): number {
  return Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
}

function labRecord(name: string): { nodes: Array<{ agentPid: number; runnerPid: number }> } {
  return JSON.parse(readFileSync(join(root, name, 'lab.json'), 'utf8')) as {
    nodes: Array<{ agentPid: number; runnerPid: number }>;
  };
}

function podsManifest(ns: string, count: number): string {
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`];
  for (let i = 0; i < count; i++) {
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: { name: p${i}, namespace: ${ns} }\nspec: { containers: [{ name: s, ports: [{ containerPort: 80 }, { containerPort: 80, protocol: UDP }] }] }\n`,
    );
  }
  return docs.join('---\n');
}

async function waitRunning(name: string, count: number): Promise<void> {
  const store = new SqliteObjectStore(join(root, name, 'objects.db'), systemClock);
  try {
    for (;;) {
      const pods = await store.list('Pod');
      const failed = pods.find((p) => p.object.status?.phase === 'Failed');
      if (failed)
        throw new Error(
          `pod ${failed.object.metadata.namespace}/${failed.object.metadata.name} failed: ${failed.object.status?.message}`,
        );
      if (pods.filter((p) => p.object.status?.phase === 'Running').length >= count) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await store.close();
  }
}

/** The reference plugins wiring `count` namespaces, `parallel` at a time, each worker in its own node namespace. */
async function referencePods(count: number, parallel: number): Promise<number> {
  const fx = new Netns('weft-bench-ref-');
  try {
    const exec = new NodeExec();
    const dataDir = fx.tmpDir('ipam');
    const nodes = Array.from({ length: parallel }, (_, i) => fx.add(`n${i}`));
    const pods = Array.from({ length: count }, (_, i) => fx.add(`p${i}`));
    const t = performance.now();
    await Promise.all(
      nodes.map(async (node, w) => {
        const rt = new CniRuntime({ exec, binDirs: [REFERENCE_DIR], wrap: ['ip', 'netns', 'exec', node] });
        const list: ConfList = {
          cniVersion: '1.0.0',
          name: `ref${w}`,
          plugins: [
            {
              type: 'bridge',
              bridge: 'cni0',
              isDefaultGateway: true,
              hairpinMode: true,
              ipam: { type: 'host-local', subnet: `10.78.${w}.0/24`, dataDir },
            },
            { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          ],
        };
        for (let i = w; i < count; i += parallel) {
          await rt.add(list, { containerId: `ref-${i}`, netns: fx.path(pods[i]!), ifname: 'eth0' });
        }
      }),
    );
    return performance.now() - t;
  } finally {
    fx.cleanup();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/lab: run as root');
  const exec = new NodeExec();
  const rows: BenchRow[] = [];
  const results: Record<string, unknown> = { date: new Date().toISOString() };

  // Bring-up.
  const bringUp: Record<string, unknown> = {};
  for (const n of PARTS.has('bringup') ? [3, 20, 50] : []) {
    const name = `b${n}`;
    const up = timed(() => weft(['lab', 'up', '--name', name, '--nodes', String(n)]));
    const rec = labRecord(name);
    const agentKb = rec.nodes.reduce((a, x) => a + rssKb(x.agentPid), 0) / rec.nodes.length;
    const runnerKb = rec.nodes.reduce((a, x) => a + rssKb(x.runnerPid), 0) / rec.nodes.length;
    weft(['lab', 'down', '--name', name]);
    const u = new Underlay(exec, `weft-bench-ul${n}-`);
    const base = await timedAsync(async () => {
      const seg = await u.addSegment('ul', '10.99.0');
      for (let i = 1; i <= n; i++) await u.addNode(`n${i}`, seg, i);
    });
    await u.removeAll();
    const target = n === 3 ? 5_000 : n === 50 ? 60_000 : undefined;
    bringUp[`${n}`] = {
      labUpMs: up.ms,
      underlayOnlyMs: base.ms,
      agentRssKb: agentKb,
      runnerRssKb: runnerKb,
      targetMs: target,
    };
    console.error(
      `lab up ${n} nodes: ${(up.ms / 1000).toFixed(1)} s (underlay alone ${(base.ms / 1000).toFixed(1)} s)`,
    );
    rows.push({
      what: `lab up, ${n} nodes`,
      weft: `${(up.ms / 1000).toFixed(1)} s`,
      baseline: `${(base.ms / 1000).toFixed(1)} s underlay only`,
      ratio: `${(up.ms / base.ms).toFixed(1)}x`,
      note: target ? `target < ${target / 1000} s: ${up.ms < target ? 'met' : 'NOT met'}` : '',
    });
    if (n === 20)
      rows.push({
        what: 'memory per node (agent + runner RSS)',
        weft: `${((agentKb + runnerKb) / 1024).toFixed(0)} MiB`,
        baseline: '',
        ratio: '',
        note: `agent ${(agentKb / 1024).toFixed(0)} MiB, runner ${(runnerKb / 1024).toFixed(0)} MiB`,
      });
  }
  results.bringUp = bringUp;

  // 200 pods on 10 nodes.
  const PODS = 200;
  if (PARTS.has('pods')) {
    weft(['lab', 'up', '--name', 'bpods', '--nodes', '10']);
    const recPods = labRecord('bpods');
    const runnerBefore = recPods.nodes.reduce((a, x) => a + rssKb(x.runnerPid), 0);
    const memBefore = memAvailableKb();
    const create = await timedAsync(async () => {
      weft(['apply', '--lab', 'bpods', '--no-wait', '-f', '-'], podsManifest('bench', PODS));
      await waitRunning('bpods', PODS);
    });
    const runnerAfter = recPods.nodes.reduce((a, x) => a + rssKb(x.runnerPid), 0);
    const memAfter = memAvailableKb();
    weft(['lab', 'down', '--name', 'bpods']);
    const ref = await referencePods(PODS, 10);
    console.error(`${PODS} pods: ${(create.ms / 1000).toFixed(1)} s; reference plugins ${(ref / 1000).toFixed(1)} s`);
    const weftRate = PODS / (create.ms / 1000);
    const refRate = PODS / (ref / 1000);
    results.pods = {
      count: PODS,
      nodes: 10,
      weftMs: create.ms,
      weftPodsPerSec: weftRate,
      referenceMs: ref,
      referencePodsPerSec: refRate,
      runnerRssPerPodKb: (runnerAfter - runnerBefore) / PODS,
      memAvailableDropPerPodKb: (memBefore - memAfter) / PODS,
      targetMs: 30_000,
    };
    rows.push({
      what: `${PODS} pods on 10 nodes`,
      weft: `${weftRate.toFixed(1)} pods/s (${(create.ms / 1000).toFixed(1)} s)`,
      baseline: `${refRate.toFixed(1)} pods/s reference plugins`,
      ratio: `${(weftRate / refRate).toFixed(2)}x`,
      note: `target < 30 s: ${create.ms < 30_000 ? 'met' : 'NOT met'}`,
    });
    rows.push({
      what: 'memory per pod',
      weft: `${((memBefore - memAfter) / PODS).toFixed(0)} KiB`,
      baseline: '',
      ratio: '',
      note: `MemAvailable drop; runner RSS +${((runnerAfter - runnerBefore) / PODS).toFixed(0)} KiB/pod`,
    });
  }

  // Probe matrices.
  if (PARTS.has('probe')) {
    weft(['lab', 'up', '--name', 'bprobe', '--nodes', '3']);
    const probes: Record<string, unknown> = {};
    for (const count of [9, 20]) {
      weft(['apply', '--lab', 'bprobe', '-f', '-'], podsManifest(`m${count}`, count));
      const probe = timed(() => weft(['probe', '--lab', 'bprobe', '-n', `m${count}`, '-o', 'json']));
      const m = JSON.parse(probe.value) as { results: Array<{ connected: boolean }> };
      const connected = m.results.filter((r) => r.connected).length;
      const floor = await timedAsync(() =>
        Promise.all(
          Array.from({ length: count }, (_, i) =>
            exec.run({
              argv: [process.execPath, '-e', '0'],
              netns: `/var/run/netns/weft-lab-bprobe-pod.m${count}.p${i}`,
            }),
          ),
        ),
      );
      probes[`${count * count}`] = { pairs: count * count, connected, probeMs: probe.ms, processFloorMs: floor.ms };
      rows.push({
        what: `probe ${count * count} pairs`,
        weft: `${(probe.ms / 1000).toFixed(2)} s`,
        baseline: `${(floor.ms / 1000).toFixed(2)} s process floor`,
        ratio: `${(probe.ms / floor.ms).toFixed(1)}x`,
        note: `${connected}/${count * count} connected`,
      });
    }
    weft(['lab', 'down', '--name', 'bprobe']);
    results.probe = probes;
  }

  report('lab', rows, results, [34, 26, 34, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    for (const name of ['b3', 'b20', 'b50', 'bpods', 'bprobe'])
      spawnSync(process.execPath, [CLI, 'lab', 'down', '--name', name], { env });
    rmSync(root, { recursive: true, force: true });
  });
