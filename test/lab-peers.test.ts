/**
 * Issue 18, the etcd half of "the real flanneld beside weft": `weft lab up --store etcd --peer
 * flannel=n2` runs the real flanneld (built by scripts/build-peers.sh) on n2 and weft's agent on n1
 * and n3, over one etcd and one net-conf.json. One lab per backend (vxlan, host-gw), each with the
 * 9-pod demo (examples/xyz), checked with real traffic and the kernel's own state:
 *
 * - every pod reaches every pod, 80/TCP and 81/UDP, across weft and flanneld nodes;
 * - the lab's supervisor restarts a flanneld killed with SIGKILL, and n2 keeps its subnet;
 * - weft and flanneld read each other's leases: etcd's subnet keys (read with curl from etcd's JSON
 *   gateway, not through weft) are what `weft leases` lists; flanneld's key is its own (no NodeName,
 *   vxlan: the MAC of its flannel.1 device), and each side's kernel has the other's VTEP MAC
 *   (vxlan) or underlay address (host-gw) as the route to its subnet;
 * - n2 switched from flanneld to weft's agent (`weft lab switch-node`) keeps its subnet, its pods
 *   keep their addresses and every pod still reaches every pod.
 *
 * The kube half, `weft lab up --api kube --peer flannel=n2` (flanneld in kube-subnet-mgr mode as the
 * flannel ServiceAccount of deploy/peers/flanneld.yaml, weft's agents as deploy/weft.yaml's), one lab
 * per backend with the example applied by kubectl:
 * - flanneld runs with its own identity and no more rights than it uses (kubectl auth can-i);
 * - each side reads the other's Node annotations: flanneld's (written through nodes/status, with
 *   its NetworkUnavailable=False condition) carry flannel.1's MAC, weft's carry weft's, and each
 *   kernel routes the other's podCIDR by them;
 * - every pod reaches every pod (80/TCP, 81/UDP), and after `weft lab switch-node` n2 keeps its
 *   podCIDR and its pods their addresses, publishes weft's annotations, and every pod still reaches
 *   every pod.
 *
 * Where flanneld (or, for the kube half, Kubernetes) is not built the suite is skipped and says
 * why; in CI (which builds them) that is a failure instead.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inNs, ipJson, listNetns, requireRoot, sh } from './support/netns.js';
import { CLI, TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';
import { assertAllConnected, probeBoth, surprises } from './support/lab-matrix.js';
import { flanneldMissing } from '../src/lab/peer-flannel.js';
import { findKubeBinaries } from '../src/lab/kube-control-plane.js';
import { kubeMissing } from './support/kube.js';

function peersMissing(): string | undefined {
  const why = flanneldMissing();
  if (why && process.env.CI) throw new Error(`${why}: .ci/run builds it, so in CI this is a failure`);
  if (why) process.stderr.write(`lab-peers: skipped: ${why}\n`);
  return why;
}

interface LabJson {
  etcdEndpoints: string[];
  etcdTls: { caFile: string; certFile: string; keyFile: string };
  nodes: Array<{ name: string; ns: string; ip: string; peer?: string; agentPid?: number }>;
}

interface EtcdLease {
  subnet: string;
  value: { PublicIP: string; BackendType: string; BackendData?: { VNI?: number; VtepMAC?: string }; NodeName?: string };
}

interface WeftLease {
  subnet: string;
  publicIp: string;
  backendType: string;
  backendData: { VNI?: number; VtepMAC?: string };
  nodeName?: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

for (const backend of ['vxlan', 'host-gw'] as const) {
  describe(`weft beside the real flanneld (${backend}, etcd store)`, { timeout: 600_000, skip: peersMissing() }, () => {
    requireRoot();
    const lab = new TestLab(backend === 'vxlan' ? 'pevx' : 'pehg');
    const record = () => JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as LabJson;
    const nodeNs = (name: string) => record().nodes.find((n) => n.name === name)!.ns;

    /** etcd's subnet keys, read from a node's namespace through etcd's own JSON gateway. */
    const etcdLeases = (): EtcdLease[] => {
      const r = record();
      const prefix = '/coreos.com/network/subnets/';
      const out = inNs(r.nodes[0]!.ns, [
        'curl',
        '-sf',
        '--max-time',
        '5',
        '--cacert',
        r.etcdTls.caFile,
        '--cert',
        r.etcdTls.certFile,
        '--key',
        r.etcdTls.keyFile,
        '-X',
        'POST',
        '-d',
        JSON.stringify({ key: b64(prefix), range_end: b64('/coreos.com/network/subnets0') }),
        `${r.etcdEndpoints[0]}/v3/kv/range`,
      ]);
      assert.equal(out.status, 0, `etcd range: ${out.stderr}`);
      const kvs = (JSON.parse(out.stdout) as { kvs?: Array<{ key: string; value: string }> }).kvs ?? [];
      return kvs
        .map((kv) => ({
          subnet: Buffer.from(kv.key, 'base64')
            .toString()
            .slice(prefix.length)
            .replace(/-(\d+)$/, '/$1'),
          value: JSON.parse(Buffer.from(kv.value, 'base64').toString()) as EtcdLease['value'],
        }))
        .sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
    };

    /** `weft leases -o json`, run where the agents run (a node's namespace reaches the lab's etcd). */
    const weftLeases = (): WeftLease[] => {
      const r = record();
      const out = inNs(r.nodes[0]!.ns, [
        process.execPath,
        CLI,
        'leases',
        '-o',
        'json',
        '--store',
        'etcd',
        '--etcd-endpoints',
        r.etcdEndpoints.join(','),
        '--etcd-cafile',
        r.etcdTls.caFile,
        '--etcd-certfile',
        r.etcdTls.certFile,
        '--etcd-keyfile',
        r.etcdTls.keyFile,
      ]);
      assert.equal(out.status, 0, `weft leases: ${out.stderr}`);
      return (JSON.parse(out.stdout) as WeftLease[]).sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
    };

    const leaseOf = (leases: EtcdLease[], ip: string) => leases.find((l) => l.value.PublicIP === ip);

    before(() => {
      lab.upWithExample(['--backend', backend, '--store', 'etcd', '--peer', 'flannel=n2']);
    });
    after(() => {
      lab.down();
    });

    test('n2 runs flanneld, n1 and n3 weft; every node is Ready with a lease from the one etcd', () => {
      const r = record();
      assert.deepEqual(
        r.nodes.map((n) => [n.name, n.peer ?? 'weft']),
        [
          ['n1', 'weft'],
          ['n2', 'flannel'],
          ['n3', 'weft'],
        ],
      );
      const cmd = readFileSync(`/proc/${r.nodes[1]!.agentPid}/cmdline`, 'utf8').split('\0');
      assert.match(cmd[0]!, /flanneld$/, "n2's daemon is flanneld");
      assert.ok(cmd.includes('--ip-masq') && cmd.includes('--iface=eth0'), cmd.join(' '));
      const table = lab.must(['get', 'nodes']);
      assert.match(table, /^n2\s+Ready\s+\S+\s+10\.99\.0\.2\s+\S+\s+flanneld$/m);
      assert.match(table, /^n1\s+Ready\s+\S+\s+10\.99\.0\.1\s+\S+\s+weft$/m);
      assert.match(lab.must(['lab', 'status']), /n2 {2}10\.99\.0\.2 {2}subnet \S+ {2}flanneld running/);
      const leases = etcdLeases();
      assert.equal(leases.length, 3);
      for (const n of lab.nodes()) {
        const ip = n.status.addresses[0]!.address;
        assert.equal(leaseOf(leases, ip)?.subnet, n.spec.podCIDR, `${n.metadata.name}'s subnet is its lease's`);
        assert.equal(leaseOf(leases, ip)?.value.BackendType, backend);
      }
    });

    test("weft and flanneld read each other's leases: etcd's keys, `weft leases`, and each kernel", () => {
      const leases = etcdLeases();
      const flannel = leaseOf(leases, '10.99.0.2')!;
      assert.equal(flannel.value.NodeName, undefined, "flanneld's key is flanneld's own (weft adds NodeName)");
      assert.equal(leaseOf(leases, '10.99.0.1')!.value.NodeName, 'n1');
      // `weft leases` is etcd's keys, parsed: same subnets, addresses and backend data.
      assert.deepEqual(
        weftLeases().map((l) => [l.subnet, l.publicIp, l.backendType, l.backendData]),
        leases.map((l) => [l.subnet, l.value.PublicIP, l.value.BackendType, l.value.BackendData ?? {}]),
      );
      const n1 = nodeNs('n1');
      const n2 = nodeNs('n2');
      const weftLease = leaseOf(leases, '10.99.0.1')!;
      if (backend === 'vxlan') {
        // flanneld published its device's MAC; weft's node routes n2's subnet through it.
        const dev = ipJson<Array<{ address: string }>>(n2, ['link', 'show', 'flannel.1'])[0]!;
        assert.equal(flannel.value.BackendData?.VtepMAC, dev.address, "n2's lease carries flannel.1's MAC");
        assert.equal(flannel.value.BackendData?.VNI, 1);
        const gw = flannel.subnet.replace(/\/\d+$/, '');
        const neigh = ipJson<Array<{ dst: string; lladdr: string }>>(n1, ['neigh', 'show', 'dev', 'weft.1']);
        assert.equal(neigh.find((e) => e.dst === gw)?.lladdr, dev.address, "n1's neighbour for n2 is flanneld's MAC");
        const fdb = inNs(n1, ['bridge', 'fdb', 'show', 'dev', 'weft.1']).stdout;
        assert.match(fdb, new RegExp(`^${dev.address} dst 10\\.99\\.0\\.2 `, 'm'));
        // And flanneld read weft's lease: its neighbour for n1's subnet is weft's derived MAC.
        const back = ipJson<Array<{ dst: string; lladdr: string }>>(n2, ['neigh', 'show', 'dev', 'flannel.1']);
        assert.equal(
          back.find((e) => e.dst === weftLease.subnet.replace(/\/\d+$/, ''))?.lladdr,
          weftLease.value.BackendData?.VtepMAC,
        );
      } else {
        const viaOn = (ns: string, dst: string) =>
          ipJson<Array<{ dst: string; gateway?: string; dev: string }>>(ns, ['route', 'show', dst])[0];
        assert.deepEqual(
          [viaOn(n1, flannel.subnet)?.gateway, viaOn(n1, flannel.subnet)?.dev],
          ['10.99.0.2', 'eth0'],
          "weft routes n2's subnet to its underlay address",
        );
        assert.deepEqual(
          [viaOn(n2, weftLease.subnet)?.gateway, viaOn(n2, weftLease.subnet)?.dev],
          ['10.99.0.1', 'eth0'],
          "flanneld routes n1's subnet to its underlay address",
        );
      }
    });

    test('every pod reaches every pod across weft and flanneld nodes (80/TCP, 81/UDP)', () => {
      const onN2 = lab.pods().filter((p) => p.spec.nodeName === 'n2');
      assert.equal(onN2.length, 3, 'the demo puts three pods on the flanneld node');
      assertAllConnected(lab);
    });

    test("the lab's supervisor restarts a flanneld that died, on its subnet", async () => {
      const old = record().nodes[1]!.agentPid!;
      const subnet = lab.nodes().find((n) => n.metadata.name === 'n2')!.spec.podCIDR;
      process.kill(old, 'SIGKILL');
      const fresh = await waitFor(
        "the supervisor's new flanneld on n2",
        () => {
          const pid = record().nodes[1]!.agentPid;
          if (pid === undefined || pid === old) return undefined;
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('flanneld') ? pid : undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
      );
      assert.notEqual(fresh, old);
      assert.match(readFileSync(join(lab.dir, 'log', 'supervisor.log'), 'utf8'), /restarted flanneld n2/);
      await waitFor('n2 Ready again', () =>
        lab
          .nodes()
          .some(
            (n) =>
              n.metadata.name === 'n2' && n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
          )
          ? true
          : undefined,
      );
      assert.equal(lab.nodes().find((n) => n.metadata.name === 'n2')!.spec.podCIDR, subnet, 'the same subnet');
      await waitFor(
        'every pod to reach every pod',
        () => (probeBoth(lab).every((m) => surprises(m).length === 0) ? true : undefined),
        30_000,
        500,
      );
    });

    test("n2 switched from flanneld to weft's agent keeps its subnet, and its pods keep working", async () => {
      const before = lab.nodes().find((n) => n.metadata.name === 'n2')!.spec.podCIDR;
      const podsBefore = lab
        .pods()
        .map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.status.podIP, p.metadata.uid])
        .sort();
      const flanneld = record().nodes[1]!.agentPid!;
      const out = lab.must(['lab', 'switch-node', '--node', 'n2']);
      assert.match(out, /node n2: flanneld stopped/);
      assert.throws(() => readFileSync(`/proc/${flanneld}/cmdline`), 'flanneld is gone');
      assert.equal(record().nodes[1]!.peer, undefined);
      assert.match(lab.must(['get', 'nodes']), /^n2\s+Ready\s+\S+\s+10\.99\.0\.2\s+\S+\s+weft$/m);
      assert.equal(lab.nodes().find((n) => n.metadata.name === 'n2')!.spec.podCIDR, before, 'same subnet');
      const lease = leaseOf(etcdLeases(), '10.99.0.2')!;
      assert.equal(lease.subnet, before);
      assert.equal(lease.value.NodeName, 'n2', "the lease is weft's agent's now");
      assert.deepEqual(
        lab
          .pods()
          .map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.status.podIP, p.metadata.uid])
          .sort(),
        podsBefore,
        'the same pods with the same addresses',
      );
      if (backend === 'vxlan')
        assert.equal(inNs(nodeNs('n2'), ['ip', 'link', 'show', 'flannel.1']).status, 1, 'flannel.1 is gone');
      // The other nodes follow n2's new VTEP MAC from its lease within a sync.
      await waitFor(
        'every pod to reach every pod again',
        () => (probeBoth(lab).every((m) => surprises(m).length === 0) ? true : undefined),
        30_000,
        500,
      );
      assertAllConnected(lab);
    });

    test('switch-node refuses a node that runs weft already, and an unknown node', () => {
      const weftNode = lab.weft(['lab', 'switch-node', '--node', 'n1']);
      assert.notEqual(weftNode.status, 0);
      assert.match(weftNode.stderr, /--node: n1 already runs weft's agent/);
      const unknown = lab.weft(['lab', 'switch-node', '--node', 'n9']);
      assert.notEqual(unknown.status, 0);
      assert.match(unknown.stderr, /--node: lab \w+ has no node "n9"/);
    });
  });
}

interface KubeNode {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { podCIDR?: string };
  status: { conditions?: Array<{ type: string; status: string; reason?: string }> };
}

const FLANNEL = 'flannel.alpha.coreos.com/';

for (const backend of ['vxlan', 'host-gw'] as const) {
  const skip = peersMissing() ?? kubeMissing();
  describe(
    `weft beside the real flanneld (${backend}, --api kube: kube-subnet-mgr)`,
    { timeout: 600_000, skip },
    () => {
      requireRoot();
      const lab = new TestLab(backend === 'vxlan' ? 'pkvx' : 'pkhg');
      const record = () => JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as LabJson;
      const nodeNs = (name: string) => record().nodes.find((n) => n.name === name)!.ns;
      const admin = join(lab.dir, 'kube', 'admin.kubeconfig');
      const flanneldConfig = join(lab.dir, 'kube', 'nodes', 'n2', 'flanneld.kubeconfig');
      const kubectl = (args: string[], as = admin) => sh([findKubeBinaries()!.kubectl, '--kubeconfig', as, ...args]);
      const kubeNodes = (): Map<string, KubeNode> => {
        const r = kubectl(['get', 'nodes', '-o', 'json']);
        assert.equal(r.status, 0, r.stderr);
        return new Map((JSON.parse(r.stdout) as { items: KubeNode[] }).items.map((n) => [n.metadata.name, n]));
      };
      const ann = (n: KubeNode | undefined, key: string) => n?.metadata.annotations?.[FLANNEL + key];
      const podsNow = () =>
        lab
          .pods()
          .filter((p) => ['x', 'y', 'z'].includes(p.metadata.namespace))
          .map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.spec.nodeName, p.status.podIP])
          .sort();

      before(async () => {
        lab.up(['--api', 'kube', '--backend', backend, '--peer', 'flannel=n2']);
        // Applied again until accepted whole: a pod in a namespace the same apply makes waits for the
        // namespace's default ServiceAccount (the API server's admission), as a user would.
        await waitFor('kubectl apply -f examples/xyz to be accepted', () =>
          kubectl(['apply', '-f', join(import.meta.dirname, '..', '..', 'examples', 'xyz')]).status === 0
            ? true
            : undefined,
        );
        await waitFor('the 9 pods Running', () => {
          const ps = lab.pods().filter((p) => ['x', 'y', 'z'].includes(p.metadata.namespace));
          return ps.length === 9 && ps.every((p) => p.status.phase === 'Running' && p.status.podIP) ? true : undefined;
        });
      });
      after(() => {
        lab.down();
      });

      test('n2 runs flanneld in kube-subnet-mgr mode as the flannel ServiceAccount, with only the rights it uses', () => {
        const r = record();
        assert.deepEqual(
          r.nodes.map((n) => [n.name, n.peer ?? 'weft']),
          [
            ['n1', 'weft'],
            ['n2', 'flannel'],
            ['n3', 'weft'],
          ],
        );
        const pid = r.nodes[1]!.agentPid!;
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        assert.match(cmd[0]!, /flanneld$/);
        assert.ok(
          cmd.includes('--kube-subnet-mgr') && cmd.includes(`--kubeconfig-file=${flanneldConfig}`),
          cmd.join(' '),
        );
        assert.equal(
          cmd.some((a) => a.startsWith('--etcd')),
          false,
          'no etcd flags',
        );
        assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('NODE_NAME=n2'));
        assert.match(lab.must(['get', 'nodes']), /^n2\s+Ready\s+\S+\s+10\.99\.0\.2\s+\S+\s+flanneld$/m);
        // Its identity, asked from n2's namespace as flanneld reaches the API (through the lab's relay).
        const as = (args: string[]) =>
          sh([
            'ip',
            'netns',
            'exec',
            nodeNs('n2'),
            findKubeBinaries()!.kubectl,
            '--kubeconfig',
            flanneldConfig,
            ...args,
          ]);
        assert.equal(
          as(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']).stdout,
          'system:serviceaccount:kube-flannel:flannel',
        );
        for (const [verb, what, sub, want] of [
          ['list', 'nodes', undefined, 'yes'],
          ['watch', 'nodes', undefined, 'yes'],
          ['get', 'nodes', undefined, 'yes'],
          ['patch', 'nodes', 'status', 'yes'],
          ['patch', 'nodes', undefined, 'no'],
          ['delete', 'nodes', undefined, 'no'],
          ['get', 'pods', undefined, 'no'],
          ['list', 'secrets', undefined, 'no'],
        ] as const) {
          const q = as(['auth', 'can-i', verb, what, ...(sub ? [`--subresource=${sub}`] : [])]);
          assert.equal(q.stdout.trim(), want, `flannel can-i ${verb} ${what}${sub ? `/${sub}` : ''}`);
        }
      });

      test("weft and flanneld read each other's Node annotations, and each kernel routes the other's podCIDR by them", () => {
        const nodes = kubeNodes();
        const n1 = nodes.get('n1')!;
        const n2 = nodes.get('n2')!;
        // flanneld's own annotations on n2 (its status patch), and its NetworkUnavailable condition.
        assert.equal(ann(n2, 'kube-subnet-manager'), 'true');
        assert.equal(ann(n2, 'public-ip'), '10.99.0.2');
        assert.equal(ann(n2, 'backend-type'), backend);
        const unavailable = n2.status.conditions?.find((c) => c.type === 'NetworkUnavailable');
        assert.deepEqual(
          [unavailable?.status, unavailable?.reason],
          ['False', 'FlannelIsUp'],
          'flanneld set NetworkUnavailable=False through nodes/status',
        );
        assert.equal(ann(n1, 'backend-type'), backend, "weft's annotations on n1");
        // flanneld's subnet.env is n2's podCIDR (the kube subnet manager takes the Node's, never its own).
        const env = readFileSync(join(lab.dir, 'nodes', 'n2', 'run', 'subnet.env'), 'utf8');
        const sub = /^FLANNEL_SUBNET=(\S+)$/m.exec(env)?.[1];
        assert.equal(sub?.replace(/\.1\//, '.0/'), n2.spec.podCIDR, `subnet.env: ${env}`);
        const ns1 = nodeNs('n1');
        const ns2 = nodeNs('n2');
        if (backend === 'vxlan') {
          const dev = ipJson<Array<{ address: string }>>(ns2, ['link', 'show', 'flannel.1'])[0]!;
          assert.equal(ann(n2, 'backend-data'), JSON.stringify({ VNI: 1, VtepMAC: dev.address }));
          const weftData = JSON.parse(ann(n1, 'backend-data')!) as { VNI: number; VtepMAC: string };
          assert.equal(weftData.VNI, 1);
          const gw2 = n2.spec.podCIDR!.replace(/\/\d+$/, '');
          const neigh = ipJson<Array<{ dst: string; lladdr: string }>>(ns1, ['neigh', 'show', 'dev', 'weft.1']);
          assert.equal(
            neigh.find((e) => e.dst === gw2)?.lladdr,
            dev.address,
            "n1's neighbour for n2 is flanneld's MAC",
          );
          assert.match(
            inNs(ns1, ['bridge', 'fdb', 'show', 'dev', 'weft.1']).stdout,
            new RegExp(`^${dev.address} dst 10\\.99\\.0\\.2 `, 'm'),
          );
          const back = ipJson<Array<{ dst: string; lladdr: string }>>(ns2, ['neigh', 'show', 'dev', 'flannel.1']);
          assert.equal(
            back.find((e) => e.dst === n1.spec.podCIDR!.replace(/\/\d+$/, ''))?.lladdr,
            weftData.VtepMAC,
            "flanneld's neighbour for n1 is the MAC weft published",
          );
        } else {
          assert.equal(ann(n2, 'backend-data'), 'null', "flanneld's host-gw data");
          assert.equal(ann(n1, 'backend-data'), 'null', "weft's host-gw data");
          const viaOn = (ns: string, dst: string) =>
            ipJson<Array<{ dst: string; gateway?: string; dev: string }>>(ns, ['route', 'show', dst])[0];
          assert.deepEqual(
            [viaOn(ns1, n2.spec.podCIDR!)?.gateway, viaOn(ns1, n2.spec.podCIDR!)?.dev],
            ['10.99.0.2', 'eth0'],
            "weft routes n2's podCIDR to its underlay address",
          );
          assert.deepEqual(
            [viaOn(ns2, n1.spec.podCIDR!)?.gateway, viaOn(ns2, n1.spec.podCIDR!)?.dev],
            ['10.99.0.1', 'eth0'],
            "flanneld routes n1's podCIDR to its underlay address",
          );
        }
      });

      test('every pod reaches every pod across weft and flanneld nodes (80/TCP, 81/UDP)', () => {
        assert.equal(lab.pods().filter((p) => p.spec.nodeName === 'n2').length, 3, 'three pods on the flanneld node');
        assertAllConnected(lab);
      });

      test("n2 switched from flanneld to weft's agent keeps its podCIDR, and its pods keep working", async () => {
        const cidr = kubeNodes().get('n2')!.spec.podCIDR;
        const pods = podsNow();
        const flanneld = record().nodes[1]!.agentPid!;
        assert.match(lab.must(['lab', 'switch-node', '--node', 'n2']), /node n2: flanneld stopped/);
        assert.throws(() => readFileSync(`/proc/${flanneld}/cmdline`), 'flanneld is gone');
        const agent = readFileSync(`/proc/${record().nodes[1]!.agentPid!}/cmdline`, 'utf8').split('\0');
        assert.ok(agent.includes('--kube-subnet-mgr') && agent.includes('agent'), agent.join(' '));
        assert.match(lab.must(['get', 'nodes']), /^n2\s+Ready\s+\S+\s+10\.99\.0\.2\s+\S+\s+weft$/m);
        assert.equal(kubeNodes().get('n2')!.spec.podCIDR, cidr, 'the same podCIDR');
        assert.deepEqual(podsNow(), pods, 'the same pods on the same nodes with the same addresses');
        if (backend === 'vxlan') {
          assert.equal(inNs(nodeNs('n2'), ['ip', 'link', 'show', 'flannel.1']).status, 1, 'flannel.1 is gone');
          // n2's annotation now carries weft's device's MAC, and the other nodes follow it.
          const mac = ipJson<Array<{ address: string }>>(nodeNs('n2'), ['link', 'show', 'weft.1'])[0]!.address;
          await waitFor("n2's annotation to carry weft.1's MAC", () =>
            ann(kubeNodes().get('n2'), 'backend-data') === JSON.stringify({ VNI: 1, VtepMAC: mac }) ? true : undefined,
          );
        }
        await waitFor(
          'every pod to reach every pod again',
          () => (probeBoth(lab).every((m) => surprises(m).length === 0) ? true : undefined),
          30_000,
          500,
        );
        assertAllConnected(lab);
      });
    },
  );
}

describe('lab up --peer: bad input is refused and nothing is made', { timeout: 120_000 }, () => {
  requireRoot();
  const lab = new TestLab('pebad');
  after(() => {
    lab.down();
  });
  for (const [name, args, want] of [
    ['no shared datastore', ['--peer', 'flannel=n2'], /--peer: flanneld needs a datastore it shares with weft/],
    ['unknown node', ['--store', 'etcd', '--peer', 'flannel=n7'], /--peer flannel=n7: the lab has no node "n7"/],
    ['unknown peer kind', ['--store', 'etcd', '--peer', 'cilium=n2'], /--peer: "cilium" is not a peer/],
  ] as const) {
    test(name, () => {
      const r = lab.weft(['lab', 'up', '--name', lab.name, '--dns-replicas', '0', ...args]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, want);
      assert.deepEqual(
        listNetns().filter((n) => n.startsWith(lab.prefix)),
        [],
        'no namespace made',
      );
      assert.equal(existsSync(lab.dir), false, 'no lab directory made');
    });
  }
});
