// `weft agent --kube-subnet-mgr` against a real kube-apiserver (issue 17): the node's lease is its
// Node's spec.podCIDR (from kube-controller-manager), Flannel's annotations are published, peers
// are the annotated Nodes (flanneld's too), watched; a bad kubeconfig, an RBAC denial and a Node
// without podCIDR are named in the subnet controller's status and retried until fixed
// (acceptance 3); deploy/weft.yaml allows exactly what the agent uses, and the agent's
// subnet manager and cluster cache work with a ServiceAccount bound to it and nothing else.
// Skipped, with the reason, when Kubernetes is not built.
import { rbacResourceOf } from '../src/lab/lab-kube.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { systemClock } from '../src/adapters/clock.js';
import { JsonLogger } from '../src/adapters/json-logger.js';
import { PromMetrics } from '../src/adapters/metrics-prom.js';
import { KubeClient, loadKubeconfig, NODE_RESOURCE, resourceOf } from '../src/adapters/kube-api.js';
import { KubeClusterSource } from '../src/adapters/cluster-source-kube.js';
import { ClusterCache } from '../src/agent/cluster-cache.js';
import { SubnetController } from '../src/agent/agent.js';
import { FLANNEL_ANNOTATIONS, flannelAnnotations, KubeSubnetLease } from '../src/agent/kube-subnet-lease.js';
import { parseNetConf } from '../src/core/flannel/net-conf.js';
import { writeKubeconfig } from '../src/lab/kube-control-plane.js';
import type { Exec, ExecResult } from '../src/ports/exec.js';
import type { LeaseAttrsIn } from '../src/agent/agent.js';
import { createNamespace, podManifest, putNode, withKube } from './support/kube.js';
import { waitFor } from './support/cluster.js';

const RBAC_FILE = fileURLToPath(new URL('../../deploy/weft.yaml', import.meta.url));
const NET_CONF = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const conf = parseNetConf(NET_CONF);
const quiet = () => new JsonLogger(() => undefined);

/** `ip -j -4 addr show` of a node with eth0 at `ip`: all detectNodeAddress asks. */
function addrExec(ip: string): Exec {
  return {
    run: async (): Promise<ExecResult> => ({
      stdout: JSON.stringify([
        { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: ip, prefixlen: 24, scope: 'global' }] },
      ]),
      stderr: '',
      exitCode: 0,
    }),
    tryRun: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
  };
}

const attrs = (node: string, ip: string, mac: string): LeaseAttrsIn => ({
  publicIp: ip,
  backendType: 'vxlan',
  backendData: { VNI: 1, VtepMAC: mac },
  nodeName: node,
});

function leaser(
  client: KubeClient | (() => Promise<KubeClient>),
  node: string,
  a: LeaseAttrsIn,
  onPeers = () => undefined,
) {
  return new KubeSubnetLease({
    client: typeof client === 'function' ? client : () => Promise.resolve(client),
    nodeName: node,
    conf,
    attrs: a,
    clock: systemClock,
    log: quiet(),
    onPeersChanged: onPeers,
    retryInitialMs: 50,
    retryMaxMs: 500,
  });
}

async function podCidrOf(c: KubeClient, node: string): Promise<string> {
  return waitFor(`a podCIDR for ${node}`, async () => {
    const n = await c.get<{ spec?: { podCIDR?: string } }>(NODE_RESOURCE, node);
    return n.spec?.podCIDR;
  });
}

/** Creates every document of deploy/weft.yaml (as `kubectl apply` would on a fresh cluster). */
async function applyRbac(admin: KubeClient, only?: string[]): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(RBAC_FILE, 'utf8'))) {
    const obj = doc.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
    if (only && !only.includes(obj.kind)) continue;
    const r = rbacResourceOf(obj.kind);
    if (!r) continue; // the install's other documents (ConfigMap, DaemonSet)
    await admin.create(r, obj, r.namespaced ? obj.metadata.namespace : undefined);
  }
}

/** A fresh token of ServiceAccount kube-system/weft. */
async function weftToken(admin: KubeClient): Promise<string> {
  const t = await admin.request<{ status: { token: string } }>(
    'POST',
    '/api/v1/namespaces/kube-system/serviceaccounts/weft/token',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  );
  return t.status.token;
}

test('kube subnet manager: the lease is the Node podCIDR; Flannel annotations are published; annotated Nodes (flanneld too) are the watched peers', (t) =>
  withKube(t, async ({ admin }) => {
    for (const n of ['n1', 'n2', 'n3', 'n4']) await putNode(admin, n);
    const cidr1 = await podCidrOf(admin, 'n1');
    const cidr2 = await podCidrOf(admin, 'n2');
    const cidr3 = await podCidrOf(admin, 'n3');
    let changes = 0;
    const l1 = leaser(admin, 'n1', attrs('n1', '10.99.0.1', '02:00:00:00:00:01'), () => void changes++);
    const l2 = leaser(admin, 'n2', attrs('n2', '10.99.0.2', '02:00:00:00:00:02'));
    try {
      const lease = await l1.start();
      assert.equal(lease.subnet, cidr1, "the Node's podCIDR, allocated by kube-controller-manager");
      const n1 = await admin.get(NODE_RESOURCE, 'n1');
      const published = Object.fromEntries(
        Object.entries(n1.metadata.annotations ?? {}).filter(([k]) => k.startsWith('flannel.alpha.coreos.com/')),
      );
      assert.deepEqual(published, {
        [FLANNEL_ANNOTATIONS.publicIp]: '10.99.0.1',
        [FLANNEL_ANNOTATIONS.backendType]: 'vxlan',
        [FLANNEL_ANNOTATIONS.backendData]: '{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}',
        [FLANNEL_ANNOTATIONS.kubeSubnetManager]: 'true',
      });
      assert.deepEqual(l1.peers(), [], 'nodes without annotations are not peers');

      await l2.start();
      const peer = await waitFor('n2 as a peer', () => l1.peers().find((p) => p.nodeName === 'n2'));
      assert.deepEqual(
        { subnet: peer.subnet, publicIp: peer.publicIp, backendType: peer.backendType, backendData: peer.backendData },
        {
          subnet: cidr2,
          publicIp: '10.99.0.2',
          backendType: 'vxlan',
          backendData: { VNI: 1, VtepMAC: '02:00:00:00:00:02' },
        },
      );
      assert.ok(
        l2.peers().some((p) => p.nodeName === 'n1'),
        'and n1 is a peer of n2',
      );

      // A node running the real flanneld writes the same annotations (its backend-data as Go's json.Marshal has it).
      await admin.patch(NODE_RESOURCE, 'n3', {
        metadata: {
          annotations: {
            [FLANNEL_ANNOTATIONS.publicIp]: '10.99.0.3',
            [FLANNEL_ANNOTATIONS.backendType]: 'vxlan',
            [FLANNEL_ANNOTATIONS.backendData]: '{"VNI":1,"VtepMAC":"02:00:00:00:00:03"}',
            [FLANNEL_ANNOTATIONS.kubeSubnetManager]: 'true',
          },
        },
      });
      const f = await waitFor('the flanneld node as a peer', () => l1.peers().find((p) => p.nodeName === 'n3'));
      assert.equal(f.subnet, cidr3);
      assert.equal(f.backendData.VtepMAC, '02:00:00:00:00:03');
      // Bad backend-data: not a peer (said in the log), the others stay.
      await admin.patch(NODE_RESOURCE, 'n4', {
        metadata: {
          annotations: { ...flannelAnnotations(attrs('n4', '10.99.0.4', 'x')), [FLANNEL_ANNOTATIONS.backendData]: '{' },
        },
      });
      await admin.delete(NODE_RESOURCE, 'n2');
      await waitFor('n2 gone', () => (l1.peers().some((p) => p.nodeName === 'n2') ? undefined : true));
      assert.deepEqual(
        l1.peers().map((p) => p.nodeName),
        ['n3'],
      );
      assert.ok(changes >= 3, `onPeersChanged called on each change (${changes})`);
    } finally {
      await l1.stop();
      await l2.stop();
    }
  }));

test('kube subnet manager errors (acceptance 3): a bad kubeconfig, an RBAC denial, a Node without podCIDR are named in the status and retried until fixed', (t) =>
  withKube(
    t,
    async ({ admin, rec, dir }) => {
      await putNode(admin, 'n1'); // no controller manager here: nobody assigns its podCIDR
      const kubeconfig = join(dir, 'agent.kubeconfig');
      writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [oops\n');
      const lines: string[] = [];
      const log = new JsonLogger((l) => lines.push(l));
      const c = new SubnetController({
        nodeName: 'n1',
        iface: 'eth0',
        exec: addrExec('10.99.0.1'),
        loadConf: () => Promise.resolve(conf),
        clock: systemClock,
        log,
        metrics: new PromMetrics(),
        retryInitialMs: 50,
        retryMaxMs: 300,
        onPeersChanged: () => undefined,
        makeLeaser: (cf, a, onPeers) =>
          new KubeSubnetLease({
            client: async () => new KubeClient(await loadKubeconfig(kubeconfig)),
            nodeName: 'n1',
            conf: cf,
            attrs: a,
            clock: systemClock,
            log,
            onPeersChanged: onPeers,
          }),
      });
      const started = c.start();
      try {
        const lastError = async (re: RegExp) =>
          waitFor(`a status error matching ${re}`, () => {
            const s = c.status();
            return s.lastError && re.test(s.lastError) ? s : undefined;
          });
        let s = await lastError(/kubeconfig .*agent\.kubeconfig: not YAML or JSON/);
        assert.equal(s.state, 'starting');
        assert.equal(s.ready, false);
        const before = s.failures;
        await waitFor('a retry', () => (c.status().failures > before ? true : undefined));

        // A kubeconfig that works, for a ServiceAccount with no role yet: 403, the server's own words.
        await applyRbac(admin, ['ServiceAccount']);
        writeKubeconfig(kubeconfig, {
          server: rec.url,
          caFile: rec.caFile,
          token: await weftToken(admin),
          user: 'weft',
        });
        s = await lastError(/403 Forbidden/);
        assert.match(
          s.lastError!,
          /nodes "n1" is forbidden: User "system:serviceaccount:kube-system:weft" cannot get resource "nodes"/,
        );

        // The role bound: now the Node itself is the problem.
        await applyRbac(admin, ['ClusterRole', 'ClusterRoleBinding']);
        s = await lastError(/Node n1 has no spec\.podCIDR/);
        assert.equal(s.ready, false);
        assert.ok(
          lines.some((l) => l.includes('cannot hold a subnet lease yet; retrying') && l.includes('podCIDR')),
          'said in the log too',
        );

        await admin.patch(NODE_RESOURCE, 'n1', { spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'] } });
        await started;
        s = c.status();
        assert.equal(s.ready, true, JSON.stringify(s));
        assert.equal(c.network().leaser.lease().subnet, '10.244.7.0/24');
        const n1 = await admin.get(NODE_RESOURCE, 'n1');
        assert.equal(n1.metadata.annotations?.[FLANNEL_ANNOTATIONS.publicIp], '10.99.0.1');
      } finally {
        await c.stop();
        await started.catch(() => undefined);
      }
    },
    { controllerManager: false },
  ));

/** Whether the weft ServiceAccount may do `verb` on the resource (a SubjectAccessReview, as `kubectl auth can-i --as`). */
async function canI(admin: KubeClient, verb: string, group: string, resource: string, sub?: string): Promise<boolean> {
  const r = await admin.request<{ status: { allowed: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'system:serviceaccount:kube-system:weft',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
        resourceAttributes: { verb, group, resource, ...(sub ? { subresource: sub } : {}) },
      },
    },
  );
  return r.status.allowed;
}

test('deploy/weft.yaml: the role allows exactly what the agent uses; the subnet manager and the cluster cache work with that ServiceAccount alone', (t) =>
  withKube(t, async ({ admin, rec }) => {
    await applyRbac(admin);
    const allowed: Array<[string, string, string]> = [
      ['get', '', 'nodes'],
      ['list', '', 'nodes'],
      ['watch', '', 'nodes'],
      ['patch', '', 'nodes'],
      ...(['namespaces', 'pods', 'services'] as const).flatMap((r) =>
        (['list', 'watch'] as const).map((v): [string, string, string] => [v, '', r]),
      ),
      ['list', 'networking.k8s.io', 'networkpolicies'],
      ['watch', 'networking.k8s.io', 'networkpolicies'],
      ['list', 'discovery.k8s.io', 'endpointslices'],
      ['watch', 'discovery.k8s.io', 'endpointslices'],
    ];
    for (const [v, g, r] of allowed) assert.equal(await canI(admin, v, g, r), true, `${v} ${r}.${g}`);
    const denied: Array<[string, string, string, string?]> = [
      ['update', '', 'nodes'],
      ['delete', '', 'nodes'],
      ['create', '', 'nodes'],
      ['patch', '', 'nodes', 'status'],
      ['get', '', 'pods'],
      ['create', '', 'pods'],
      ['delete', '', 'pods'],
      ['get', '', 'secrets'],
      ['list', '', 'secrets'],
      ['list', '', 'configmaps'],
      ['update', 'networking.k8s.io', 'networkpolicies'],
      ['create', 'discovery.k8s.io', 'endpointslices'],
      ['get', '', 'services'],
    ];
    for (const [v, g, r, sub] of denied)
      assert.equal(await canI(admin, v, g, r, sub), false, `${v} ${r}${sub ? `/${sub}` : ''}.${g}`);

    // The agent's API calls with that ServiceAccount's token only.
    const weft = new KubeClient({
      server: rec.url,
      ca: readFileSync(rec.caFile),
      token: await weftToken(admin),
      source: 'test',
    });
    await putNode(admin, 'n1');
    await putNode(admin, 'n2');
    await podCidrOf(admin, 'n1');
    await podCidrOf(admin, 'n2');
    await createNamespace(admin, 'x');
    await admin.create(resourceOf('Pod'), podManifest('x', 'a', { app: 'web' }), 'x');
    const l1 = leaser(weft, 'n1', attrs('n1', '10.99.0.1', '02:00:00:00:00:01'));
    const l2 = leaser(weft, 'n2', attrs('n2', '10.99.0.2', '02:00:00:00:00:02'));
    const cache = new ClusterCache({
      source: new KubeClusterSource({ client: weft, clock: systemClock, log: quiet() }),
      kinds: ['Namespace', 'Pod', 'NetworkPolicy', 'Service', 'EndpointSlice'],
      clock: systemClock,
      log: quiet(),
    });
    try {
      await l1.start();
      await l2.start();
      await waitFor('n2 as a peer of n1', () => l1.peers().find((p) => p.nodeName === 'n2'));
      await cache.start();
      assert.deepEqual(
        cache.list('Pod').map((p) => p.object.metadata.name),
        ['a'],
      );
      assert.ok(cache.service('default', 'kubernetes'), 'Services are listed');
      await admin.create(
        resourceOf('NetworkPolicy'),
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'deny', namespace: 'x' },
          spec: { podSelector: {} },
        },
        'x',
      );
      await waitFor('the policy through the watch', () =>
        cache.policiesInNamespace('x').length === 1 ? true : undefined,
      );
    } finally {
      await cache.stop();
      await l1.stop();
      await l2.stop();
      weft.close();
    }
  }));
