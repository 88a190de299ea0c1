/**
 * The agent scenario, run once per datastore by test/agent-*.test.ts: a three-node cluster of
 * namespaces, `weft agent` as a real process in each node, pods made through the conflist each
 * agent writes. The backend starts as `first` and is switched to the other one half-way, as an
 * operator does by editing the stored net-conf and restarting the agents.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, CLI, waitFor, type ClusterNode, type Pod } from './cluster.js';
import { inNs, ipJson, nftObjects, requireRoot } from './netns.js';
import { ping, roundTrip, serve } from './traffic.js';
import type { Daemon } from '../../src/adapters/daemon.js';

export interface AgentSuiteOptions {
  title: string;
  prefix: string;
  first: 'vxlan' | 'host-gw';
  /** Store flags for `weft agent` and `weft net-conf`, known once the store is up. */
  storeArgs: () => string[];
  /** Starts the store (etcd) once the cluster's segment namespace exists; stops it after. */
  setup?: (segmentNs: string) => Promise<void>;
  teardown?: () => Promise<void>;
  /** What the store holds, for failure messages. */
  describeStore?: () => string;
}

export function agentSuite(o: AgentSuiteOptions): void {
  requireRoot();
  const work = `/tmp/weft-${o.prefix}test-${process.pid}`;
  const cluster = new Cluster(o.prefix, work);
  const timing = ['--lease-ttl', '4s', '--renew-margin', '2s', '--resync', '2s'];
  const second = o.first === 'vxlan' ? 'host-gw' : 'vxlan';
  const servers: Daemon[] = [];
  let pods: Pod[] = [];

  const netConf = (type: string): string => {
    const path = join(work, `net-conf-${type}.json`);
    writeFileSync(path, JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: type } }));
    return path;
  };
  const putNetConf = (file: string) => {
    // From the segment namespace, which reaches the store wherever it runs.
    const r = inNs(cluster.segment!.ns, [process.execPath, CLI, 'net-conf', 'put', ...o.storeArgs(), '-f', file]);
    assert.equal(r.status, 0, r.stderr);
  };
  const subnetOf = (n: ClusterNode) => /FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24/.exec(cluster.subnetEnv(n) ?? '')?.[1];
  const weftRoutes = (n: ClusterNode) =>
    ipJson<Array<{ dst: string; gateway: string; dev: string; flags: string[] }>>(n.ns, [
      'route',
      'show',
      'proto',
      '119',
    ]);

  function dumpState(): string {
    const out: string[] = [];
    for (const n of cluster.nodes) {
      out.push(
        `== ${n.name} ${n.ip}`,
        inNs(n.ns, ['ip', 'route']).stdout,
        inNs(n.ns, ['ip', 'neigh']).stdout,
        inNs(n.ns, ['bridge', 'fdb', 'show']).stdout,
      );
      out.push(`-- agent (exit ${n.agent?.child.exitCode}):`, ...(n.agent?.log.slice(-8) ?? []));
    }
    out.push(o.describeStore?.() ?? '', ...pods.map((p) => `${p.name} ${p.ip} on ${p.node.name}`));
    return out.join('\n');
  }

  async function startAll(): Promise<void> {
    for (const n of cluster.nodes) if (!n.agent) cluster.startAgent(n, o.storeArgs(), timing);
    for (const n of cluster.nodes) await waitFor(`subnet.env on ${n.name}`, () => cluster.subnetEnv(n), 20_000);
    for (const n of cluster.nodes)
      await waitFor(
        `routes to both peers on ${n.name}`,
        () => (weftRoutes(n).length === cluster.nodes.length - 1 ? true : undefined),
        20_000,
      );
  }

  function allPairsTalk(): void {
    try {
      for (const a of pods) {
        for (const b of pods) {
          if (a === b) continue;
          ping(a.ns, b.ip, 3);
          assert.match(roundTrip(a.ns, 'tcp', b.ip, 80), new RegExp(`weft ${b.name} 80`));
          assert.match(roundTrip(a.ns, 'udp', b.ip, 80), /payload-udp-80/);
        }
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${dumpState()}`);
    }
  }

  /** The kernel state of every node matches the backend's description. */
  function checkKernel(type: 'vxlan' | 'host-gw'): void {
    for (const n of cluster.nodes) {
      const devs = ipJson<Array<{ ifname: string; mtu: number; linkinfo: { info_data: Record<string, unknown> } }>>(
        n.ns,
        ['-d', 'link', 'show', 'type', 'vxlan'],
      );
      const routes = weftRoutes(n);
      const neigh = ipJson<Array<{ dst: string; lladdr: string; state: string[] }>>(n.ns, [
        'neigh',
        'show',
        'nud',
        'permanent',
      ]);
      const fdb = JSON.parse(inNs(n.ns, ['bridge', '-j', 'fdb', 'show']).stdout) as Array<{
        mac: string;
        dst?: string;
        ifname?: string;
      }>;
      if (type === 'vxlan') {
        assert.equal(devs.length, 1, `${n.name}: one vxlan device`);
        const d = devs[0]!;
        assert.equal(d.ifname, 'weft.1');
        assert.equal(d.linkinfo.info_data.id, 1);
        assert.equal(d.linkinfo.info_data.port, 8472);
        assert.equal(d.linkinfo.info_data.local, n.ip);
        assert.equal(d.linkinfo.info_data.learning, false);
        assert.equal(d.mtu, 1450);
        assert.match(cluster.subnetEnv(n)!, /FLANNEL_MTU=1450/);
      } else {
        assert.equal(devs.length, 0, `${n.name}: no vxlan device on host-gw`);
        assert.match(cluster.subnetEnv(n)!, /FLANNEL_MTU=1500/);
      }
      for (const peer of cluster.nodes.filter((p) => p !== n)) {
        const sub = subnetOf(peer)!;
        const r = routes.find((x) => x.dst === `${sub}.0/24`);
        assert.ok(r, `${n.name} routes ${sub}.0/24`);
        if (type === 'vxlan') {
          assert.equal(r.dev, 'weft.1');
          assert.equal(r.gateway, `${sub}.0`);
          assert.ok(r.flags.includes('onlink'));
          const nb = neigh.find((x) => x.dst === `${sub}.0`);
          assert.ok(nb, `${n.name} has a permanent neighbour for ${peer.name}'s VTEP`);
          assert.ok(
            fdb.some((f) => f.mac === nb.lladdr && f.dst === peer.ip),
            `${n.name} FDB maps ${nb.lladdr} to ${peer.ip}`,
          );
        } else {
          assert.equal(r.dev, 'eth0');
          assert.equal(r.gateway, peer.ip);
        }
      }
    }
  }

  before(async () => {
    await cluster.build(3);
    await o.setup?.(cluster.segment!.ns);
  });
  after(async () => {
    for (const s of servers) await s.stop();
    await o.teardown?.();
    await cluster.destroy();
  });

  describe(o.title, () => {
    test('a malformed net-conf: exit non-zero naming the field; nothing changes on the node or in the store', () => {
      const n = cluster.nodes[0]!;
      const cases: Array<[string, RegExp]> = [
        ['{"Network":"10.244.0.0/33"}', /Network: invalid CIDR/],
        ['{"Network":"10.244.0.0/16","SubnetLen":8}', /SubnetLen: 8 is too small/],
        [
          '{"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}}',
          /Backend\.Type: must be "vxlan", "host-gw", "udp" or "bgp"/,
        ],
        [
          '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","Port":70000}}',
          /Backend\.Port: must be between 1 and 65535/,
        ],
        ['{"Network":"10.244.0.0/16","Backend":{"VNI":16777216}}', /Backend\.VNI: must be between 0 and 16777215/],
      ];
      const linksBefore = ipJson(n.ns, ['link', 'show']).length;
      for (const [text, re] of cases) {
        const file = join(work, 'bad.json');
        writeFileSync(file, text);
        const r = inNs(
          n.ns,
          [
            process.execPath,
            CLI,
            'agent',
            ...o.storeArgs(),
            '--net-conf',
            file,
            '--iface',
            'eth0',
            '--run-dir',
            n.runDir,
            '--cni-conf-dir',
            n.cniConfDir,
          ],
          { timeoutMs: 20_000 },
        );
        assert.notEqual(r.status, 0, text);
        assert.match(r.stderr, re);
        const get = inNs(cluster.segment!.ns, [process.execPath, CLI, 'net-conf', 'get', ...o.storeArgs()]);
        assert.notEqual(get.status, 0, 'no config was stored');
        assert.match(get.stderr, /no network config is stored/);
      }
      assert.equal(ipJson(n.ns, ['link', 'show']).length, linksBefore, 'no link made');
      assert.equal(existsSync(join(n.runDir, 'subnet.env')), false, 'no subnet.env written');
      assert.deepEqual(
        nftObjects(n.ns).filter((x) => 'table' in x),
        [],
        'no nft table made',
      );
    });

    test(`${o.first}: distinct subnets, kernel state as described, every pod reaches every other`, async () => {
      putNetConf(netConf(o.first));
      await startAll();
      const subnets = cluster.nodes.map(subnetOf);
      assert.equal(new Set(subnets).size, 3, `distinct subnets: ${subnets.join(' ')}`);
      checkKernel(o.first);
      pods = [];
      for (const n of cluster.nodes) pods.push(await cluster.addPod(n, `p${n.name}`));
      for (const p of pods) servers.push(await serve(p.ns, p.name, ['tcp:80', 'udp:80']));
      for (const p of pods)
        assert.ok(p.ip.startsWith(`${subnetOf(p.node)}.`), `${p.name} has an address from its node's subnet`);
      allPairsTalk();
      // ip-masq: pod to pod keeps the pod's address; pod to outside the cluster network leaves
      // with its node's address.
      const outside = await serve(cluster.segment!.ns, 'outside', ['tcp:8080']);
      try {
        assert.match(
          roundTrip(pods[0]!.ns, 'tcp', '10.99.0.254', 8080),
          new RegExp(`from ${cluster.nodes[0]!.ip.replace(/\./g, '\\.')}\\n`),
        );
      } finally {
        await outside.stop();
      }
      assert.match(
        roundTrip(pods[0]!.ns, 'tcp', pods[1]!.ip, 80),
        new RegExp(`from ${pods[0]!.ip.replace(/\./g, '\\.')}\\n`),
      );
      const health = inNs(cluster.nodes[0]!.ns, [
        process.execPath,
        '-e',
        "fetch('http://127.0.0.1:9777/healthz').then(async r => { console.log(r.status, await r.text()); return fetch('http://127.0.0.1:9777/metrics') }).then(r => r.text()).then(t => console.log(t))",
      ]);
      assert.match(health.stdout, /^200 ok/);
      assert.match(health.stdout, /weft_peers 2/);
    });

    test('an agent restart while a TCP stream flows: no reconnect, no stall over 1 s, same subnet', async () => {
      const [a, b] = [pods[0]!, pods[1]!];
      const subnetBefore = cluster.subnetEnv(a.node);
      const server = inNs(b.ns, ['true']);
      void server;
      const iperfServer = await import('node:child_process').then(({ spawn }) =>
        spawn('ip', ['netns', 'exec', b.ns, 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' }),
      );
      try {
        await waitFor('iperf3 server', () =>
          inNs(b.ns, ['ss', '-ltn', 'sport = :5201']).stdout.includes('5201') ? true : undefined,
        );
        const client = import('node:child_process').then(
          ({ spawn }) =>
            new Promise<string>((resolve) => {
              const c = spawn(
                'ip',
                ['netns', 'exec', a.ns, 'iperf3', '-c', b.ip, '-p', '5201', '-t', '6', '-i', '0.5', '-b', '20M', '-J'],
                { stdio: ['ignore', 'pipe', 'pipe'] },
              );
              let out = '';
              c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
              c.on('exit', () => resolve(out));
            }),
        );
        await new Promise((r) => setTimeout(r, 2000));
        await cluster.stopAgent(a.node);
        cluster.startAgent(a.node, o.storeArgs(), timing);
        await waitFor('the restarted agent is healthy', () => {
          const h = inNs(a.node.ns, [
            process.execPath,
            '-e',
            "fetch('http://127.0.0.1:9777/healthz').then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))",
          ]);
          return h.status === 0 ? true : undefined;
        });
        const report = JSON.parse(await client) as {
          intervals: Array<{ sum: { bytes: number; start: number } }>;
          error?: string;
        };
        assert.equal(report.error, undefined, 'the stream ran to its end without an error (no reconnect)');
        const empty = report.intervals.filter((i) => i.sum.bytes === 0).map((i) => i.sum.start);
        assert.ok(report.intervals.length >= 10, 'the stream ran for its whole 6 s');
        // Intervals are 0.5 s: two empty ones in a row would be a stall of 1 s.
        for (let i = 1; i < report.intervals.length; i++) {
          assert.ok(
            !(report.intervals[i]!.sum.bytes === 0 && report.intervals[i - 1]!.sum.bytes === 0),
            `stall at ${empty.join(', ')} s`,
          );
        }
        assert.equal(cluster.subnetEnv(a.node), subnetBefore, 'the node kept its subnet');
      } finally {
        if (iperfServer.exitCode === null) iperfServer.kill();
      }
    });

    test(`backend switch ${o.first} → ${second} by the stored config and a restart: pods keep working, nothing of ${o.first} left`, async () => {
      for (const n of cluster.nodes) await cluster.stopAgent(n);
      putNetConf(netConf(second));
      for (const n of cluster.nodes) cluster.startAgent(n, o.storeArgs(), timing);
      for (const n of cluster.nodes) {
        await waitFor(
          `${second} state on ${n.name}`,
          () => {
            try {
              checkKernel(second);
              return true;
            } catch {
              return undefined;
            }
          },
          20_000,
        );
      }
      checkKernel(second);
      allPairsTalk();
    });

    test('a stopped node: within the lease TTL its routes (and FDB, neighbour) go from the others, nothing else changes', async () => {
      const gone = cluster.nodes[2]!;
      const goneSubnet = `${subnetOf(gone)}.0/24`;
      await cluster.stopAgent(gone, 'SIGKILL');
      const started = Date.now();
      for (const n of cluster.nodes.slice(0, 2)) {
        await waitFor(
          `${n.name} drops the route to ${goneSubnet}`,
          () => (weftRoutes(n).some((r) => r.dst === goneSubnet) ? undefined : true),
          15_000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${dumpState()}`);
        });
        assert.equal(
          weftRoutes(n).length,
          1,
          `the other peer keeps its route (gone: ${gone.name} ${goneSubnet})\n${dumpState()}`,
        );
        const fdb = JSON.parse(inNs(n.ns, ['bridge', '-j', 'fdb', 'show']).stdout) as Array<{ dst?: string }>;
        assert.equal(
          fdb.some((f) => f.dst === gone.ip),
          false,
          'no FDB entry to the stopped node',
        );
      }
      assert.ok(Date.now() - started < 4_000 + 3_000, 'gone within the TTL (4 s) plus one poll');
      ping(pods[0]!.ns, pods[1]!.ip, 3);
    });

    test("cleanup removes the agent's device, routes, nft table and files, and nothing else", async () => {
      const n = cluster.nodes[0]!;
      await cluster.stopAgent(n);
      const r = inNs(n.ns, [
        process.execPath,
        CLI,
        'agent',
        'cleanup',
        '--run-dir',
        n.runDir,
        '--cni-conf-dir',
        n.cniConfDir,
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(weftRoutes(n), []);
      assert.deepEqual(ipJson(n.ns, ['link', 'show', 'type', 'vxlan']), []);
      assert.equal(
        nftObjects(n.ns).some((x) => x.table?.name === 'weft-agent-masq'),
        false,
      );
      assert.equal(existsSync(join(n.runDir, 'subnet.env')), false);
      assert.equal(existsSync(join(n.cniConfDir, '10-weft.conflist')), false);
      assert.ok(ipJson(n.ns, ['link', 'show', 'cni0']).length === 1, "the pods' bridge (made by the CNI plugin) stays");
      assert.ok(ipJson(n.ns, ['route', 'show', 'default']).length === 1, "the node's own default route stays");
    });
  });
}
