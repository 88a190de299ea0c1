/**
 * `weft lab up --api kube` (issue 17): the lab runs the real kube-apiserver and
 * kube-controller-manager; `kubectl` on the host reaches it with the admin kubeconfig `lab status`
 * prints; each node's kubelet (the pod runner) registers its Node through the API with its own
 * certificate and keeps it Ready with a Lease; the controller manager gives each Node a podCIDR
 * from the lab's network; the agents' kubeconfig is the weft ServiceAccount of deploy/weft.yaml,
 * which may read nodes but not secrets; NodeRestriction keeps a kubelet to its own Node; `lab
 * down` ends every process of the API; pods made with `kubectl apply` without a node are bound by
 * the lab scheduler, run by the kubelets, shown alike by `weft get pods`, and torn down by
 * `kubectl delete`; cluster DNS pods read the API as deploy/weft-dns.yaml's ServiceAccount and
 * answer for a Service made after they started. Then acceptance 1 on vxlan and on host-gw, one 3-node lab each: the example's
 * 9 pods made with `kubectl apply`, each with an address from its Node's podCIDR (the controller
 * manager's allocation, read by the agents' kube subnet manager), every pair connected on 80/TCP
 * and 81/UDP, and the NetworkPolicy smoke scenarios (applied through the API) enforced by agents
 * that read the cluster from the API server; and a Service made with kubectl (ClusterIP and
 * EndpointSlice from Kubernetes) balanced by the agents; a LoadBalancer Service made with kubectl
 * gets a pool address from the lab's load-balancer controller, is reached from outside through it,
 * and its gateway route goes with it. Skipped (saying why) where the binaries are not
 * built, a failure in CI.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot, sh } from './support/netns.js';
import { waitFor } from './support/cluster.js';
import { CLI, TestLab } from './support/lab.js';
import { kubeMissing } from './support/kube.js';
import { findKubeBinaries } from '../src/lab/kube-control-plane.js';
import { cidrContains, parseCidr, parseIp } from '../src/core/net/ip.js';
import { assertAllConnected, policySmoke, SMOKE_SCENARIOS } from './support/lab-matrix.js';
import { routeBackendsManifest } from '../src/testkit/ingress-cases.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'xyz');

const missing = kubeMissing();

interface NodeJson {
  metadata: { name: string };
  spec: { podCIDR?: string; taints?: unknown[] };
  status: {
    conditions?: Array<{ type: string; status: string }>;
    addresses?: Array<{ type: string; address: string }>;
  };
}

describe('lab with a real Kubernetes API (--api kube)', { skip: missing, concurrency: false }, () => {
  requireRoot();
  const lab = new TestLab('kapi');
  const kubeconfig = join(lab.dir, 'kube', 'admin.kubeconfig');
  const kubectl = (args: string[], as = kubeconfig, netns?: string) =>
    sh([...(netns ? ['ip', 'netns', 'exec', netns] : []), findKubeBinaries()!.kubectl, '--kubeconfig', as, ...args]);
  const must = (args: string[]) => {
    const r = kubectl(args);
    assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  let pids: number[] = [];

  before(() => {
    lab.up(['--api', 'kube', '--nodes', '2', '--dns-replicas', '2', '--ingress-replicas', '1']);
    pids = lab.processes();
  });
  after(() => {
    lab.down();
  });

  test('lab status prints the export for kubectl, and kubectl on the host reaches the API server', () => {
    assert.match(lab.must(['lab', 'status']), new RegExp(`kubectl: export KUBECONFIG=${kubeconfig}\\n`));
    assert.equal(must(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']), 'weft-admin');
  });

  test('each node registers through the API, Ready, with its address, a Lease and a podCIDR from the lab network', async () => {
    const nodes = await waitFor('both Nodes Ready with a podCIDR', () => {
      const items = (JSON.parse(must(['get', 'nodes', '-o', 'json'])) as { items: NodeJson[] }).items;
      const ok =
        items.length === 2 &&
        items.every(
          (n) => n.spec.podCIDR && n.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
      return ok ? items : undefined;
    });
    const cidrs = nodes.map((n) => n.spec.podCIDR!);
    assert.notEqual(cidrs[0], cidrs[1]);
    for (const c of cidrs)
      assert.ok(cidrContains(parseCidr('10.244.0.0/16'), parseIp(c.split('/')[0]!)), `${c} is in the lab network`);
    const addresses = Object.fromEntries(
      nodes.map((n) => [n.metadata.name, n.status.addresses?.find((a) => a.type === 'InternalIP')?.address]),
    );
    assert.deepEqual(addresses, { n1: '10.99.0.1', n2: '10.99.0.2' });
    assert.deepEqual(
      must(['get', 'leases', '-n', 'kube-node-lease', '-o', 'jsonpath={.items[*].spec.holderIdentity}'])
        .split(' ')
        .sort(),
      ['n1', 'n2'],
    );
  });

  test("from a node: the agent is the weft ServiceAccount with deploy/weft.yaml's rights; a kubelet may touch only its own Node", () => {
    const ns = `${lab.prefix}n1`;
    const agent = join(lab.dir, 'kube', 'nodes', 'n1', 'agent.kubeconfig');
    const kubelet = join(lab.dir, 'kube', 'nodes', 'n1', 'kubelet.kubeconfig');
    const who = kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], agent, ns);
    assert.equal(who.stdout, 'system:serviceaccount:kube-system:weft', who.stderr);
    assert.equal(kubectl(['get', 'nodes', '-o', 'name'], agent, ns).status, 0, 'the agent reads nodes');
    const secrets = kubectl(['get', 'secrets', '-A'], agent, ns);
    assert.notEqual(secrets.status, 0);
    assert.match(secrets.stderr, /Forbidden.*cannot list resource "secrets"/);
    const other = kubectl(['label', 'node', 'n2', 'x=y'], kubelet, ns);
    assert.notEqual(other.status, 0, 'n1 cannot change n2');
    assert.match(other.stderr, /Forbidden|forbidden/);
  });

  test('kubectl apply: pods without a node are bound by the lab scheduler and run; weft sees the same pods and IPs; kubectl delete tears them down', async () => {
    must(['create', 'namespace', 'kq']);
    await waitFor("namespace kq's default ServiceAccount", () =>
      kubectl(['get', 'serviceaccount', 'default', '-n', 'kq']).status === 0 ? true : undefined,
    );
    const pods = ['p1', 'p2', 'p3', 'p4']
      .map(
        (n) =>
          `apiVersion: v1\nkind: Pod\nmetadata: {name: ${n}, namespace: kq}\nspec: {containers: [{name: c, image: weft-lab-echo, ports: [{containerPort: 80}]}]}\n`,
      )
      .join('---\n');
    must(['apply', '-f', lab.file('kq.yaml', pods)]);
    interface PodJson {
      metadata: { name: string };
      spec: { nodeName?: string };
      status: { phase?: string; podIP?: string };
    }
    const running = await waitFor('the four pods Running with an address', () => {
      const items = (JSON.parse(must(['get', 'pods', '-n', 'kq', '-o', 'json'])) as { items: PodJson[] }).items;
      return items.length === 4 && items.every((p) => p.status.phase === 'Running' && p.status.podIP)
        ? items
        : undefined;
    });
    const perNode = new Map<string, number>();
    for (const p of running) perNode.set(p.spec.nodeName!, (perNode.get(p.spec.nodeName!) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(perNode), { n1: 2, n2: 2 }, 'spread over both nodes');
    const weft = lab.pods().filter((p) => p.metadata.namespace === 'kq');
    assert.deepEqual(
      weft.map((p) => [p.metadata.name, p.status.podIP]).sort(),
      running.map((p) => [p.metadata.name, p.status.podIP]).sort(),
      'weft get pods shows what kubectl shows',
    );
    const netns = `${lab.prefix}pod.kq.p1`;
    assert.ok(sh(['ip', 'netns', 'list']).stdout.includes(netns), 'p1 has its namespace');
    must(['delete', 'pod', 'p1', '-n', 'kq', '--grace-period=1', '--wait=false']);
    await waitFor('p1 and its namespace to go', () =>
      kubectl(['get', 'pod', 'p1', '-n', 'kq']).status !== 0 && !sh(['ip', 'netns', 'list']).stdout.includes(netns)
        ? true
        : undefined,
    );
  });

  test('cluster DNS reads the API server: the kube-dns pods run as weft-dns, and a pod resolves the Service kubectl made', async () => {
    const dnsPods = JSON.parse(must(['get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=kube-dns', '-o', 'json'])) as {
      items: Array<{ spec: { containers: Array<{ command: string[] }> }; status: { phase: string } }>;
    };
    assert.equal(dnsPods.items.length, 2, 'two weft dns pods in kube-system');
    for (const p of dnsPods.items) {
      assert.equal(p.status.phase, 'Running');
      const cmd = p.spec.containers[0]!.command.join(' ');
      assert.match(cmd, / dns --cluster kube --kubeconfig \S+\/kube\/dns\.kubeconfig /);
    }
    // Made after the DNS pods started: they learn it from their watch of the API server.
    must(['create', 'service', 'clusterip', 'web', '-n', 'kq', '--tcp=80:80']);
    const clusterIP = must(['get', 'service', 'web', '-n', 'kq', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    assert.ok(cidrContains(parseCidr('10.96.0.0/12'), parseIp(clusterIP)), `${clusterIP} is in the service range`);
    // From kq/p2 through its resolv.conf (kube-dns's ClusterIP, the search path of its namespace).
    for (const name of ['web.kq.svc.cluster.local', 'web.kq']) {
      const answer = await waitFor(`kq/p2 to resolve ${name}`, () => {
        const r = lab.weft(['exec', '-n', 'kq', 'p2', '--', 'getent', 'hosts', name]);
        return r.status === 0 ? r.stdout.trim() : undefined;
      });
      assert.equal(answer.split(/\s+/)[0], clusterIP, `${name} is the ClusterIP kubectl shows`);
    }
    // A name that does not exist: NXDOMAIN at once (getent's exit 2), not a timeout.
    assert.equal(lab.weft(['exec', '-n', 'kq', 'p2', '--', 'getent', 'hosts', 'nope.kq.svc.cluster.local']).status, 2);
  });

  test('Ingress: the weft ingress pod reads the API server as weft-ingress; an Ingress made with kubectl routes from outside and gets the address in its status', async () => {
    const controller = JSON.parse(must(['get', 'pod', 'weft-ingress-1', '-n', 'ingress-weft', '-o', 'json'])) as {
      spec: { containers: Array<{ command: string[] }> };
    };
    assert.match(
      controller.spec.containers[0]!.command.join(' '),
      / ingress --cluster kube --kubeconfig \S+\/kube\/ingress\.kubeconfig /,
    );
    const ingressYaml = [
      routeBackendsManifest([process.execPath, CLI], 'kq', ['web-a'])
        .split('\n---\n')
        .slice(1) // namespace kq is there already, with its ServiceAccount
        .join('\n---\n'),
      'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ia, namespace: kq}\nspec:\n  rules:\n  - host: a.example.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-a, port: {number: 80}}}}\n',
    ].join('\n---\n');
    must(['apply', '-f', lab.file('ingress-a.yaml', ingressYaml)]);
    const lb = await waitFor('the ingress Service to get a load-balancer address', () => {
      const ip = must([
        'get',
        'svc',
        'ingress-weft',
        '-n',
        'ingress-weft',
        '-o',
        'jsonpath={.status.loadBalancer.ingress[0].ip}',
      ]);
      return ip.trim() || undefined;
    });
    const answer = await waitFor('a.example.com to answer through the ingress pod', () => {
      const r = lab.weft([
        'lab',
        'outside',
        '--',
        'curl',
        '-s',
        '-m',
        '5',
        '-H',
        'Host: a.example.com',
        `http://${lb}/x`,
      ]);
      try {
        const a = JSON.parse(r.stdout) as { pod: string; path: string };
        return a.pod === 'web-a' ? a : undefined;
      } catch {
        return undefined;
      }
    });
    assert.equal(answer.path, '/x');
    await waitFor("the Ingress's status to carry the address", () =>
      must(['get', 'ingress', 'ia', '-n', 'kq', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']).trim() === lb
        ? true
        : undefined,
    );
  });

  test('lab add-node joins n3 through the API and a pod on it is reached; remove-node deletes the Node and its route goes', async () => {
    lab.must(['lab', 'add-node']); // returns once n3 is Ready in the API
    const n3 = JSON.parse(must(['get', 'node', 'n3', '-o', 'json'])) as NodeJson;
    assert.ok(
      n3.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      'n3 Ready',
    );
    assert.equal(n3.status.addresses?.find((a) => a.type === 'InternalIP')?.address, '10.99.0.3');
    const cidr = await waitFor(
      "n3's podCIDR",
      () => (JSON.parse(must(['get', 'node', 'n3', '-o', 'json'])) as NodeJson).spec.podCIDR,
    );
    const routeOnN1 = () => sh(['ip', '-n', `${lab.prefix}n1`, 'route', 'show', cidr]).stdout.trim();
    await waitFor(`n1's route to ${cidr}`, () => (routeOnN1() !== '' ? true : undefined));
    must([
      'apply',
      '-f',
      lab.file(
        'p5.yaml',
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p5, namespace: kq}\nspec: {nodeName: n3, containers: [{name: c, image: weft-lab-echo, ports: [{containerPort: 80}]}]}\n',
      ),
    ]);
    await waitFor('kq/p5 Running on n3', () =>
      must(['get', 'pod', 'p5', '-n', 'kq', '-o', 'jsonpath={.status.phase}']) === 'Running' ? true : undefined,
    );
    const m = await waitFor('every kq pod to reach kq/p5 on 80/TCP', () => {
      const r = lab.probe(['-n', 'kq', '-l', '!app', '--port', '80']);
      return r.results.filter((x) => x.to === 'kq/p5').every((x) => x.connected) ? r : undefined;
    });
    assert.deepEqual(
      m.results.filter((x) => !x.connected).map((x) => `${x.from} → ${x.to}`),
      [],
      'p2 to p5 (not the HTTP echo web-a) reach each other, p5 on the new node included',
    );
    must(['delete', 'pod', 'p5', '-n', 'kq', '--grace-period=1', '--wait=false']);
    lab.must(['lab', 'remove-node', '--node', 'n3']);
    assert.notEqual(kubectl(['get', 'node', 'n3']).status, 0, 'the Node is deleted');
    await waitFor(`n1's route to ${cidr} to go`, () => (routeOnN1() === '' ? true : undefined));
  });

  test('lab down ends the API server, the controller manager, their etcd and the relay, even without lab.json', () => {
    const apiPids = pids.filter((p) => {
      const r = sh(['cat', `/proc/${p}/cmdline`]);
      return /kube-apiserver|kube-controller-manager|--name\0kube\0|lab\0gateway/.test(r.stdout);
    });
    assert.ok(apiPids.length >= 4, `found the API's processes: ${apiPids.join(',')}`);
    // Run from a shell without the lab's WEFT_LAB_ROOT: lab.json is not found, and the processes
    // in the root namespace are found by the mark in their environment instead.
    const elsewhere = mkdtempSync(join(tmpdir(), 'weft-labroot-elsewhere-'));
    try {
      const r = sh([process.execPath, CLI, 'lab', 'down', '--name', lab.name], {
        env: { ...lab.env, WEFT_LAB_ROOT: elsewhere },
        timeoutMs: 120_000,
      });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    // Gone, or a zombie its new parent has yet to reap (it has exited: /proc/PID/stat says Z).
    const running = (p: number) => {
      const stat = sh(['cat', `/proc/${p}/stat`]);
      return stat.status === 0 && !/^\d+ \(.*\) Z /.test(stat.stdout);
    };
    for (const p of apiPids) assert.equal(running(p), false, `process ${p} has ended`);
    assert.deepEqual(
      sh(['ip', 'netns', 'list'])
        .stdout.split('\n')
        .filter((l) => l.startsWith(lab.prefix)),
      [],
      "the lab's namespaces are gone",
    );
    lab.down(); // the lab's directory
  });
});

for (const backend of ['vxlan', 'host-gw'] as const)
  describe(
    `the example and the policy smoke scenarios with --api kube on ${backend}`,
    { skip: missing, concurrency: false },
    () => {
      requireRoot();
      const lab = new TestLab(backend === 'vxlan' ? 'kapv' : 'kaph');
      const kubeconfig = join(lab.dir, 'kube', 'admin.kubeconfig');
      const kubectl = (args: string[]) => sh([findKubeBinaries()!.kubectl, '--kubeconfig', kubeconfig, ...args]);

      before(() => {
        lab.up(['--api', 'kube', '--backend', backend]);
      });
      after(() => {
        lab.down();
      });

      test("kubectl apply -f examples/xyz: 9 pods, each with an address from its Node's podCIDR, all connected on 80/TCP and 81/UDP", async () => {
        // A pod in a namespace made by the same apply waits for the namespace's default ServiceAccount
        // (the API server's admission): applied again until accepted, as a user would.
        await waitFor('kubectl apply to be accepted whole', () =>
          kubectl(['apply', '-f', EXAMPLE]).status === 0 ? true : undefined,
        );
        const pods = await waitFor('the 9 pods Running', () => {
          const ps = lab.pods().filter((p) => ['x', 'y', 'z'].includes(p.metadata.namespace));
          return ps.length === 9 && ps.every((p) => p.status.phase === 'Running' && p.status.podIP) ? ps : undefined;
        });
        const cidrs = new Map(
          (JSON.parse(kubectl(['get', 'nodes', '-o', 'json']).stdout) as { items: NodeJson[] }).items.map((n) => [
            n.metadata.name,
            n.spec.podCIDR,
          ]),
        );
        for (const p of pods) {
          const cidr = cidrs.get(p.spec.nodeName!);
          assert.ok(cidr, `${p.spec.nodeName} has a podCIDR`);
          assert.ok(
            cidrContains(parseCidr(cidr), parseIp(p.status.podIP!)),
            `${p.metadata.namespace}/${p.metadata.name} ${p.status.podIP} is in ${p.spec.nodeName}'s ${cidr}`,
          );
        }
        assertAllConnected(lab);
      });

      for (const name of SMOKE_SCENARIOS) test(`policy through the API: ${name}`, () => policySmoke(lab, name));

      test('a Service made with kubectl: its ClusterIP from the API server, its EndpointSlice from the controller manager, balanced by the agents', async () => {
        const svc = `apiVersion: v1\nkind: Service\nmetadata: {name: ab, namespace: x}\nspec: {selector: {pod: a}, ports: [{port: 8080, targetPort: 80}]}\n`;
        const r = sh([findKubeBinaries()!.kubectl, '--kubeconfig', kubeconfig, 'apply', '-f', '-'], { input: svc });
        assert.equal(r.status, 0, r.stderr);
        const slice = await waitFor("the controller manager's EndpointSlice for x/ab", () => {
          const out = kubectl([
            'get',
            'endpointslices',
            '-n',
            'x',
            '-l',
            'kubernetes.io/service-name=ab',
            '-o',
            'json',
          ]);
          const items = (JSON.parse(out.stdout) as { items: Array<{ endpoints?: Array<{ addresses: string[] }> }> })
            .items;
          return items[0]?.endpoints?.length === 1 ? items[0] : undefined;
        });
        const podA = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'a')!;
        assert.deepEqual(slice.endpoints?.[0]?.addresses, [podA.status.podIP]);
        const probe = await waitFor('y/b to reach x/ab through its ClusterIP', () => {
          const out = lab.weft([
            'probe',
            '--to',
            'service/x/ab',
            '-n',
            'y',
            '-l',
            'pod=b',
            '--connections',
            '4',
            '-o',
            'json',
          ]);
          const doc = JSON.parse(out.stdout || '{}') as {
            results?: Array<{ from: string; answers: Record<string, number> }>;
          };
          return doc.results?.[0]?.answers['x/a'] === 4 ? doc : undefined;
        });
        assert.equal(probe.results?.[0]?.from, 'y/b');
      });

      test('a LoadBalancer made with kubectl gets an address of the lab pool (status written by the lab), and an outside client reaches its backend through it', async () => {
        const svc = `apiVersion: v1\nkind: Service\nmetadata: {name: ablb, namespace: x}\nspec: {type: LoadBalancer, selector: {pod: a}, ports: [{port: 8081, targetPort: 80}]}\n`;
        const r = sh([findKubeBinaries()!.kubectl, '--kubeconfig', kubeconfig, 'apply', '-f', '-'], { input: svc });
        assert.equal(r.status, 0, r.stderr);
        const ip = await waitFor('x/ablb to get a load-balancer address', () => {
          const out = kubectl([
            'get',
            'service',
            'ablb',
            '-n',
            'x',
            '-o',
            'jsonpath={.status.loadBalancer.ingress[0].ip}',
          ]);
          return out.stdout.trim() || undefined;
        });
        assert.match(ip, /^10\.99\.0\.(22[4-9]|23[0-9])$/, 'from the lab pool 10.99.0.224/28');
        const podA = lab.pods().find((p) => p.metadata.namespace === 'x' && p.metadata.name === 'a')!;
        const greeting = await waitFor(`an outside client through ${ip}:8081`, () => {
          const out = lab.weft(['lab', 'outside', '--', 'socat', '-T', '2', '-', `TCP:${ip}:8081,connect-timeout=2`], {
            timeoutMs: 30_000,
          });
          return out.status === 0 && out.stdout.startsWith('weft ') ? out.stdout.trim() : undefined;
        });
        assert.match(greeting, /^weft x\/a 80 from /, `the greeting of x/a (${podA.status.podIP})`);
        // Deleted: the address is free again and the gateway's route to it goes.
        // The underlay gateway's namespace, where the lab keeps the routes nodes would announce.
        const segmentNs = (JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as { segmentNs: string })
          .segmentNs;
        assert.match(sh(['ip', '-n', segmentNs, 'route', 'show', `${ip}/32`]).stdout, /nexthop|via/);
        assert.equal(kubectl(['delete', 'service', 'ablb', '-n', 'x']).status, 0);
        await waitFor(`the gateway's route to ${ip} to go`, () =>
          sh(['ip', '-n', segmentNs, 'route', 'show', `${ip}/32`]).stdout.trim() === '' ? true : undefined,
        );
      });
    },
  );
