/**
 * `weft agent --kube-subnet-mgr` as a process (issue 17): two agents in node namespaces, each with
 * a kubeconfig holding the token of ServiceAccount kube-system/weft bound to deploy/weft.yaml's
 * role (not admin), take their Nodes' podCIDRs from kube-controller-manager, publish Flannel's
 * annotations, route to each other over vxlan, and pods on them ping each other. kube-apiserver is
 * then killed: the agents keep everything (routes, pods' traffic) and report nothing torn down;
 * it comes back and they go on. A third agent with an unreadable kubeconfig is NotReady naming the
 * kubeconfig in /healthz and its node status document, retries, and is Ready once the file is fixed.
 *
 * The API server listens on the host's 127.0.0.1; each node namespace reaches it through socat over
 * a unix socket (no root-namespace interface is touched), at its own 127.0.0.1:6443, which the
 * serving certificate names. Skipped, with the reason, when Kubernetes is not built.
 */

import { agentHealth, agentNodeStatus } from './support/agent-status.js';
import { rbacResourceOf } from '../src/lab/lab-kube.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Cluster, waitFor, type ClusterNode } from './support/cluster.js';
import { ipJson, requireRoot } from './support/netns.js';
import { ping } from './support/traffic.js';
import { createNamespace, kubeMissing, podManifest, putNode, TestControlPlane } from './support/kube.js';
import { KubeClient, loadKubeconfig, NODE_RESOURCE, resourceOf } from '../src/adapters/kube-api.js';
import { adminTls, startApiServer, waitApiServer, writeKubeconfig } from '../src/lab/kube-control-plane.js';
import { signalProcess } from '../src/adapters/proc.js';
import { FLANNEL_ANNOTATIONS } from '../src/agent/kube-subnet-lease.js';

const missing = kubeMissing();
const RBAC_FILE = fileURLToPath(new URL('../../deploy/weft.yaml', import.meta.url));
const work = `/tmp/weft-akube-test-${process.pid}`;
let cluster: Cluster;
const cp = new TestControlPlane();
let admin: KubeClient;
const relays: ChildProcess[] = [];

/** 127.0.0.1:6443 in the node's namespace → a unix socket → the API server on the host's loopback. */
function relay(node: ClusterNode, apiPort: number): void {
  const sock = join(work, `${node.name}-api.sock`);
  const host = spawn('socat', [`UNIX-LISTEN:${sock},fork,unlink-early`, `TCP:127.0.0.1:${apiPort}`], {
    stdio: 'ignore',
  });
  const inside = spawn(
    'ip',
    ['netns', 'exec', node.ns, 'socat', 'TCP-LISTEN:6443,bind=127.0.0.1,fork,reuseaddr', `UNIX-CONNECT:${sock}`],
    { stdio: 'ignore' },
  );
  relays.push(host, inside);
}

let agentKubeconfig = '';
let netConf = '';
const agentArgs = (kubeconfig: string) => [
  '--kube-subnet-mgr',
  '--kubeconfig',
  kubeconfig,
  '--net-conf',
  netConf,
  '--no-flow-log',
  '--resync',
  '5s',
];

before(async () => {
  if (missing) return;
  requireRoot();
  cluster = new Cluster('weft-akube-', work);
  await cluster.build(3);
  const rec = await cp.start();
  admin = new KubeClient(await loadKubeconfig(rec.adminKubeconfig));
  for (const doc of parseAllDocuments(readFileSync(RBAC_FILE, 'utf8'))) {
    const obj = doc.toJS() as { kind: string; metadata: { namespace?: string } };
    const r = rbacResourceOf(obj.kind);
    if (!r) continue; // the install's other documents (ConfigMap, DaemonSet)
    await admin.create(r, obj, r.namespaced ? obj.metadata.namespace : undefined);
  }
  const tok = await admin.request<{ status: { token: string } }>(
    'POST',
    '/api/v1/namespaces/kube-system/serviceaccounts/weft/token',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } },
  );
  agentKubeconfig = join(work, 'agent.kubeconfig');
  writeKubeconfig(agentKubeconfig, {
    server: 'https://127.0.0.1:6443',
    caFile: rec.caFile,
    token: tok.status.token,
    user: 'weft',
  });
  netConf = join(work, 'net-conf.json');
  writeFileSync(netConf, JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }));
  for (const n of cluster.nodes) {
    relay(n, rec.apiPort);
    await putNode(admin, n.name);
  }
});

after(async () => {
  if (missing) return;
  await cluster?.destroy();
  for (const r of relays) if (r.pid) signalProcess(r.pid, 'SIGTERM');
  admin?.close();
  await cp.stop();
});

test(
  'two agents with the weft ServiceAccount: Node podCIDRs, Flannel annotations, vxlan routes, pods ping; an API server outage tears nothing down',
  { timeout: 240_000 },
  async (t) => {
    if (missing) {
      t.skip(missing);
      return;
    }
    const [n1, n2] = cluster.nodes as [ClusterNode, ClusterNode];
    const cidrs: string[] = [];
    for (const n of [n1, n2])
      cidrs.push(
        await waitFor(
          `${n.name}'s podCIDR`,
          async () => (await admin.get<{ spec?: { podCIDR?: string } }>(NODE_RESOURCE, n.name)).spec?.podCIDR,
        ),
      );
    for (const n of [n1, n2]) cluster.startAgent(n, [], agentArgs(agentKubeconfig));
    for (const [i, n] of [n1, n2].entries()) {
      const env = await waitFor(`${n.name}'s subnet.env`, () => cluster.subnetEnv(n), 60_000);
      const first = cidrs[i]!.replace(/0\/24$/, '1/24');
      assert.match(
        env,
        new RegExp(`FLANNEL_SUBNET=${first.replace(/\./g, '\\.')}`),
        `${n.name} uses its Node's podCIDR`,
      );
    }
    const node1 = await admin.get(NODE_RESOURCE, n1.name);
    const ann = node1.metadata.annotations ?? {};
    assert.equal(ann[FLANNEL_ANNOTATIONS.publicIp], n1.ip);
    assert.equal(ann[FLANNEL_ANNOTATIONS.backendType], 'vxlan');
    assert.equal(ann[FLANNEL_ANNOTATIONS.kubeSubnetManager], 'true');
    const mac = (JSON.parse(ann[FLANNEL_ANNOTATIONS.backendData]!) as { VtepMAC: string }).VtepMAC;
    const vxlan = ipJson<Array<{ ifname: string; address: string }>>(n1.ns, ['link', 'show', 'type', 'vxlan']);
    assert.ok(
      vxlan.some((l) => l.address === mac),
      `the published VtepMAC ${mac} is n1's vxlan device's`,
    );
    const routes: Array<{ dst: string; dev?: string }> = [];
    for (const [n, peerCidr] of [
      [n1, cidrs[1]!],
      [n2, cidrs[0]!],
    ] as const)
      routes.push(
        await waitFor(`${n.name} routes its peer's podCIDR ${peerCidr}`, () =>
          ipJson<Array<{ dst: string; dev?: string }>>(n.ns, ['route', 'show']).find((r) => r.dst === peerCidr),
        ),
      );
    assert.ok(routes[0]!.dev && vxlan.some((l) => l.ifname === routes[0]!.dev), JSON.stringify(routes[0]));

    const p1 = await cluster.addPod(n1, 'p1');
    const p2 = await cluster.addPod(n2, 'p2');
    // The pods as the kubelet reports them: bound to their nodes, Running with their IPs. The agents'
    // pod guards keep a new pod's traffic until its policy is in place, which needs the pod in the API.
    await createNamespace(admin, 'apps');
    for (const [p, n] of [
      [p1, n1],
      [p2, n2],
    ] as const) {
      const made = await admin.create(resourceOf('Pod'), podManifest('apps', p.name, { app: p.name }, n.name), 'apps');
      await admin.updateStatus(resourceOf('Pod'), {
        ...made,
        status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], hostIP: n.ip },
      });
    }
    // The first packets may meet a neighbour entry being written: a few tries, then it must answer.
    await waitFor('p1 to ping p2', () => {
      ping(p1.ns, p2.ip);
      return true;
    });

    // The API server goes away: the agents keep their routes and the pods keep talking.
    signalProcess(cp.rec!.pids.apiserver, 'SIGKILL');
    await waitFor(
      'the agents to notice',
      () =>
        n1.agent!.log.some((l) => /cannot reach the API server|watch interrupted|Node watch ended/.test(l))
          ? true
          : undefined,
      30_000,
    );
    ping(p1.ns, p2.ip);
    assert.ok(
      ipJson<Array<{ dst: string }>>(n1.ns, ['route', 'show']).some((r) => r.dst === cidrs[1]),
      'the route stays',
    );
    assert.equal(n1.agent!.child.exitCode, null, 'the agent is still running');
    startApiServer(cp.rec!);
    await waitApiServer(cp.rec!, adminTls(cp.rec!));
    // A third node joins while they watch again: both agents route to it.
    const n3cidr = '10.244.200.0/24';
    await admin.patch(NODE_RESOURCE, cluster.nodes[2]!.name, {
      metadata: {
        annotations: {
          [FLANNEL_ANNOTATIONS.publicIp]: cluster.nodes[2]!.ip,
          [FLANNEL_ANNOTATIONS.backendType]: 'vxlan',
          [FLANNEL_ANNOTATIONS.backendData]: '{"VNI":1,"VtepMAC":"02:00:00:00:00:33"}',
          [FLANNEL_ANNOTATIONS.kubeSubnetManager]: 'true',
        },
      },
    });
    const n3 = await admin.get<{ spec?: { podCIDR?: string } }>(NODE_RESOURCE, cluster.nodes[2]!.name);
    const want = n3.spec?.podCIDR ?? n3cidr;
    for (const n of [n1, n2])
      await waitFor(
        `${n.name} routes the new peer`,
        () => (ipJson<Array<{ dst: string }>>(n.ns, ['route', 'show']).some((r) => r.dst === want) ? true : undefined),
        30_000,
      );
    ping(p1.ns, p2.ip);
    await cluster.stopAgent(n1);
    await cluster.stopAgent(n2);
    cluster.nodes[2]!.agent = undefined;
  },
);

test(
  'an agent with an unreadable kubeconfig is NotReady naming it, retries, and is Ready once it is fixed',
  { timeout: 120_000 },
  async (t) => {
    if (missing) {
      t.skip(missing);
      return;
    }
    const n3 = cluster.nodes[2]!;
    const bad = join(work, 'n3.kubeconfig');
    writeFileSync(bad, 'clusters: [oops\n');
    cluster.startAgent(n3, [], agentArgs(bad));
    const h = await waitFor(
      '/healthz names the kubeconfig',
      () => {
        const r = agentHealth(n3.ns);
        return r && r.status === 503 && r.body.includes('kubeconfig') ? r : undefined;
      },
      30_000,
    );
    assert.match(
      h.body,
      /not ready: subnet starting: cannot hold a subnet lease: kubeconfig .*n3\.kubeconfig: not YAML or JSON/,
    );
    const doc = await waitFor('the node status document says why', () =>
      agentNodeStatus(n3.runDir)?.controllers.find((c) => c.name === 'subnet')?.lastError
        ? agentNodeStatus(n3.runDir)
        : undefined,
    );
    assert.match(doc.controllers.find((c) => c.name === 'subnet')!.lastError!, /n3\.kubeconfig: not YAML or JSON/);
    assert.equal(cluster.subnetEnv(n3), undefined, 'no subnet.env: no pod starts here');
    writeFileSync(bad, readFileSync(agentKubeconfig));
    await waitFor('/healthz 200', () => (agentHealth(n3.ns)?.status === 200 ? true : undefined), 60_000);
    assert.match(cluster.subnetEnv(n3) ?? '', /FLANNEL_SUBNET=10\.244\./);
    await cluster.stopAgent(n3);
  },
);
