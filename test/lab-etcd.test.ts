/**
 * Issue 4 acceptance on host-gw with the etcd store (the lab starts Debian's etcd in its segment
 * namespace), and two labs side by side: a second lab (vxlan, embedded) with the same pods runs
 * at the same time, neither disturbs the other, and removing one leaves the other working.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { listNetns, requireRoot, sh } from './support/netns.js';
import { EXAMPLES, TestLab } from './support/lab.js';
import { cidrContains, parseCidr, parseIp } from '../src/core/net/ip.js';

describe('weft lab (host-gw, etcd store) beside a second lab', { timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('tle');
  const other = new TestLab('tlo');

  before(() => {
    lab.up(['--backend', 'host-gw', '--store', 'etcd']);
    other.up(['--nodes', '2']);
    lab.must(['apply', '-f', join(EXAMPLES, 'xyz')]);
    other.must(['apply', '-f', join(EXAMPLES, 'xyz')]);
  });
  after(() => {
    lab.down();
    other.down();
  });

  test("nodes run host-gw with subnets leased from etcd; pods have addresses of their node's subnet", () => {
    const nodes = lab.nodes();
    assert.equal(nodes.length, 3);
    for (const n of nodes) assert.equal(n.metadata.annotations?.['flannel.alpha.coreos.com/backend-type'], 'host-gw');
    const subnets = new Map(nodes.map((n) => [n.metadata.name, n.spec.podCIDR!]));
    for (const p of lab.pods()) {
      assert.equal(p.status.phase, 'Running');
      assert.ok(cidrContains(parseCidr(subnets.get(p.spec.nodeName!)!), parseIp(p.status.podIP!)));
    }
    // The leases are etcd's: the lab's etcd holds one key per node under Flannel's prefix.
    const leases = lab.must(['lab', 'status', '--name', lab.name, '-o', 'json']);
    assert.match(leases, /"kind": "etcd"/);
    const st = JSON.parse(leases) as { nodes: Array<{ info?: { podCIDR?: string } }> };
    assert.deepEqual(st.nodes.map((n) => n.info?.podCIDR).sort(), [...subnets.values()].sort());
  });

  for (const [port, protocol] of [
    [80, 'TCP'],
    [81, 'UDP'],
  ] as const) {
    test(`host-gw + etcd: probe -A on ${port}/${protocol} connects all 81 pairs`, () => {
      const m = lab.probe(['-A', '--port', String(port), '--protocol', protocol]);
      assert.equal(m.results.length, 81);
      assert.deepEqual(
        m.results.filter((r) => !r.connected).map((r) => `${r.from}->${r.to}`),
        [],
      );
    });
  }

  test('host-gw: a NetworkPolicy is enforced across nodes and on one node, and probe agrees with reach', async () => {
    const policy = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: from-y, namespace: x }
spec:
  podSelector: {}
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]
`;
    lab.must(['apply', '-f', '-'], { input: policy });
    try {
      const want = (from: string, to: string) => from === to || !to.startsWith('x/') || from.startsWith('y/');
      const end = Date.now() + 15_000;
      let bad: string[] = [];
      for (;;) {
        bad = lab
          .probe(['-A', '--port', '80', '--timeout-ms', '600'])
          .results.filter((r) => r.connected !== want(r.from, r.to))
          .map((r) => `${r.from}->${r.to}: ${r.connected}`);
        if (bad.length === 0 || Date.now() > end) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.deepEqual(bad, []);
      const reach = JSON.parse(lab.must(['reach', '-A', '--port', '80', '-o', 'json'])) as {
        results: Array<{ from: string; to: string; allowed: boolean }>;
      };
      assert.deepEqual(
        reach.results.filter((r) => r.allowed !== want(r.from, r.to)),
        [],
      );
    } finally {
      lab.must(['delete', '-f', '-'], { input: policy });
    }
  });

  /** curl with the lab's client certificate (the lab's etcd wants one). */
  const certs = () => {
    const t = (
      JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
        etcdTls: { caFile: string; certFile: string; keyFile: string };
      }
    ).etcdTls;
    return ['--cacert', t.caFile, '--cert', t.certFile, '--key', t.keyFile];
  };

  test("issue 16 item 4: the lab's etcd takes only TLS with a client certificate", () => {
    const record = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
      etcdEndpoints: string[];
      nodes: Array<{ name: string; ns: string }>;
    };
    const url = record.etcdEndpoints[0]!;
    assert.match(url, /^https:\/\//);
    const node = (argv: string[]) =>
      sh(['ip', 'netns', 'exec', record.nodes[0]!.ns, 'curl', '-s', '--max-time', '2', ...argv]);
    const plain = node([`${url.replace('https:', 'http:')}/version`]);
    assert.doesNotMatch(plain.stdout, /etcdserver/, 'plain HTTP is not answered');
    const noCert = node(['--cacert', certs()[1]!, `${url}/version`]);
    assert.notEqual(noCert.status, 0, 'TLS without a client certificate is refused');
    assert.doesNotMatch(noCert.stdout, /etcdserver/);
    const ok = node([...certs(), `${url}/version`]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /etcdserver/);
  });

  test("issue 16 item 4: a pod cannot reach the lab's etcd; its node can", () => {
    const record = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
      etcdEndpoints: string[];
      nodes: Array<{ name: string; ns: string }>;
    };
    const url = record.etcdEndpoints[0]!;
    // With the client certificate (the lab's pods share the host's files, so a pod could read
    // it): only the network keeps the pod out.
    const curl = ['curl', '-s', '--max-time', '2', ...certs(), `${url}/version`];
    const fromNode = sh(['ip', 'netns', 'exec', record.nodes[0]!.ns, ...curl]);
    assert.equal(fromNode.status, 0, `control: the node reaches etcd: ${fromNode.stderr}`);
    assert.match(fromNode.stdout, /etcdserver/);
    for (const pod of ['a', 'b', 'c']) {
      const r = lab.weft(['exec', '-n', 'x', pod, '--', ...curl]);
      assert.notEqual(r.status, 0, `x/${pod} must not reach ${url}: ${r.stdout}`);
      assert.doesNotMatch(r.stdout, /etcdserver/);
    }
  });

  test("issue 16 item 4: forged leases (a new one at n3's address, n1's rewritten to it) move no route; nodes say NotReady naming both; undone, Ready again", async () => {
    const record = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
      segmentNs: string;
      nodes: Array<{ name: string; ns: string; ip: string }>;
    };
    // The test writes to etcd as an intruder would, through etcd's JSON gateway on its loopback.
    const etcd = (path: string, body: Record<string, unknown>) => {
      const r = sh([
        'ip',
        'netns',
        'exec',
        record.segmentNs,
        'curl',
        '-s',
        '--max-time',
        '3',
        ...certs(),
        '-X',
        'POST',
        `https://127.0.0.1:2379/v3/${path}`,
        '-d',
        JSON.stringify(body),
      ]);
      if (r.status !== 0) throw new Error(`etcd ${path}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const keyOf = (subnet: string) => `/coreos.com/network/subnets/${subnet.replace('/', '-')}`;
    const get = (key: string) => {
      const kvs = (etcd('kv/range', { key: b64(key) }).kvs ?? []) as Array<{ value: string }>;
      return kvs[0] ? Buffer.from(kvs[0].value, 'base64').toString('utf8') : undefined;
    };
    const nodes = lab.nodes();
    const cidr = (n: string) => nodes.find((x) => x.metadata.name === n)!.spec.podCIDR!;
    const ipOf = (n: string) => record.nodes.find((x) => x.name === n)!.ip;
    const routes = (node: string) =>
      sh(['ip', 'netns', 'exec', record.nodes.find((x) => x.name === node)!.ns, 'ip', 'route', 'show']).stdout;
    const before = routes('n2');
    assert.match(before, new RegExp(`${cidr('n1').replace(/[./]/g, '\\$&')} via ${ipOf('n1')}`));
    assert.match(before, new RegExp(`${cidr('n3').replace(/[./]/g, '\\$&')} via ${ipOf('n3')}`));
    const n1Key = keyOf(cidr('n1'));
    const n1Value = get(n1Key)!;
    const forgedSubnet = '10.244.250.0/24';
    const value = JSON.parse(n1Value) as Record<string, unknown>;
    const grant = etcd('lease/grant', { TTL: 120 });
    etcd('kv/put', {
      key: b64(keyOf(forgedSubnet)),
      value: b64(JSON.stringify({ ...value, PublicIP: ipOf('n3'), NodeName: 'intruder' })),
      lease: grant.ID,
    });
    etcd('kv/put', {
      key: b64(n1Key),
      value: b64(JSON.stringify({ ...value, PublicIP: ipOf('n3') })),
      ignore_lease: true,
    });
    const readyOf = () =>
      lab.nodes().map((n) => {
        const c = n.status.conditions.find((x) => x.type === 'Ready') as { status: string; message?: string };
        return { name: n.metadata.name, ready: c.status === 'True', message: c.message ?? '' };
      });
    try {
      const end = Date.now() + 20_000;
      while (readyOf().some((n) => n.ready) && Date.now() < end) await new Promise((r) => setTimeout(r, 300));
      for (const n of readyOf()) {
        assert.equal(n.ready, false, `${n.name} reports the conflict`);
        assert.match(
          n.message,
          /node intruder \(10\.244\.250\.0\/24 at [0-9.]+\) claims the address [0-9.]+ of node n3/,
        );
      }
      assert.match(
        readyOf().find((n) => n.name === 'n2')!.message,
        /node n1 .*claims the address .* of node n3.*last good value/,
      );
      // Routes as they were: n1's subnet still via n1, n3's via n3, nothing for the intruder.
      const after = routes('n2');
      assert.match(after, new RegExp(`${cidr('n1').replace(/[./]/g, '\\$&')} via ${ipOf('n1')}`));
      assert.match(after, new RegExp(`${cidr('n3').replace(/[./]/g, '\\$&')} via ${ipOf('n3')}`));
      assert.doesNotMatch(after, /10\.244\.250\.0/);
      const m = lab.probe(['-A', '--port', '80']);
      assert.deepEqual(
        m.results.filter((r) => !r.connected).map((r) => `${r.from}->${r.to}`),
        [],
      );
    } finally {
      etcd('kv/deleterange', { key: b64(keyOf(forgedSubnet)) });
      etcd('kv/put', { key: b64(n1Key), value: b64(n1Value), ignore_lease: true });
    }
    const end = Date.now() + 20_000;
    while (!readyOf().every((n) => n.ready) && Date.now() < end) await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      readyOf().filter((n) => !n.ready),
      [],
    );
  });

  test("issue 16 item 2 on host-gw: a pod forging another pod's address is dropped at its own port; its real source arrives", () => {
    const pods = lab.pods();
    const key = (p: (typeof pods)[number]) => `${p.metadata.namespace}/${p.metadata.name}`;
    const victim = pods.find((p) => key(p) === 'x/a')!;
    const sender = pods.find((p) => p.spec.nodeName !== victim.spec.nodeName)!;
    const forged = pods.find((p) => p !== victim && p !== sender)!;
    const inPod = (p: (typeof pods)[number], argv: string[]) =>
      lab.weft(['exec', '-n', p.metadata.namespace, p.metadata.name, '--', ...argv]);
    const table = 'weft-hgcount';
    const count = (port: number, from: string) =>
      `add rule inet ${table} in ip saddr ${from} udp dport ${port} counter comment "port ${port}"`;
    const made = inPod(victim, [
      'nft',
      `add table inet ${table}; add chain inet ${table} in { type filter hook input priority -10; policy accept; }; ` +
        `${count(7101, forged.status.podIP!)}; ${count(7102, sender.status.podIP!)}`,
    ]);
    assert.equal(made.status, 0, made.stderr);
    try {
      const send = (port: number, spoof?: string) => {
        const r = inPod(sender, [
          'hping3',
          '--udp',
          ...(spoof ? ['--spoof', spoof] : []),
          '--destport',
          String(port),
          '--count',
          '5',
          '--interval',
          'u20000',
          victim.status.podIP!,
        ]);
        assert.match(r.stdout + r.stderr, /5 packets transmitted/);
      };
      send(7101, forged.status.podIP!);
      send(7102);
      const listing = JSON.parse(inPod(victim, ['nft', '-j', 'list', 'table', 'inet', table]).stdout) as {
        nftables: Array<{ rule?: { comment?: string; expr: Array<{ counter?: { packets: number } }> } }>;
      };
      const arrived = (port: number) =>
        listing.nftables.find((o) => o.rule?.comment === `port ${port}`)!.rule!.expr.find((e) => e.counter)!.counter!
          .packets;
      assert.equal(arrived(7102), 5, `control: ${key(sender)} sending as itself is counted 5 times`);
      assert.equal(arrived(7101), 0, `${key(sender)} forging ${key(forged)}'s address reaches nobody`);
    } finally {
      inPod(victim, ['nft', 'delete', 'table', 'inet', table]);
    }
  });

  test('the second lab, with the same pod names and network, works at the same time', () => {
    assert.equal(other.nodes().length, 2);
    const m = other.probe(['-A', '--port', '80']);
    assert.equal(m.results.length, 81);
    assert.deepEqual(
      m.results.filter((r) => !r.connected),
      [],
    );
    // Each lab sees only its own pods.
    assert.equal(lab.pods().length, 9);
    assert.equal(other.pods().length, 9);
  });

  test('removing one lab leaves the other untouched and working', () => {
    const r = other.down();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(other.prefix)),
      [],
    );
    assert.deepEqual(other.processes(), []);
    assert.ok(listNetns().filter((n) => n.startsWith(lab.prefix)).length >= 13, 'the first lab keeps its namespaces');
    const m = lab.probe(['-n', 'x', '--port', '80']);
    assert.deepEqual(
      m.results.filter((r) => !r.connected),
      [],
    );
  });
});
