/**
 * Issue 4 acceptance on the default lab (vxlan, embedded store), driven through the `weft` CLI:
 * the 9-pod example comes up with addresses from each node's subnet, every pair connects on
 * 80/TCP and 81/UDP, `get -o json` agrees with the kernel, re-apply is a no-op, labels change,
 * a deleted pod leaves no namespace, reservation or veth, bad manifests are refused whole, and
 * `lab down` after kill -9 of the agents and runners leaves nothing.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipJson, listNetns, requireRoot } from './support/netns.js';
import { EXAMPLES, TestLab, type PodDoc } from './support/lab.js';
import { cidrContains, parseCidr, parseIp } from '../src/core/net/ip.js';

const NINE = ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c'];

function podManifest(ns: string, name: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { pod: ${name} } }
spec:
${extra}  containers:
    - name: serve
      ports: [{ containerPort: 80 }, { containerPort: 81, protocol: UDP }]
`;
}

function netpol(rules: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: bad, namespace: x }\nspec:\n  podSelector: {}\n  ${rules}\n`;
}

describe('weft lab (vxlan, embedded store)', { timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('tlv');
  const tmp = (name: string, text: string) => lab.file(name, text);

  before(() => lab.upWithExample());
  after(() => {
    lab.down();
  });

  test("all nine pods are Running on the three nodes, each with an address of its node's subnet", () => {
    const pods = lab.pods();
    const nodes = lab.nodes();
    assert.deepEqual(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(), NINE);
    assert.equal(nodes.length, 3);
    const subnets = new Map(nodes.map((n) => [n.metadata.name, n.spec.podCIDR]));
    assert.equal(new Set(subnets.values()).size, 3, 'distinct node subnets');
    for (const n of nodes) {
      assert.ok(
        n.spec.podCIDR && cidrContains(parseCidr('10.244.0.0/16'), parseCidr(n.spec.podCIDR).address),
        `${n.metadata.name} subnet ${n.spec.podCIDR} in the network`,
      );
      assert.equal(n.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
      assert.equal(n.metadata.annotations?.['flannel.alpha.coreos.com/backend-type'], 'vxlan');
    }
    const perNode = new Map<string, number>();
    for (const p of pods) {
      assert.equal(p.status.phase, 'Running', `${p.metadata.namespace}/${p.metadata.name}`);
      const node = p.spec.nodeName!;
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
      assert.ok(
        cidrContains(parseCidr(subnets.get(node)!), parseIp(p.status.podIP!)),
        `${p.status.podIP} in ${subnets.get(node)}`,
      );
    }
    assert.deepEqual([...perNode.values()], [3, 3, 3], 'spread evenly');
  });

  test('get -o json agrees with the kernel: pod addresses on eth0, node gateways on cni0', () => {
    for (const p of lab.pods()) {
      const ns = `${lab.prefix}pod.${p.metadata.namespace}.${p.metadata.name}`;
      const addrs = ipJson<Array<{ addr_info: Array<{ local: string; family: string }> }>>(ns, [
        'addr',
        'show',
        'dev',
        'eth0',
      ]);
      assert.deepEqual(
        addrs[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
        [p.status.podIP],
      );
    }
    for (const n of lab.nodes()) {
      const cni0 = ipJson<Array<{ addr_info: Array<{ local: string; prefixlen: number; family: string }> }>>(
        `${lab.prefix}${n.metadata.name}`,
        ['addr', 'show', 'dev', 'cni0'],
      );
      const gw = cni0[0]!.addr_info.find((a) => a.family === 'inet')!;
      assert.ok(
        cidrContains(parseCidr(n.spec.podCIDR!), parseIp(gw.local)),
        `${n.metadata.name}: cni0 ${gw.local} in ${n.spec.podCIDR}`,
      );
      const eth0 = ipJson<Array<{ addr_info: Array<{ local: string; family: string }> }>>(
        `${lab.prefix}${n.metadata.name}`,
        ['addr', 'show', 'dev', 'eth0'],
      );
      assert.equal(
        eth0[0]!.addr_info.find((a) => a.family === 'inet')!.local,
        n.status.addresses.find((a) => a.type === 'InternalIP')!.address,
      );
    }
  });

  for (const [port, protocol] of [
    [80, 'TCP'],
    [81, 'UDP'],
  ] as const) {
    test(`probe -A on ${port}/${protocol}: all 81 ordered pairs connect, in the documented JSON shape`, () => {
      const out = lab.must(['probe', '-A', '--port', String(port), '--protocol', protocol, '-o', 'json']);
      const m = JSON.parse(out) as {
        port: number;
        protocol: string;
        pods: string[];
        results: Array<{ from: string; to: string; connected: boolean }>;
      };
      assert.deepEqual(Object.keys(m), ['port', 'protocol', 'pods', 'results']);
      assert.equal(m.port, port);
      assert.equal(m.protocol, protocol);
      assert.deepEqual(m.pods, NINE);
      assert.equal(m.results.length, 81);
      for (const r of m.results) assert.deepEqual(Object.keys(r), ['from', 'to', 'connected']);
      const pairs = new Set(m.results.map((r) => `${r.from}>${r.to}`));
      assert.equal(pairs.size, 81, 'one result per ordered pair');
      const failed = m.results.filter((r) => !r.connected).map((r) => `${r.from}->${r.to}`);
      assert.deepEqual(failed, []);
    });
  }

  test('probe -o table prints sources as rows and destinations as columns', () => {
    const out = lab.must(['probe', '-n', 'x']);
    for (const p of ['x/a', 'x/b', 'x/c']) assert.match(out, new RegExp(p.replace('/', '\\/')));
    assert.doesNotMatch(out, /y\/a/);
    assert.match(out, /9\/9/);
  });

  test('re-applying the same manifest is a no-op: every object unchanged, same pods, same addresses', () => {
    const before = lab.pods();
    const out = lab.must(['apply', '-f', join(EXAMPLES, 'xyz')]);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 12);
    for (const l of lines) assert.match(l, / unchanged$/);
    const afterPods = lab.pods();
    assert.deepEqual(
      afterPods.map((p) => [p.metadata.uid, p.status.podIP]),
      before.map((p) => [p.metadata.uid, p.status.podIP]),
    );
  });

  test('label: a changed label is seen by get; an existing key needs --overwrite; key- removes', () => {
    assert.match(lab.must(['label', 'pod', 'a', '-n', 'x', 'team=blue']), /pod\/a labeled/);
    const getA = () => JSON.parse(lab.must(['get', 'pods', 'a', '-n', 'x', '-o', 'json'])) as PodDoc;
    assert.equal(getA().metadata.labels?.team, 'blue');
    const r = lab.weft(['label', 'pod', 'a', '-n', 'x', 'team=red']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /team.*--overwrite/);
    lab.must(['label', 'pod', 'a', '-n', 'x', 'team=red', '--overwrite']);
    assert.equal(getA().metadata.labels?.team, 'red');
    lab.must(['label', 'pod', 'a', '-n', 'x', 'team-']);
    assert.equal(getA().metadata.labels?.team, undefined);
    lab.must(['label', 'namespace', 'y', 'env=prod']);
    const ns = JSON.parse(lab.must(['get', 'namespaces', 'y', '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
    };
    assert.equal(ns.metadata.labels.env, 'prod');
    assert.equal(ns.metadata.labels['kubernetes.io/metadata.name'], 'y');
    const bad = lab.weft(['label', 'pod', 'a', '-n', 'x', 'bad key=1']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid label/);
  });

  test("exec runs in the pod's namespace and passes the exit code through", () => {
    const pod = lab.pods().find((p) => p.metadata.namespace === 'y' && p.metadata.name === 'b')!;
    assert.match(
      lab.must(['exec', '-n', 'y', 'b', '--', 'ip', '-br', 'addr', 'show', 'eth0']),
      new RegExp(pod.status.podIP!.replace(/\./g, '\\.')),
    );
    assert.equal(lab.weft(['exec', '-n', 'y', 'b', '--', 'sh', '-c', 'exit 7']).status, 7);
    const missing = lab.weft(['exec', '-n', 'y', 'nope', '--', 'true']);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /pods "nope" not found/);
  });

  test("pods with spec.nodeName and hostNetwork: placed as asked, hostNetwork serves in the node's namespace", () => {
    const file = tmp(
      'placed.yaml',
      `${podManifest('z', 'pinned', '  nodeName: n2\n')}---\n${podManifest('z', 'hostpod', '  nodeName: n3\n  hostNetwork: true\n')}`,
    );
    lab.must(['apply', '-f', file]);
    const pods = lab.pods();
    const pinned = pods.find((p) => p.metadata.name === 'pinned')!;
    const hostpod = pods.find((p) => p.metadata.name === 'hostpod')!;
    assert.equal(pinned.spec.nodeName, 'n2');
    assert.equal(hostpod.spec.nodeName, 'n3');
    const n3 = lab.nodes().find((n) => n.metadata.name === 'n3')!;
    assert.equal(hostpod.status.podIP, n3.status.addresses[0]!.address, "a hostNetwork pod has its node's address");
    const m = lab.probe(['-n', 'z', '--port', '80']);
    assert.deepEqual(
      m.results.filter((r) => !r.connected),
      [],
    );
    lab.must(['delete', '-f', file]);
  });

  test('deleting a pod removes its namespace, its address reservation and its veth', () => {
    const c = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'c')!;
    const nodeNs = `${lab.prefix}${c.spec.nodeName}`;
    const podNs = `${lab.prefix}pod.x.c`;
    const vethsBefore = ipJson<Array<{ ifname: string }>>(nodeNs, ['link', 'show', 'type', 'veth']).length;
    const ipamDir = join(lab.dir, 'nodes', c.spec.nodeName!, 'ipam');
    const reservations = () =>
      readdirSync(ipamDir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(c.status.podIP!));
    assert.equal(reservations().length, 1, 'the reservation exists before');
    assert.ok(listNetns().includes(podNs));
    const file = tmp('xc.yaml', podManifest('x', 'c'));
    assert.match(lab.must(['delete', '-f', file]), /pod\/c deleted/);
    assert.ok(!listNetns().includes(podNs), 'namespace gone');
    assert.deepEqual(reservations(), [], 'reservation gone');
    assert.equal(
      ipJson<Array<{ ifname: string }>>(nodeNs, ['link', 'show', 'type', 'veth']).length,
      vethsBefore - 1,
      'host veth gone',
    );
    assert.ok(!lab.pods().some((p) => p.metadata.namespace === 'x' && p.metadata.name === 'c'));
    const again = lab.weft(['delete', '-f', file]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /pods "c" not found/);
    assert.equal(lab.weft(['delete', '-f', file, '--ignore-not-found']).status, 0);
    // And it comes back with a new identity when applied again.
    lab.must(['apply', '-f', file]);
    const back = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'c')!;
    assert.equal(back.status.phase, 'Running');
    assert.notEqual(back.metadata.uid, c.metadata.uid);
  });

  const good = podManifest('x', 'fresh');
  const badCases: Array<{ name: string; doc: string; want: RegExp }> = [
    {
      name: 'unknown kind',
      doc: 'apiVersion: v1\nkind: Deployment\nmetadata: { name: d }\n',
      want: /document 2.*unknown kind "Deployment"/,
    },
    {
      name: 'a pod in a namespace that does not exist',
      doc: podManifest('nowhere', 'p'),
      want: /document 2 \(Pod nowhere\/p\): metadata\.namespace: namespace "nowhere" not found/,
    },
    {
      name: 'a duplicate containerPort',
      doc: 'apiVersion: v1\nkind: Pod\nmetadata: { name: dup, namespace: x }\nspec:\n  containers:\n    - name: s\n      ports: [{ containerPort: 80 }, { containerPort: 80 }]\n',
      want: /document 2 \(Pod x\/dup\): spec\.containers\[0\]\.ports\[1\].*80\/TCP/,
    },
    {
      name: 'an invalid label',
      doc: 'apiVersion: v1\nkind: Pod\nmetadata: { name: lbl, namespace: x, labels: { "bad key": v } }\nspec: { containers: [{ name: s }] }\n',
      want: /document 2 \(Pod x\/lbl\): metadata\.labels/,
    },
    {
      name: 'a YAML syntax error',
      doc: 'apiVersion: v1\nkind: Pod\nmetadata: { name: [oops\n',
      want: /document 2: YAML syntax error/,
    },
    {
      name: 'a node that does not exist',
      doc: podManifest('x', 'far', '  nodeName: n9\n'),
      want: /document 2 \(Pod x\/far\): spec\.nodeName: node "n9" not found/,
    },
    {
      name: 'a policy with a bad CIDR',
      doc: netpol('ingress: [{ from: [{ ipBlock: { cidr: 10.0.0.0/33 } }] }]'),
      want: /document 2 \(NetworkPolicy x\/bad\): spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: .*valid CIDR/,
    },
    {
      name: 'a policy whose except is outside its cidr',
      doc: netpol('ingress: [{ from: [{ ipBlock: { cidr: 10.0.0.0/16, except: [10.1.0.0/24] } }] }]'),
      want: /ipBlock\.except\[0\]: .*strict subset/,
    },
    {
      name: 'a policy with endPort but no port',
      doc: netpol('ingress: [{ ports: [{ endPort: 90 }] }]'),
      want: /ports\[0\]\.endPort: 90: may not be specified when `port` is not specified/,
    },
    {
      name: 'a policy with endPort below port',
      doc: netpol('ingress: [{ ports: [{ port: 90, endPort: 80 }] }]'),
      want: /ports\[0\]\.endPort: 80: must be greater than or equal to `port`/,
    },
    {
      name: 'a policy with endPort on a named port',
      doc: netpol('ingress: [{ ports: [{ port: http, endPort: 90 }] }]'),
      want: /ports\[0\]\.endPort: 90: may not be specified when `port` is non-numeric/,
    },
    {
      name: 'a policy with a bad selector operator',
      doc: netpol(
        'ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: a, operator: Near, values: [b] }] } }] }]',
      ),
      want: /matchExpressions\[0\]\.operator/,
    },
    {
      name: 'a policy with an unknown protocol',
      doc: netpol('ingress: [{ ports: [{ protocol: ICMP, port: 1 }] }]'),
      want: /ports\[0\]\.protocol/,
    },
  ];
  for (const c of badCases) {
    test(`bad input, ${c.name}: refused naming document and field, nothing from the file applied`, () => {
      const before = lab
        .pods()
        .map((p) => p.metadata.uid)
        .sort();
      const file = tmp('bad.yaml', `${good}---\n${c.doc}`);
      const r = lab.weft(['apply', '-f', file]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, c.want);
      assert.equal(r.stdout, '', 'nothing reported as applied');
      assert.deepEqual(
        lab
          .pods()
          .map((p) => p.metadata.uid)
          .sort(),
        before,
        'no pod added, removed or replaced',
      );
      assert.match(lab.weft(['get', 'networkpolicies', '-A']).stderr, /No resources found/, 'no policy stored');
    });
  }

  test("changing a stored pod's spec is refused (pods are immutable), naming the field", () => {
    const file = tmp(
      'mut.yaml',
      podManifest('x', 'a', '  nodeName: n3\n').replace('containerPort: 80 }', 'containerPort: 8080 }'),
    );
    const r = lab.weft(['apply', '-f', file]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\(Pod x\/a\): spec: Forbidden/);
  });

  test('lab status and lab list show the lab', () => {
    const s = JSON.parse(lab.must(['lab', 'status', '--name', lab.name, '-o', 'json'])) as {
      state: string;
      nodes: Array<{ agent: boolean; runner: boolean; controllers?: Array<{ name: string; ready: boolean }> }>;
    };
    assert.equal(s.state, 'up');
    assert.ok(s.nodes.every((n) => n.agent && n.runner));
    // Each node's controllers, from its agent's node status document: all ready, policy among them.
    for (const n of s.nodes) {
      assert.deepEqual(
        n.controllers?.map((c) => `${c.name} ${c.ready}`),
        [
          'subnet',
          'backend',
          'ip-masq',
          'node-guard',
          'cni-socket',
          'cni-files',
          'cluster',
          'policy',
          'flow-log',
          'services',
          'health-checks',
        ].map((c) => `${c} true`),
      );
    }
    assert.match(
      lab.must(['lab', 'status', '--name', lab.name]),
      /controllers: subnet ok, backend ok, ip-masq ok, node-guard ok, cni-socket ok, cni-files ok, cluster ok, policy ok \(revision \d+\), flow-log ok, services ok, health-checks ok/,
    );
    assert.ok(lab.must(['lab', 'list']).split('\n').includes(lab.name));
  });

  test('the supervisor restarts an agent and a pod runner that died (kill -9); the node is Ready again', async () => {
    type Rec = { supervisorPid?: number; nodes: Array<{ name: string; agentPid: number; runnerPid: number }> };
    const read = () => JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as Rec;
    const alive = (pid: number) =>
      existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '';
    const n = read().nodes[1]!;
    assert.ok(read().supervisorPid !== undefined && alive(read().supervisorPid!), 'lab up started a supervisor');
    process.kill(n.agentPid, 'SIGKILL');
    process.kill(n.runnerPid, 'SIGKILL');
    const end = Date.now() + 30_000;
    for (;;) {
      const now = read().nodes[1]!;
      const s = JSON.parse(lab.must(['lab', 'status', '--name', lab.name, '-o', 'json'])) as {
        nodes: Array<{
          name: string;
          agent: boolean;
          runner: boolean;
          info?: { ready: boolean };
          controllers?: Array<{ ready: boolean }>;
        }>;
      };
      const st = s.nodes.find((x) => x.name === n.name)!;
      const restarted =
        now.agentPid !== n.agentPid && now.runnerPid !== n.runnerPid && alive(now.agentPid) && alive(now.runnerPid);
      if (restarted && st.agent && st.runner && st.info?.ready && st.controllers?.every((c) => c.ready)) break;
      if (Date.now() > end) throw new Error(`node ${n.name} did not come back: ${JSON.stringify(st)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(
      readFileSync(join(lab.dir, 'log', 'supervisor.log'), 'utf8'),
      new RegExp(`restarted agent ${n.name}, pod runner ${n.name}`),
    );
  });

  test('lab down after kill -9 of every agent and pod runner leaves no namespace, process, mount, file or rule', () => {
    const s = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
      nodes: Array<{ agentPid: number; runnerPid: number }>;
    };
    for (const n of s.nodes) {
      process.kill(n.agentPid, 'SIGKILL');
      process.kill(n.runnerPid, 'SIGKILL');
    }
    assert.ok(listNetns().some((n) => n.startsWith(lab.prefix)));
    const r = lab.weft(['lab', 'down', '--name', lab.name]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(lab.prefix)),
      [],
      'namespaces',
    );
    assert.deepEqual(lab.processes(), [], 'processes');
    assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(lab.prefix), 'mounts');
    assert.ok(!existsSync(lab.dir), 'files');
    // Rules and links lived only in the lab's namespaces, which are gone; the host's own
    // nftables never had a table of the lab's.
    assert.doesNotMatch(readFileSync('/proc/net/dev', 'utf8'), /weft\.|cni0/, 'no lab link in the host namespace');
  });
});
