/**
 * weft's portmap plugin against the real kernel, with real traffic. Namespaces (prefix weft-pm-):
 *
 *   ext ──veth── node (eth0 192.168.77.1/24 + 192.168.78.1/24 + fd77::1/64) ── cni0 ── pod1, pod2
 *
 * Pods are wired by the reference bridge + host-local (Debian's containernetworking-plugins),
 * and their ADD result is the prevResult given to `weft-portmap`, as in a conflist. Every plugin
 * runs inside the node namespace. The pods run the lab's port server; clients run in ext (from
 * outside), in node (the node itself, incl. 127.0.0.1) and in the pod (hairpin).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Daemon } from '../src/adapters/daemon.js';
import { Netns, inNs, must, mustInNs } from './support/netns.js';
import { invoke, makeBinDir, mustAdd, type PluginRun } from './support/cni.js';
import { canReach, roundTrip, serve } from './support/traffic.js';

const fx = new Netns('weft-pm-');
const NODE_IP = '192.168.77.1';
const NODE_IP2 = '192.168.78.1';
const NODE_IP6 = 'fd77::1';
const FOREIGN_TABLE =
  'table inet other {\n\tset s { type ipv4_addr; elements = { 1.2.3.4 } }\n\tchain c { type filter hook input priority 0; policy accept; tcp dport 5555 counter; }\n}\n';

let node = '';
let ext = '';
let binDir = '';
let dataDir = '';
let lockDir = '';
const pods: Record<string, { ns: string; containerId: string; result: Record<string, unknown> }> = {};
const servers: Daemon[] = [];

function bridgeConfig(): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'pmnet',
    type: 'bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: false,
    // With br_netfilter loaded (as on Kubernetes nodes and this machine), a pod's packet DNATed
    // back to itself is bridged out of the port it came in on, which the bridge allows only in
    // hairpin mode: the same reason kubelet asks for hairpin-veth. Portmap cannot set it.
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.244.7.0/24' }], [{ subnet: 'fd00:77:7::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      dataDir,
    },
  };
}

function portmapConfig(
  opts: {
    mappings?: unknown[];
    prevResult?: unknown;
    network?: string;
    version?: string;
    extra?: Record<string, unknown>;
  } = {},
): Record<string, unknown> {
  return {
    cniVersion: opts.version ?? '1.0.0',
    name: opts.network ?? 'pmnet',
    type: 'portmap',
    capabilities: { portMappings: true },
    snat: true,
    ...(opts.mappings ? { runtimeConfig: { portMappings: opts.mappings } } : {}),
    ...(opts.prevResult ? { prevResult: opts.prevResult } : {}),
    ...opts.extra,
  };
}

function portmap(
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS',
  containerId: string,
  config: Record<string, unknown>,
  podNs?: string,
): PluginRun {
  return invoke({
    nodeNs: node,
    binDir,
    plugin: 'weft-portmap',
    command,
    config,
    containerId,
    ...(podNs ? { netns: fx.path(podNs) } : {}),
    envOverrides: { WEFT_LOCK_DIR: lockDir },
  });
}

function mustSucceed(r: PluginRun, what: string): PluginRun {
  assert.equal(r.status, 0, `${what}: ${r.stdout} ${r.stderr}`);
  return r;
}

function ruleset(): string {
  return mustInNs(node, ['nft', 'list', 'ruleset']);
}

/** Our table's elements, as `nft list table` prints them (one line per element), or undefined when absent. */
function portmapTable(): string | undefined {
  const r = inNs(node, ['nft', 'list', 'table', 'inet', 'weft-portmap']);
  return r.status === 0 ? r.stdout : undefined;
}

/** Retries `fn` until it stops throwing (fresh IPv6 addresses are briefly tentative). */
async function eventually<T>(fn: () => T, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

before(async () => {
  binDir = makeBinDir(fx.tmpDir('bin'));
  dataDir = fx.tmpDir('ipam');
  lockDir = fx.tmpDir('lock');
  node = fx.add('node');
  ext = fx.add('ext');
  // Made directly inside the namespaces: the root namespace never sees the pair.
  must(['ip', '-n', node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ext0', 'netns', ext]);
  for (const [ns, dev, addrs] of [
    [node, 'eth0', [`${NODE_IP}/24`, `${NODE_IP2}/24`, `${NODE_IP6}/64`]],
    [ext, 'ext0', ['192.168.77.2/24', '192.168.78.2/24', 'fd77::2/64']],
  ] as const) {
    for (const a of addrs) must(['ip', '-n', ns, 'addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : [])]);
    must(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
  const r = inNs(node, ['nft', '-f', '-'], { input: FOREIGN_TABLE });
  assert.equal(r.status, 0, r.stderr);
  for (const [name, containerId] of [
    ['pod1', 'pm-c1'],
    ['pod2', 'pm-c2'],
  ] as const) {
    const ns = fx.add(name);
    const result = mustAdd({
      nodeNs: node,
      binDir,
      plugin: 'bridge',
      config: bridgeConfig(),
      containerId,
      netns: fx.path(ns),
    });
    pods[name] = { ns, containerId, result };
    servers.push(await serve(ns, name, ['tcp:7000', 'udp:7001']));
  }
});

after(async () => {
  for (const s of servers) await s.stop();
  fx.cleanup();
});

describe('weft portmap', () => {
  let foreignBefore = '';

  test('bad input is refused with code 7 naming the field, and changes nothing', () => {
    foreignBefore = mustInNs(node, ['nft', 'list', 'table', 'inet', 'other']);
    const before = ruleset();
    const pod = pods.pod1!;
    const cases: Array<[string, unknown[], RegExp]> = [
      [
        'hostPort 0',
        [{ hostPort: 0, containerPort: 7000, protocol: 'tcp' }],
        /runtimeConfig\.portMappings\[0\]\.hostPort: must be 1-65535/,
      ],
      [
        'hostPort 65536',
        [
          { hostPort: 8080, containerPort: 7000 },
          { hostPort: 65536, containerPort: 7000 },
        ],
        /runtimeConfig\.portMappings\[1\]\.hostPort: must be 1-65535/,
      ],
      [
        'unknown protocol',
        [{ hostPort: 8080, containerPort: 7000, protocol: 'icmp' }],
        /runtimeConfig\.portMappings\[0\]\.protocol: must be one of tcp, udp, sctp/,
      ],
      [
        'bad hostIP',
        [{ hostPort: 8080, containerPort: 7000, hostIP: 'node-1' }],
        /runtimeConfig\.portMappings\[0\]\.hostIP: invalid IP address/,
      ],
    ];
    for (const [name, mappings, message] of cases) {
      const r = portmap('ADD', pod.containerId, portmapConfig({ mappings, prevResult: pod.result }), pod.ns);
      assert.equal(r.status, 1, name);
      assert.equal(r.json?.code, 7, `${name}: ${r.stdout}`);
      assert.match(String(r.json?.msg), message, name);
    }
    const noPrev = portmap(
      'ADD',
      pod.containerId,
      portmapConfig({ mappings: [{ hostPort: 8080, containerPort: 7000 }] }),
      pod.ns,
    );
    assert.equal(noPrev.json?.code, 7);
    assert.match(String(noPrev.json?.msg), /prevResult is required/);
    const conditions = portmap(
      'ADD',
      pod.containerId,
      portmapConfig({
        mappings: [{ hostPort: 8080, containerPort: 7000 }],
        prevResult: pod.result,
        extra: { conditionsV4: ['-s', '1.2.3.4'] },
      }),
      pod.ns,
    );
    assert.equal(conditions.json?.code, 2);
    assert.equal(ruleset(), before);
  });

  test('ADD without portMappings passes prevResult through and touches no nft', () => {
    const pod = pods.pod1!;
    const r = mustSucceed(portmap('ADD', pod.containerId, portmapConfig({ prevResult: pod.result }), pod.ns), 'ADD');
    assert.deepEqual(r.json?.ips, pod.result.ips);
    assert.deepEqual(r.json?.interfaces, pod.result.interfaces);
    assert.equal(portmapTable(), undefined);
  });

  test('ADD maps hostPorts: a client outside the node reaches the pod over TCP and UDP, IPv4 and IPv6', async () => {
    const pod = pods.pod1!;
    const mappings = [
      { hostPort: 8080, containerPort: 7000, protocol: 'TCP' },
      { hostPort: 8053, containerPort: 7001, protocol: 'udp' },
    ];
    const r = mustSucceed(
      portmap('ADD', pod.containerId, portmapConfig({ mappings, prevResult: pod.result }), pod.ns),
      'ADD pod1',
    );
    assert.deepEqual(r.json, { ...pod.result, dns: pod.result.dns ?? {} }, 'ADD outputs prevResult unchanged');
    assert.equal(r.stderr, '', 'nothing to complain about (the UDP conntrack flush included)');
    assert.match(roundTrip(ext, 'tcp', NODE_IP, 8080), /weft pod1 7000/);
    assert.match(roundTrip(ext, 'tcp', NODE_IP2, 8080), /weft pod1 7000/, 'any local address');
    assert.match(roundTrip(ext, 'udp', NODE_IP, 8053), /payload-udp-8053/);
    assert.match(await eventually(() => roundTrip(ext, 'tcp', NODE_IP6, 8080)), /weft pod1 7000/);
    assert.match(await eventually(() => roundTrip(ext, 'udp', NODE_IP6, 8053)), /payload-udp-8053/);
  });

  test('the node itself reaches the pod through its own addresses and 127.0.0.1 (route_localnet on cni0)', async () => {
    assert.match(roundTrip(node, 'tcp', NODE_IP, 8080), /weft pod1 7000/);
    assert.match(roundTrip(node, 'udp', NODE_IP, 8053), /payload-udp-8053/);
    assert.match(roundTrip(node, 'tcp', '127.0.0.1', 8080), /weft pod1 7000/);
    assert.match(roundTrip(node, 'udp', '127.0.0.1', 8053), /payload-udp-8053/);
    assert.match(await eventually(() => roundTrip(node, 'tcp', NODE_IP6, 8080)), /weft pod1 7000/);
    assert.equal(mustInNs(node, ['sysctl', '-n', 'net.ipv4.conf.cni0.route_localnet']).trim(), '1');
  });

  test('hairpin: the pod reaches itself through node-ip:hostPort (masqueraded)', async () => {
    const pod = pods.pod1!;
    assert.match(await eventually(() => roundTrip(pod.ns, 'tcp', NODE_IP, 8080)), /weft pod1 7000/);
    assert.match(roundTrip(pod.ns, 'udp', NODE_IP, 8053), /payload-udp-8053/);
    assert.match(await eventually(() => roundTrip(pod.ns, 'tcp', NODE_IP6, 8080)), /weft pod1 7000/);
    // A neighbour on the same bridge is hairpin traffic too.
    assert.match(await eventually(() => roundTrip(pods.pod2!.ns, 'tcp', NODE_IP, 8080)), /weft pod1 7000/);
  });

  test('CHECK passes, and every element is tagged with the attachment', () => {
    const pod = pods.pod1!;
    const mappings = [
      { hostPort: 8080, containerPort: 7000, protocol: 'tcp' },
      { hostPort: 8053, containerPort: 7001, protocol: 'udp' },
    ];
    mustSucceed(
      portmap('CHECK', pod.containerId, portmapConfig({ mappings, prevResult: pod.result }), pod.ns),
      'CHECK',
    );
    const table = portmapTable() ?? '';
    assert.match(table, /tcp \. 8080 comment "pm-c1\/eth0 pmnet" : 10\.244\.7\.\d+ \. 7000/);
    assert.match(table, /udp \. 8053 comment "pm-c1\/eth0 pmnet" : fd00:77:7::\w+ \. 7001/);
    const wrong = portmap(
      'CHECK',
      pod.containerId,
      portmapConfig({ mappings: [{ hostPort: 8090, containerPort: 7000 }], prevResult: pod.result }),
      pod.ns,
    );
    assert.equal(wrong.json?.code, 103);
    assert.match(String(wrong.json?.msg), /missing hostPort 8090\/tcp/);
  });

  test('a hostPort already mapped to another container is refused naming the port; nothing changes', () => {
    const pod = pods.pod2!;
    const before = ruleset();
    const r = portmap(
      'ADD',
      pod.containerId,
      portmapConfig({
        mappings: [
          { hostPort: 8081, containerPort: 7000 },
          { hostPort: 8080, containerPort: 7000 },
        ],
        prevResult: pod.result,
      }),
      pod.ns,
    );
    assert.equal(r.status, 1);
    assert.equal(r.json?.code, 7);
    assert.match(String(r.json?.msg), /hostPort 8080\/tcp is already mapped .*pm-c1\/eth0/);
    assert.equal(ruleset(), before);
  });

  test('a second container with a hostIP mapping: each gets its own traffic', () => {
    const pod = pods.pod2!;
    const mappings = [
      { hostPort: 8081, containerPort: 7000, protocol: 'tcp', hostIP: NODE_IP },
      { hostPort: 8054, containerPort: 7001, protocol: 'udp' },
    ];
    mustSucceed(
      portmap('ADD', pod.containerId, portmapConfig({ mappings, prevResult: pod.result }), pod.ns),
      'ADD pod2',
    );
    assert.match(roundTrip(ext, 'tcp', NODE_IP, 8081), /weft pod2 7000/);
    assert.equal(canReach(ext, 'tcp', NODE_IP2, 8081), false, 'hostIP restricts the mapping to that address');
    assert.equal(canReach(ext, 'tcp', NODE_IP6, 8081), false, 'an IPv4 hostIP maps no IPv6');
    assert.match(roundTrip(ext, 'udp', NODE_IP2, 8054), /payload-udp-8054/);
    assert.match(roundTrip(ext, 'tcp', NODE_IP, 8080), /weft pod1 7000/);
    // Repeating ADD converges instead of failing or doubling.
    mustSucceed(
      portmap('ADD', pod.containerId, portmapConfig({ mappings, prevResult: pod.result }), pod.ns),
      'ADD pod2 again',
    );
    // pod2: IPv4 DNAT tcp 8081 (hostIP) and udp 8054, IPv6 DNAT udp 8054, masquerade v4 subnet, v4 loopback, v6 subnet.
    assert.equal((portmapTable() ?? '').match(/pm-c2\/eth0/g)?.length, 2 + 1 + 3);
  });

  test('GC removes elements of attachments that are gone, and spares other networks', () => {
    const fake = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/gone' }],
      ips: [{ address: '10.244.7.250/24', interface: 0 }],
      dns: {},
    };
    mustSucceed(
      portmap(
        'ADD',
        'pm-gone',
        portmapConfig({ mappings: [{ hostPort: 9999, containerPort: 7000 }], prevResult: fake }),
        pods.pod1!.ns,
      ),
      'ADD pm-gone',
    );
    mustSucceed(
      portmap(
        'ADD',
        'pm-elsewhere',
        portmapConfig({ network: 'othernet', mappings: [{ hostPort: 9998, containerPort: 7000 }], prevResult: fake }),
        pods.pod1!.ns,
      ),
      'ADD othernet',
    );
    const valid = [
      { containerID: 'pm-c1', ifname: 'eth0' },
      { containerID: 'pm-c2', ifname: 'eth0' },
    ];
    mustSucceed(
      portmap('GC', '', portmapConfig({ version: '1.1.0', extra: { 'cni.dev/valid-attachments': valid } })),
      'GC',
    );
    const table = portmapTable() ?? '';
    assert.doesNotMatch(table, /pm-gone/);
    assert.match(table, /tcp \. 9998 comment "pm-elsewhere\/eth0 othernet"/);
    assert.match(table, /pm-c1\/eth0/);
    assert.match(table, /pm-c2\/eth0/);
    mustSucceed(portmap('DEL', 'pm-elsewhere', portmapConfig({ network: 'othernet' })), 'DEL othernet');
    assert.doesNotMatch(portmapTable() ?? '', /othernet/);
  });

  test("DEL removes exactly one container's elements, needs no prevResult, and can repeat", () => {
    const pod = pods.pod1!;
    mustSucceed(portmap('DEL', pod.containerId, portmapConfig(), pod.ns), 'DEL pod1');
    const table = portmapTable() ?? '';
    assert.doesNotMatch(table, /pm-c1/);
    assert.match(table, /pm-c2\/eth0/);
    assert.equal(canReach(ext, 'tcp', NODE_IP, 8080), false, 'pod1 no longer mapped');
    assert.match(roundTrip(ext, 'tcp', NODE_IP, 8081), /weft pod2 7000/);
    assert.match(roundTrip(ext, 'udp', NODE_IP, 8054), /payload-udp-8054/);
    mustSucceed(
      portmap(
        'DEL',
        pod.containerId,
        portmapConfig({ mappings: [{ hostPort: 8080, containerPort: 7000 }], prevResult: pod.result }),
        pod.ns,
      ),
      'DEL pod1 again',
    );
    const check = portmap(
      'CHECK',
      pod.containerId,
      portmapConfig({ mappings: [{ hostPort: 8080, containerPort: 7000 }], prevResult: pod.result }),
      pod.ns,
    );
    assert.equal(check.json?.code, 103);
  });

  test('DEL of the last container leaves no table; the foreign table is untouched', () => {
    const pod = pods.pod2!;
    mustSucceed(portmap('DEL', pod.containerId, portmapConfig(), pod.ns), 'DEL pod2');
    assert.equal(portmapTable(), undefined);
    mustSucceed(portmap('DEL', pod.containerId, portmapConfig(), pod.ns), 'DEL with no table');
    assert.equal(mustInNs(node, ['nft', 'list', 'table', 'inet', 'other']), foreignBefore);
    assert.deepEqual(mustInNs(node, ['nft', 'list', 'tables']).trim().split('\n'), ['table inet other']);
  });

  test('STATUS succeeds when nft works', () => {
    mustSucceed(portmap('STATUS', '', portmapConfig({ version: '1.1.0' })), 'STATUS');
  });

  test('parallel ADDs and DELs of many containers serialise on the lock: all land, then nothing is left', async () => {
    const n = 8;
    const run = (command: 'ADD' | 'DEL', i: number): Promise<string> => {
      const fake = {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'eth0', sandbox: '/p' }],
        ips: [{ address: `10.244.7.${100 + i}/24`, interface: 0 }],
      };
      const config = portmapConfig({
        mappings: [
          { hostPort: 9100 + i, containerPort: 7000 },
          { hostPort: 9100 + i, containerPort: 7001, protocol: 'udp' },
        ],
        prevResult: fake,
      });
      const env = {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: command,
        CNI_CONTAINERID: `pm-par${i}`,
        CNI_NETNS: fx.path(pods.pod1!.ns),
        CNI_IFNAME: 'eth0',
        CNI_PATH: binDir,
        WEFT_LOCK_DIR: lockDir,
      };
      return new Promise((resolve, reject) => {
        const child = execFile(
          'ip',
          ['netns', 'exec', node, join(binDir, 'weft-portmap')],
          { env },
          (err, stdout, stderr) =>
            err ? reject(new Error(`${command} pm-par${i}: ${stdout} ${stderr}`)) : resolve(stdout),
        );
        child.stdin?.end(JSON.stringify(config));
      });
    };
    await Promise.all(Array.from({ length: n }, (_, i) => run('ADD', i)));
    const table = portmapTable() ?? '';
    for (let i = 0; i < n; i++) {
      assert.match(table, new RegExp(`tcp \\. ${9100 + i} comment "pm-par${i}/eth0 pmnet"`));
      assert.match(table, new RegExp(`udp \\. ${9100 + i} comment "pm-par${i}/eth0 pmnet"`));
    }
    assert.equal(table.match(/jump hostports/g)?.length, 2, 'the static rules exist once, however many ADDs ran');
    await Promise.all(Array.from({ length: n }, (_, i) => run('DEL', i)));
    assert.equal(portmapTable(), undefined);
  });
});
