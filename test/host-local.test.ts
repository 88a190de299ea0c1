// Integration tests of weft's host-local plugin executable, side by side with Debian's reference
// host-local (/usr/lib/cni/host-local, 1.1.1): results, the files on disk, parallel storms of
// real processes (weft alone and mixed with the reference), a data directory shared both ways,
// errors that change nothing, GC and STATUS. host-local touches no interface, so the plugins run
// in one node namespace only to follow the fixtures; each case uses its own temporary dataDir.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { invoke, makeBinDir, type PluginRun } from './support/cni.js';
import { Netns } from './support/netns.js';

const WEFT = 'weft-host-local';
const REF = 'host-local';
const NET = 'hlnet';

let ns: Netns;
let node = '';
let binDir = '';

before(() => {
  ns = new Netns('weft-hl-');
  node = ns.add('node');
  binDir = makeBinDir(join(ns.tmpDir('bin'), 'bin'));
});
after(() => ns.cleanup());

type Ranges = Array<Array<Record<string, string>>>;

function conf(
  dataDir: string,
  ranges: Ranges,
  extra: Record<string, unknown> = {},
  cniVersion = '1.0.0',
): Record<string, unknown> {
  return { cniVersion, name: NET, type: 'host-local', ipam: { type: 'host-local', dataDir, ranges, ...extra } };
}

function run(
  plugin: string,
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS',
  config: unknown,
  containerId = '',
  ifname = 'eth0',
  args = '',
): PluginRun {
  try {
    return invoke({ nodeNs: node, binDir, plugin, command, config, containerId, ifname, netns: ns.path(node), args });
  } catch (err) {
    // Diagnose a child that exits before reading its stdin (spawnSync reports only EPIPE).
    const r = spawnSync('ip', ['netns', 'exec', node, join(binDir, plugin)], {
      input: JSON.stringify(config),
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_IFNAME: ifname,
        CNI_NETNS: ns.path(node),
        CNI_PATH: binDir,
        CNI_ARGS: args,
      },
    });
    throw new Error(
      `${plugin} ${command} ${containerId}: ${(err as Error).message}; retry gave ${r.status} ${r.stdout} ${r.stderr}`,
      { cause: err },
    );
  }
}

function ok(r: PluginRun, what: string): Record<string, unknown> {
  assert.equal(r.status, 0, `${what}: ${r.stdout} ${r.stderr}`);
  return r.json ?? {};
}

function addresses(result: Record<string, unknown>): string[] {
  return ((result.ips ?? []) as Array<{ address: string }>).map((i) => i.address.split('/')[0]!);
}

/** The reservation files of the network: address → file contents. */
function reservations(dataDir: string): Map<string, string> {
  const dir = join(dataDir, NET);
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'lock' || name.startsWith('last_reserved_ip.')) continue;
    out.set(name, readFileSync(join(dir, name), 'utf8'));
  }
  return out;
}

/** Starts the plugin as a separate process (not waiting), as a runtime under load would. */
function spawnPlugin(plugin: string, command: string, config: unknown, containerId: string): Promise<PluginRun> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: ns.path(node),
    CNI_IFNAME: 'eth0',
    CNI_PATH: binDir,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', node, join(binDir, plugin)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        json = undefined; // an error message on stderr only; status tells the story
      }
      resolve({ status: code ?? -1, stdout, stderr, json });
    });
    // A child that dies before reading stdin shows up in its status and stderr, asserted by callers.
    child.stdin.on('error', (e) => (stderr += `[stdin: ${e.message}]`));
    child.stdin.end(JSON.stringify(config));
  });
}

describe('ADD/DEL/CHECK over IPv4, IPv6 and dual-stack', () => {
  const rows: Array<{
    name: string;
    ranges: Ranges;
    c1: string[];
    c2: string[];
    gateways: string[];
    prefixes: number[];
  }> = [
    {
      name: 'IPv4',
      ranges: [[{ subnet: '10.88.0.0/24' }]],
      c1: ['10.88.0.2'],
      c2: ['10.88.0.3'],
      gateways: ['10.88.0.1'],
      prefixes: [24],
    },
    {
      name: 'IPv6',
      ranges: [[{ subnet: 'fd00:88::/64', gateway: 'fd00:88::fe' }]],
      c1: ['fd00:88::1'],
      c2: ['fd00:88::2'],
      gateways: ['fd00:88::fe'],
      prefixes: [64],
    },
    {
      name: 'dual-stack',
      ranges: [
        [{ subnet: '10.88.0.0/24', rangeStart: '10.88.0.100', rangeEnd: '10.88.0.120' }],
        [{ subnet: 'fd00:88::/120' }],
      ],
      c1: ['10.88.0.100', 'fd00:88::2'],
      c2: ['10.88.0.101', 'fd00:88::3'],
      gateways: ['10.88.0.1', 'fd00:88::1'],
      prefixes: [24, 120],
    },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const dataDir = ns.tmpDir('rows');
      const resolv = join(dataDir, 'resolv.conf');
      writeFileSync(resolv, 'nameserver 10.96.0.10\nsearch svc.cluster.local\noptions ndots:5\n');
      const c = conf(dataDir, row.ranges, { routes: [{ dst: '0.0.0.0/0' }], resolvConf: resolv });
      const r1 = ok(run(WEFT, 'ADD', c, 'c1'), 'ADD c1');
      assert.deepEqual(
        r1.ips,
        row.c1.map((ip, i) => ({ address: `${ip}/${row.prefixes[i]}`, gateway: row.gateways[i] })),
      );
      assert.deepEqual(r1.routes, [{ dst: '0.0.0.0/0' }]);
      assert.deepEqual(r1.dns, { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'] });
      assert.deepEqual(addresses(ok(run(WEFT, 'ADD', c, 'c1'), 'repeated ADD')), row.c1, 'ADD is idempotent');
      assert.deepEqual(addresses(ok(run(WEFT, 'ADD', c, 'c2'), 'ADD c2')), row.c2);
      const files = reservations(dataDir);
      assert.deepEqual([...files.keys()].sort(), [...row.c1, ...row.c2].sort());
      for (const ip of row.c1) assert.equal(files.get(ip), 'c1\r\neth0');
      const dir = join(dataDir, NET);
      assert.equal(readFileSync(join(dir, 'last_reserved_ip.0'), 'utf8'), row.c2[0]);
      ok(run(WEFT, 'CHECK', { ...c, prevResult: r1 }, 'c1'), 'CHECK c1');
      const stranger = run(WEFT, 'CHECK', c, 'c3');
      assert.equal(stranger.status, 1);
      assert.equal(stranger.json?.code, 103);
      ok(run(WEFT, 'DEL', c, 'c1'), 'DEL c1');
      ok(run(WEFT, 'DEL', c, 'c1'), 'DEL is idempotent');
      assert.deepEqual([...reservations(dataDir).keys()].sort(), [...row.c2].sort());
      assert.equal(run(WEFT, 'CHECK', c, 'c1').json?.code, 103, 'CHECK after DEL fails');
      ok(run(REF, 'CHECK', c, 'c2'), 'the reference CHECKs what weft reserved');
    });
  }

  test('0.3.1 results carry the ip version; DEL of an unknown network creates nothing', () => {
    const dataDir = ns.tmpDir('v031');
    const r = ok(
      run(WEFT, 'ADD', conf(dataDir, [[{ subnet: '10.89.0.0/24' }], [{ subnet: 'fd00:89::/64' }]], {}, '0.3.1'), 'c1'),
      'ADD',
    );
    assert.deepEqual(
      (r.ips as Array<{ version: string }>).map((i) => i.version),
      ['4', '6'],
    );
    const empty = ns.tmpDir('del-empty');
    ok(run(WEFT, 'DEL', { ...conf(empty, [[{ subnet: 'garbage' }]]), name: 'never-added' }, 'c1'), 'DEL');
    assert.deepEqual(readdirSync(empty), []);
  });

  test('a dual-stack ADD that fails in the second range set leaks nothing', () => {
    const dataDir = ns.tmpDir('rollback');
    const c = conf(dataDir, [[{ subnet: '10.90.0.0/24' }], [{ subnet: 'fd00:90::/126', rangeEnd: 'fd00:90::2' }]]);
    ok(run(WEFT, 'ADD', c, 'first'), 'ADD first');
    const second = run(WEFT, 'ADD', c, 'second');
    assert.equal(second.json?.code, 100, second.stdout);
    assert.match(String(second.json?.msg), /no IP addresses available in range set 1/);
    assert.deepEqual([...reservations(dataDir).values()], ['first\r\neth0', 'first\r\neth0']);
  });
});

describe('concurrency: parallel processes never share an address', () => {
  test('40 parallel weft ADDs on a /26, then 40 parallel DELs', async () => {
    const dataDir = ns.tmpDir('storm');
    const c = conf(dataDir, [[{ subnet: '10.91.0.0/26' }]]);
    const ids = Array.from({ length: 40 }, (_, i) => `storm-${i}`);
    const adds = await Promise.all(ids.map((id) => spawnPlugin(WEFT, 'ADD', c, id)));
    adds.forEach((r, i) => assert.equal(r.status, 0, `ADD ${ids[i]}: ${r.stdout} ${r.stderr}`));
    const got = adds.flatMap((r) => addresses(r.json ?? {}));
    assert.equal(new Set(got).size, 40, `distinct addresses: ${got.join(' ')}`);
    const files = reservations(dataDir);
    assert.equal(files.size, 40);
    for (const [i, r] of adds.entries()) assert.equal(files.get(addresses(r.json ?? {})[0]!), `${ids[i]}\r\neth0`);
    const dels = await Promise.all(ids.map((id) => spawnPlugin(WEFT, 'DEL', c, id)));
    dels.forEach((r, i) => assert.equal(r.status, 0, `DEL ${ids[i]}: ${r.stdout} ${r.stderr}`));
    assert.deepEqual(readdirSync(join(dataDir, NET)).sort(), ['last_reserved_ip.0', 'lock']);
  });

  test('a mixed storm of reference and weft processes on one dataDir, past exhaustion', async () => {
    const dataDir = ns.tmpDir('mixed');
    // 10.92.0.0/26: .1 is the gateway, .2-.62 are the 61 allocatable addresses; 70 processes ask.
    const c = conf(dataDir, [[{ subnet: '10.92.0.0/26' }]]);
    const jobs = Array.from({ length: 70 }, (_, i) => ({ id: `mix-${i}`, plugin: i % 2 === 0 ? REF : WEFT }));
    const runs = await Promise.all(jobs.map((j) => spawnPlugin(j.plugin, 'ADD', c, j.id)));
    const winners = runs.flatMap((r, i) =>
      r.status === 0 ? [{ id: jobs[i]!.id, ip: addresses(r.json ?? {})[0]! }] : [],
    );
    const losers = runs.filter((r) => r.status !== 0);
    assert.equal(winners.length, 61, `winners: ${winners.length}`);
    assert.equal(new Set(winners.map((w) => w.ip)).size, 61, 'no address handed out twice');
    for (const r of losers) assert.match(r.stdout, /no IP addresses available in range set/);
    const files = reservations(dataDir);
    assert.equal(files.size, 61);
    for (const w of winners) assert.equal(files.get(w.ip), `${w.id}\r\neth0`);
  });
});

test('a directory written by the reference is honoured by weft, and the other way round', () => {
  const dataDir = ns.tmpDir('shared');
  const c = conf(dataDir, [[{ subnet: '10.93.0.0/28' }], [{ subnet: 'fd00:93::/64' }]]);
  const refAddrs = ['r1', 'r2', 'r3'].flatMap((id) => addresses(ok(run(REF, 'ADD', c, id), `reference ADD ${id}`)));
  // An old reference version wrote just the container id.
  writeFileSync(join(dataDir, NET, '10.93.0.9'), 'legacy');
  writeFileSync(join(dataDir, NET, 'fd00:93::9'), 'legacy\n');
  const w1 = addresses(ok(run(WEFT, 'ADD', c, 'w1'), 'weft ADD w1'));
  for (const ip of w1) assert.ok(!refAddrs.includes(ip) && ip !== '10.93.0.9', `weft handed out ${ip}`);
  assert.deepEqual(w1, ['10.93.0.5', 'fd00:93::5'], "round-robin continues after the reference's last reservation");
  ok(run(WEFT, 'CHECK', c, 'legacy', 'eth9'), 'an id-only reservation belongs to its container');
  ok(run(WEFT, 'DEL', c, 'r2'), 'weft DEL of a reference allocation');
  assert.ok(![...reservations(dataDir).values()].includes('r2\r\neth0'));
  const r4 = addresses(ok(run(REF, 'ADD', c, 'r4'), 'reference ADD r4'));
  for (const ip of r4) assert.ok(!w1.includes(ip), `the reference handed out weft's ${ip}`);
  ok(run(REF, 'CHECK', c, 'w1'), "the reference finds weft's reservation");
  ok(run(REF, 'DEL', c, 'w1'), "the reference DELs weft's reservation");
  ok(run(WEFT, 'DEL', c, 'legacy'), 'weft DELs an id-only reservation');
  const left = [...reservations(dataDir).values()].sort();
  assert.deepEqual(left, ['r1\r\neth0', 'r1\r\neth0', 'r3\r\neth0', 'r3\r\neth0', 'r4\r\neth0', 'r4\r\neth0']);
});

test('errors change nothing: exhausted range is code 100, invalid CIDR is code 7', () => {
  const dataDir = ns.tmpDir('errors');
  const c = conf(dataDir, [[{ subnet: '10.94.0.0/30' }]]);
  assert.deepEqual(addresses(ok(run(WEFT, 'ADD', c, 'only'), 'ADD')), ['10.94.0.2']);
  const before = readdirSync(join(dataDir, NET)).sort();
  const full = run(WEFT, 'ADD', c, 'late');
  assert.equal(full.status, 1);
  assert.equal(full.json?.code, 100);
  assert.match(
    String(full.json?.msg),
    /no IP addresses available in range set 0 \(10\.94\.0\.1-10\.94\.0\.2 in 10\.94\.0\.0\/30\)/,
  );
  assert.deepEqual(readdirSync(join(dataDir, NET)).sort(), before);

  const fresh = join(ns.tmpDir('invalid'), 'data');
  const bad = run(WEFT, 'ADD', conf(fresh, [[{ subnet: '10.0.0.0/33' }]]), 'c1');
  assert.equal(bad.json?.code, 7);
  assert.equal(bad.json?.msg, 'invalid network config: ipam.ranges[0][0].subnet: invalid CIDR "10.0.0.0/33"');
  const badIp = run(
    WEFT,
    'ADD',
    conf(fresh, [[{ subnet: '10.0.0.0/24' }]]),
    'c1',
    'eth0',
    'IgnoreUnknown=1;IP=10.1.0.5',
  );
  assert.equal(badIp.json?.code, 7);
  assert.match(String(badIp.json?.msg), /CNI_ARGS IP\[0\]: requested IP 10\.1\.0\.5 is not in any range set/);
  assert.equal(existsSync(fresh), false, 'not even the data directory was created');
});

test('requested addresses via CNI_ARGS, args.cni.ips and runtimeConfig.ips', () => {
  const dataDir = ns.tmpDir('requested');
  const ranges = [[{ subnet: '10.95.0.0/24' }], [{ subnet: 'fd00:95::/64' }]];
  assert.deepEqual(
    addresses(
      ok(run(WEFT, 'ADD', conf(dataDir, ranges), 'a', 'eth0', 'IgnoreUnknown=1;IP=10.95.0.50,fd00:95::50'), 'CNI_ARGS'),
    ),
    ['10.95.0.50', 'fd00:95::50'],
  );
  const viaArgs = {
    ...conf(dataDir, ranges),
    args: { cni: { ips: ['10.95.0.60'] } },
    runtimeConfig: { ips: ['fd00:95::60/64'] },
  };
  assert.deepEqual(addresses(ok(run(WEFT, 'ADD', viaArgs, 'b'), 'args + runtimeConfig')), [
    '10.95.0.60',
    'fd00:95::60',
  ]);
  const taken = run(WEFT, 'ADD', conf(dataDir, ranges), 'c', 'eth0', 'IP=10.95.0.50');
  assert.equal(taken.json?.code, 100);
  assert.match(
    String(taken.json?.msg),
    /requested IP address 10\.95\.0\.50 is not available in range set 0 \(held by a\/eth0\)/,
  );
  assert.equal(reservations(dataDir).size, 4, 'the refused ADD left nothing');
});

test('GC frees what is not in cni.dev/valid-attachments; STATUS reports exhaustion', () => {
  const dataDir = ns.tmpDir('gc');
  const c = conf(dataDir, [[{ subnet: '10.96.0.0/29' }]], {}, '1.1.0');
  for (const [id, ifname] of [
    ['a', 'eth0'],
    ['a', 'eth1'],
    ['b', 'eth0'],
    ['c', 'eth0'],
  ] as const)
    ok(run(WEFT, 'ADD', c, id, ifname), `ADD ${id}/${ifname}`);
  ok(run(WEFT, 'STATUS', c), 'STATUS with free addresses');
  const missing = run(WEFT, 'GC', c);
  assert.equal(missing.json?.code, 7, 'GC without the list is refused');
  assert.equal(reservations(dataDir).size, 4);
  ok(
    run(WEFT, 'GC', {
      ...c,
      'cni.dev/valid-attachments': [
        { containerID: 'a', ifname: 'eth0' },
        { containerID: 'c', ifname: 'eth0' },
      ],
    }),
    'GC',
  );
  assert.deepEqual([...reservations(dataDir).values()].sort(), ['a\r\neth0', 'c\r\neth0']);
  assert.deepEqual(
    readdirSync(join(dataDir, NET))
      .filter((n) => !/^\d/.test(n))
      .sort(),
    ['last_reserved_ip.0', 'lock'],
  );
  for (const id of ['d', 'e', 'f']) ok(run(WEFT, 'ADD', c, id), `ADD ${id}`);
  const status = run(WEFT, 'STATUS', c);
  assert.equal(status.json?.code, 50, status.stdout);
  assert.match(String(status.json?.msg), /no IP addresses available in range set 0/);
  ok(run(WEFT, 'GC', { ...c, 'cni.dev/valid-attachments': [] }), 'GC everything');
  assert.equal(reservations(dataDir).size, 0);
  ok(run(WEFT, 'STATUS', c), 'STATUS after GC');
});
