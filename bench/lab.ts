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
 *   MemAvailable drop, which includes the kernel's namespaces, veths and sockets);
 * - idle CPU of a 50-node lab with 200 pods (agents, runners and supervisor, over 30 s) against
 *   as many idle Node processes measured the same way (issue 10).
 * Prints a table and writes bench/results/lab.json. Not a test: it asserts nothing about time.
 *
 * Run: npm run bench   (as root; labs named b3, b20, b50, bpods, bprobe, bidle under a temp root)
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn, spawnSync } from 'node:child_process';
import { benchLabs, podsManifest } from './bench-labs.js';
import { carryParts, report, type BenchRow } from './report.js';
import { NodeExec } from '../src/adapters/exec.js';
import { SqliteObjectStore } from '../src/adapters/object-store-sqlite.js';
import { systemClock } from '../src/adapters/clock.js';
import { CniRuntime, type ConfList } from '../src/cni/runtime.js';
import { Underlay } from '../src/lab/underlay.js';
import { Netns } from '../test/support/netns.js';

/** Which parts to run: WEFT_BENCH_LAB=bringup,pods,probe,idle (default all). */
const ALL_PARTS = ['bringup', 'pods', 'probe', 'idle'] as const;
const PARTS = new Set((process.env.WEFT_BENCH_LAB ?? ALL_PARTS.join(',')).split(','));
/** The key each part writes into the results. */
const RESULT_KEY: Record<(typeof ALL_PARTS)[number], string> = {
  bringup: 'bringUp',
  pods: 'pods',
  probe: 'probe',
  idle: 'idle',
};
const REFERENCE_DIR = '/usr/lib/cni';
const { root, weft, teardown } = benchLabs('labs');

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

function labRecord(name: string): { supervisorPid?: number; nodes: Array<{ agentPid: number; runnerPid: number }> } {
  return JSON.parse(readFileSync(join(root, name, 'lab.json'), 'utf8')) as {
    supervisorPid?: number;
    nodes: Array<{ agentPid: number; runnerPid: number }>;
  };
}

/** utime + stime of one process in clock ticks (fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after it start past the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/** Clock ticks per second (getconf CLK_TCK; 100 on Linux when getconf is missing). */
function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return r.status === 0 && n > 0 ? n : 100;
}

/** CPU-seconds each group of processes spends over `ms`. */
async function cpuOver(groups: Record<string, number[]>, ms: number): Promise<Record<string, number>> {
  const hz = clockTicks();
  const sum = (pids: number[]) => pids.reduce((a, pid) => a + cpuTicks(pid), 0);
  const before = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, sum(pids)]));
  await new Promise((r) => setTimeout(r, ms));
  return Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, (sum(pids) - before[k]!) / hz]));
}

/** Wait until every node of the lab reports Ready (`weft get nodes -o json`). */
async function waitNodesReady(name: string, count: number): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const doc = JSON.parse(weft(['get', 'nodes', '--lab', name, '-o', 'json'])) as {
      items?: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
    };
    const ready = (doc.items ?? []).filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
    if (ready >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`lab ${name}: nodes not all Ready after 2 min`);
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
  if (PARTS.has('bringup')) results.bringUp = bringUp;

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

  // Idle CPU of a 50-node lab with 200 pods (issue 10), against as many idle Node processes.
  if (PARTS.has('idle')) {
    const NODES = 50;
    const SETTLE_MS = 10_000;
    const WINDOW_MS = 30_000;
    weft(['lab', 'up', '--name', 'bidle', '--nodes', String(NODES)]);
    weft(['apply', '--lab', 'bidle', '--no-wait', '-f', '-'], podsManifest('idle', PODS));
    await waitRunning('bidle', PODS);
    await waitNodesReady('bidle', NODES);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const rec = labRecord('bidle');
    const groups = {
      agents: rec.nodes.map((n) => n.agentPid),
      runners: rec.nodes.map((n) => n.runnerPid),
      supervisor: rec.supervisorPid ? [rec.supervisorPid] : [],
    };
    const weftCpu = await cpuOver(groups, WINDOW_MS);
    weft(['lab', 'down', '--name', 'bidle']);
    const count = groups.agents.length + groups.runners.length;
    const idlers = Array.from({ length: count }, () =>
      spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }),
    );
    let baseCpu: number;
    try {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      baseCpu = (await cpuOver({ idle: idlers.map((c) => c.pid!) }, WINDOW_MS)).idle!;
    } finally {
      for (const c of idlers) c.kill();
    }
    const cores = (s: number) => s / (WINDOW_MS / 1000);
    const total = weftCpu.agents! + weftCpu.runners! + weftCpu.supervisor!;
    results.idle = {
      nodes: NODES,
      pods: PODS,
      windowMs: WINDOW_MS,
      processes: count + groups.supervisor.length,
      agentsCores: cores(weftCpu.agents!),
      runnersCores: cores(weftCpu.runners!),
      supervisorCores: cores(weftCpu.supervisor!),
      totalCores: cores(total),
      baselineProcesses: count,
      baselineCores: cores(baseCpu),
      targetCores: 0.1,
    };
    console.error(
      `idle ${NODES} nodes, ${PODS} pods: ${cores(total).toFixed(3)} cores (idle node ${cores(baseCpu).toFixed(3)})`,
    );
    rows.push({
      what: `idle CPU, ${NODES} nodes + ${PODS} pods`,
      weft: `${cores(total).toFixed(3)} cores`,
      baseline: `${cores(baseCpu).toFixed(3)} cores ${count} idle node`,
      ratio: baseCpu > 0 ? `${(total / baseCpu).toFixed(1)}x` : 'n/a',
      note: `agents ${cores(weftCpu.agents!).toFixed(3)}, runners ${cores(weftCpu.runners!).toFixed(3)}, supervisor ${cores(weftCpu.supervisor!).toFixed(3)}; target <= 0.1: ${cores(total) <= 0.1 ? 'met' : 'NOT met'}`,
    });
  }

  carryParts(
    'lab',
    ALL_PARTS.map((p) => RESULT_KEY[p]),
    (k) => ALL_PARTS.some((p) => RESULT_KEY[p] === k && PARTS.has(p)),
    results,
  );
  report('lab', rows, results, [34, 26, 34, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    teardown(['b3', 'b20', 'b50', 'bpods', 'bprobe', 'bidle']);
  });
