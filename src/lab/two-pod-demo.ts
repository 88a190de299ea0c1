/**
 * `weft demo`: two pods on one node, wired by weft's CNI plugins exactly as a container runtime
 * wires them, then shown to work with real packets. Everything happens inside namespaces this
 * demo makes (prefix "weft-demo-"), which it removes at the end, also after a failure; the root
 * namespace is never touched.
 *
 * This is the README's main job until the multi-node lab lands.
 */

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeExec } from '../adapters/exec.js';
import { startDaemon, type Daemon } from '../adapters/daemon.js';
import { NamedNetns } from '../adapters/netns.js';
import type { CniResult } from '../core/cni/result.js';
import { installCni } from '../cni/install.js';
import { CniRuntime, type Attachment, type ConfList } from '../cni/runtime.js';

export interface DemoOptions {
  prefix: string;
  subnet: string;
  hostPort: number;
  out: (line: string) => void;
}

const LAB_DIR = fileURLToPath(new URL('.', import.meta.url));

export async function runTwoPodDemo(opts: DemoOptions): Promise<void> {
  const exec = new NodeExec();
  const netns = new NamedNetns(exec);
  const say = opts.out;
  const nodeNs = `${opts.prefix}node`;
  const pods = ['a', 'b'].map((n) => ({
    name: `pod-${n}`,
    ns: `${opts.prefix}pod-${n}`,
    containerId: `weft-demo-${n}`,
  }));
  const work = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  const binDir = join(work, 'bin');
  const dataDir = join(work, 'ipam');
  const daemons: Daemon[] = [];
  const added: Array<{ att: Attachment; result: CniResult }> = [];

  // A previous demo that was killed may have left its namespaces: remove them first.
  for (const name of netns.list()) if (name.startsWith(opts.prefix)) await netns.delete(name);

  const conflist: ConfList = {
    cniVersion: '1.1.0',
    name: 'weft-demo',
    plugins: [
      {
        type: 'weft-bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'weft-host-local', subnet: opts.subnet, routes: [{ dst: '0.0.0.0/0' }], dataDir },
      },
      { type: 'weft-portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
  const loopback: ConfList = { cniVersion: '1.1.0', name: 'weft-demo-lo', plugins: [{ type: 'weft-loopback' }] };
  const runtime = new CniRuntime({ exec, binDirs: [binDir], wrap: netns.wrap(nodeNs) });
  const inPod = (ns: string, argv: string[]) => exec.tryRun({ argv: [...netns.wrap(ns), ...argv] });

  // A failure of the demo itself is the one to report; cleanup problems are reported when it succeeded.
  let failed = false;
  let cleanupError: Error | undefined;
  try {
    say(`weft demo: two pods on one node, wired by weft's CNI plugins as a container runtime does it`);
    installCni({ binDir, prefix: 'weft-' });
    say(`  plugins       ${readdirSync(binDir).sort().join(' ')}  (in ${binDir})`);
    await netns.add(nodeNs);
    for (const p of pods) await netns.add(p.ns);
    say(`  namespaces    node ${nodeNs}, pods ${pods.map((p) => p.ns).join(', ')}`);

    const ips: string[] = [];
    for (const p of pods) {
      const att: Attachment = {
        containerId: p.containerId,
        netns: netns.path(p.ns),
        ifname: 'eth0',
        capabilityArgs:
          p.name === 'pod-b' ? { portMappings: [{ hostPort: opts.hostPort, containerPort: 80, protocol: 'tcp' }] } : {},
      };
      await runtime.add(loopback, { ...att, ifname: 'lo' });
      const result = await runtime.add(conflist, att);
      added.push({ att, result });
      const ip = result.ips?.[0];
      if (!ip) throw new Error(`ADD ${p.name}: the result has no address`);
      ips.push(ip.address.split('/')[0]!);
      const hostVeth = result.interfaces?.find((i) => !i.sandbox && i.name.startsWith('veth'))?.name ?? '?';
      say(`  ADD ${p.name}     eth0 ${ip.address} gateway ${ip.gateway ?? '-'}, host end ${hostVeth} on cni0`);
    }
    const [ipA, ipB] = ips as [string, string];
    const gateway = added[0]?.result.ips?.[0]?.gateway ?? '';

    const echo = join(LAB_DIR, 'echo-server.js');
    daemons.push(
      await startDaemon([...netns.wrap(pods[1]!.ns), process.execPath, echo, '--name', 'pod-b', 'tcp:80', 'udp:80'], {
        context: 'start pod-b server',
      }),
    );
    say(`  pod-b serves  80/TCP and 80/UDP (pid ${daemons[0]!.pid})`);

    const pingTo = async (label: string, ip: string) => {
      const r = await inPod(pods[0]!.ns, ['ping', '-c', '3', '-i', '0.2', '-W', '1', ip]);
      const summary = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
      if (r.exitCode !== 0) throw new Error(`ping ${label} (${ip}) failed: ${r.stdout.trim()} ${r.stderr.trim()}`);
      say(
        `  ping          pod-a → ${label} (${ip}): ${summary?.[2]}/${summary?.[1]} replies, avg ${rtt?.[1] ?? '?'} ms`,
      );
    };
    await pingTo('pod-b', ipB);
    await pingTo('gateway', gateway);

    const connect = join(LAB_DIR, 'connect.js');
    for (const proto of ['tcp', 'udp']) {
      const r = await inPod(pods[0]!.ns, [process.execPath, connect, proto, ipB, '80', '2000', 'hello-from-pod-a']);
      if (r.exitCode !== 0) throw new Error(`${proto} pod-a → pod-b:80 failed: ${r.stderr.trim()}`);
      say(
        `  ${proto.toUpperCase()}           pod-a → pod-b:80 answered ${JSON.stringify(r.stdout.trim().split('\n')[0])}`,
      );
    }
    const hp = await exec.tryRun({
      argv: [
        ...netns.wrap(nodeNs),
        process.execPath,
        connect,
        'tcp',
        gateway,
        String(opts.hostPort),
        '2000',
        'via-hostport',
      ],
    });
    if (hp.exitCode !== 0) throw new Error(`node → ${gateway}:${opts.hostPort} (hostPort) failed: ${hp.stderr.trim()}`);
    say(
      `  hostPort      node ${gateway}:${opts.hostPort} → pod-b:80 answered ${JSON.stringify(hp.stdout.trim().split('\n')[0])}`,
    );
    void ipA;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    for (const d of daemons) await d.stop();
    const problems: string[] = [];
    for (const { att, result } of added.reverse()) {
      try {
        await runtime.del(conflist, att, result);
        await runtime.del(loopback, { ...att, ifname: 'lo' });
        say(
          `  DEL ${att.containerId.replace('weft-demo-', 'pod-')}     veth, address reservation and nft elements removed`,
        );
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    for (const name of netns.list()) if (name.startsWith(opts.prefix)) await netns.delete(name);
    rmSync(work, { recursive: true, force: true });
    say(`  cleaned up    namespaces and ${work} removed`);
    if (problems.length > 0) {
      const text = `cleanup: ${problems.join('; ')}`;
      if (failed) say(`  ${text}`);
      else cleanupError = new Error(text);
    }
  }
  if (cleanupError) throw cleanupError;
}
