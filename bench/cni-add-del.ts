/**
 * Benchmark: how long a pod's network takes to set up and tear down with weft's plugins
 * (bridge + host-local) against Debian's reference Go plugins doing the same job, measured in the
 * same run on the same machine, one node namespace each, N pods in sequence; and against the
 * current reference release (containernetworking/plugins v1.10.0, built by scripts/build-peers.sh
 * into the peers' cache; "not measured", with the reason, where it is not built). weft is timed two
 * ways: each plugin exec'd on its own (the wrapper runs the bundled plugin: no agent on the node),
 * and through the node agent's CNI socket (as the lab's pods are made; see src/cni/server.ts).
 * Prints a table and writes bench/results/cni-add-del.json. Not a test: it asserts nothing about
 * time.
 *
 * Run: npm run bench   (as root; it makes and removes namespaces named weft-bench-*)
 * WEFT_BENCH_CPU_PROF=DIR: each socket server (warm-up, then the timed run) writes a V8 CPU profile
 * into DIR (node --cpu-prof), to see where the agent's side of a call spends its time.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { NodeExec } from '../src/adapters/exec.js';
import { CniRuntime, type ConfList } from '../src/cni/runtime.js';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../src/adapters/daemon.js';
import { Netns } from '../test/support/netns.js';
import { makeBinDir } from '../test/support/cni.js';
import { existsSync, symlinkSync } from 'node:fs';
import { CNI_PLUGINS_VERSION, referencePluginsDir } from '../src/lab/peer-flannel.js';

const PODS = Number(process.env.WEFT_BENCH_PODS ?? '20');
const CPU_PROF = process.env.WEFT_BENCH_CPU_PROF;

interface Stats {
  medianMs: number;
  p90Ms: number;
  meanMs: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { medianMs: at(0.5), p90Ms: at(0.9), meanMs: xs.reduce((a, b) => a + b, 0) / xs.length };
}

const SOCKET_SERVER = fileURLToPath(new URL('./cni-socket-server.js', import.meta.url));

async function run(
  fx: Netns,
  label: string,
  bridge: string,
  ipam: string,
  binDir: string,
  dataDir: string,
  viaSocket = false,
) {
  const node = fx.add(`${label}-node`);
  const socketPath = join(fx.tmpDir(`${label}-run`), 'cni.sock');
  const server = viaSocket
    ? await startDaemon(
        [
          'ip',
          'netns',
          'exec',
          node,
          process.execPath,
          ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []),
          SOCKET_SERVER,
          socketPath,
        ],
        {
          context: 'CNI socket server',
        },
      )
    : undefined;
  try {
    return await runPods(
      fx,
      label,
      node,
      bridge,
      ipam,
      binDir,
      dataDir,
      viaSocket ? { WEFT_CNI_SOCKET: socketPath } : { WEFT_CNI_SOCKET: join(fx.tmpDir(`${label}-none`), 'none.sock') },
    );
  } finally {
    await server?.stop();
  }
}

async function runPods(
  fx: Netns,
  label: string,
  node: string,
  bridge: string,
  ipam: string,
  binDir: string,
  dataDir: string,
  env: Record<string, string>,
) {
  const pods = Array.from({ length: PODS }, (_, i) => fx.add(`${label}-p${i}`));
  const list: ConfList = {
    cniVersion: '1.0.0',
    name: `bench-${label}`,
    plugins: [
      {
        type: bridge,
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        ipam: { type: ipam, subnet: '10.77.0.0/16', dataDir },
      },
    ],
  };
  const rt = new CniRuntime({
    exec: new NodeExec(),
    binDirs: [binDir],
    wrap: ['ip', 'netns', 'exec', node],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
  });
  const add: number[] = [];
  const del: number[] = [];
  for (const [i, p] of pods.entries()) {
    const att = { containerId: `bench-${label}-${i}`, netns: fx.path(p), ifname: 'eth0' };
    let t = performance.now();
    const r = await rt.add(list, att);
    add.push(performance.now() - t);
    t = performance.now();
    await rt.del(list, att, r);
    del.push(performance.now() - t);
  }
  return { add: stats(add), del: stats(del) };
}

async function main(): Promise<void> {
  const fx = new Netns('weft-bench-');
  try {
    const binDir = makeBinDir(fx.tmpDir('bin'));
    const dataDir = fx.tmpDir('ipam');
    // The current reference release beside Debian's, under its own names (the bridge finds its
    // IPAM plugin by type in the same directory).
    const current = referencePluginsDir();
    const currentMissing = ['bridge', 'host-local'].some((p) => !existsSync(join(current, p)))
      ? `reference plugins ${CNI_PLUGINS_VERSION} are not built in ${current} (run scripts/build-peers.sh)`
      : undefined;
    if (!currentMissing)
      for (const p of ['bridge', 'host-local']) symlinkSync(join(current, p), join(binDir, `cur-${p}`));
    // Warm-up: the first exec of each binary pays for page cache misses.
    await run(fx, 'warm', 'weft-bridge', 'weft-host-local', binDir, dataDir);
    await run(fx, 'warmref', 'bridge', 'host-local', binDir, dataDir);
    const ref = await run(fx, 'ref', 'bridge', 'host-local', binDir, dataDir);
    const weft = await run(fx, 'weft', 'weft-bridge', 'weft-host-local', binDir, dataDir);
    await run(fx, 'warmsock', 'weft-bridge', 'weft-host-local', binDir, dataDir, true);
    const socket = await run(fx, 'sock', 'weft-bridge', 'weft-host-local', binDir, dataDir, true);
    let cur: Awaited<ReturnType<typeof run>> | undefined;
    if (!currentMissing) {
      await run(fx, 'warmcur', 'cur-bridge', 'cur-host-local', binDir, dataDir);
      cur = await run(fx, 'cur', 'cur-bridge', 'cur-host-local', binDir, dataDir);
    } else console.log(`reference ${CNI_PLUGINS_VERSION}: not measured: ${currentMissing}`);
    const rows = [
      ['ADD median', ref.add.medianMs, weft.add.medianMs, socket.add.medianMs, cur?.add.medianMs],
      ['ADD p90', ref.add.p90Ms, weft.add.p90Ms, socket.add.p90Ms, cur?.add.p90Ms],
      ['DEL median', ref.del.medianMs, weft.del.medianMs, socket.del.medianMs, cur?.del.medianMs],
      ['DEL p90', ref.del.p90Ms, weft.del.p90Ms, socket.del.p90Ms, cur?.del.p90Ms],
    ] as const;
    console.log(
      `CNI ADD/DEL of one pod, bridge + host-local, ${PODS} pods in sequence (ratio = weft / Debian's reference; lower is better; last two columns: the reference ${CNI_PLUGINS_VERSION}, and weft's socket against it)`,
    );
    console.log(
      `${'metric'.padEnd(12)} ${'reference ms'.padStart(13)} ${'weft exec ms'.padStart(13)} ${'ratio'.padStart(7)} ${'weft socket ms'.padStart(15)} ${'ratio'.padStart(7)} ${`ref ${CNI_PLUGINS_VERSION} ms`.padStart(16)} ${'ratio'.padStart(7)}`,
    );
    for (const [name, r, w, k, c] of rows)
      console.log(
        `${name.padEnd(12)} ${r.toFixed(1).padStart(13)} ${w.toFixed(1).padStart(13)} ${(w / r).toFixed(2).padStart(7)} ${k.toFixed(1).padStart(15)} ${(k / r).toFixed(2).padStart(7)} ${(c === undefined ? 'not measured' : c.toFixed(1)).padStart(16)} ${(c === undefined ? '-' : (k / c).toFixed(2)).padStart(7)}`,
      );
    const out = {
      benchmark: 'cni-add-del',
      pods: PODS,
      date: new Date().toISOString(),
      reference: ref,
      weft,
      weftViaAgentSocket: socket,
      ratios: Object.fromEntries(rows.map(([n, r, w]) => [n, w / r])),
      socketRatios: Object.fromEntries(rows.map(([n, r, , k]) => [n, k / r])),
      referenceCurrent: cur
        ? { version: CNI_PLUGINS_VERSION, ...cur }
        : { version: CNI_PLUGINS_VERSION, notMeasured: currentMissing },
      /** weft exec and weft through the agent's socket, each over the current reference release. */
      currentRatios: cur
        ? Object.fromEntries(rows.map(([n, , w, k, c]) => [n, { exec: w / c!, socket: k / c! }]))
        : undefined,
      machine: 'shared 2-core VM (other helpers ran labs, builds and tests at the same time)',
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(join('bench/results', 'cni-add-del.json'), JSON.stringify(out, null, 2) + '\n');
    console.log('wrote bench/results/cni-add-del.json');
  } finally {
    fx.cleanup();
  }
}

await main();
