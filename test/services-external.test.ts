/**
 * Services from outside the cluster (issue 11), on one 3-node vxlan lab shared by every scenario,
 * with real traffic from `weft lab outside` (namespaces on the underlay segment that belong to no
 * node): NodePort on every node address; externalTrafficPolicy Local keeping the client's address,
 * dropping on a node without a local endpoint, and the health check node port answering 200/503;
 * LoadBalancer through its ingress address with loadBalancerSourceRanges admitting one outside
 * client and blocking another; externalIPs.
 *
 * The backends are web1 on n1 and web2 on n2; n3 has none. The lab's pods greet each TCP
 * connection with `weft NS/POD PORT from CLIENT_IP`, which tells who answered and whom it saw.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listNetns, requireRoot, sh, type CmdResult } from './support/netns.js';
import { TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';

const NODE_IPS = ['10.99.0.1', '10.99.0.2', '10.99.0.3'];
const CLIENT = '10.99.0.250';
const OTHER_CLIENT = '10.99.0.249';
const EXTERNAL_IP = '10.99.0.3';

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: {name: ext}
---
apiVersion: v1
kind: Pod
metadata: {name: web1, namespace: ext, labels: {app: web}}
spec:
  nodeName: n1
  containers: [{name: serve, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web2, namespace: ext, labels: {app: web}}
spec:
  nodeName: n2
  containers: [{name: serve, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: np, namespace: ext}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, targetPort: http, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: ext}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30090}]
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: ext}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30100}]
  loadBalancerSourceRanges: [${CLIENT}/32]
---
apiVersion: v1
kind: Service
metadata: {name: eip, namespace: ext}
spec: {selector: {app: web}, externalIPs: [${EXTERNAL_IP}], ports: [{port: 8081, targetPort: http}]}
`;

interface ServiceDoc {
  metadata: { name: string };
  spec: { healthCheckNodePort?: number; type: string };
  status?: { loadBalancer: { ingress?: Array<{ ip: string }> } };
}

describe('Services from outside the cluster (vxlan)', { timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('hxt');
  const outside = (argv: string[], address?: string): CmdResult =>
    lab.weft(['lab', 'outside', ...(address ? ['--address', address] : []), '--', ...argv], { timeoutMs: 30_000 });
  /** One TCP connection from an outside client: the backend's greeting, or undefined when it failed. */
  const connect = (ip: string, port: number, address?: string): string | undefined => {
    const r = outside(['socat', '-T', '2', '-', `TCP:${ip}:${port},connect-timeout=2`], address);
    return r.status === 0 && r.stdout.startsWith('weft ') ? r.stdout.trim() : undefined;
  };
  /** The HTTP status and body of a health check, or the curl exit code when nothing answered. */
  const healthCheck = (ip: string, port: number): { status: number; body: string } | { curlExit: number } => {
    const r = outside(['curl', '-s', '-m', '2', '-w', '\n%{http_code}', `http://${ip}:${port}/`]);
    if (r.status !== 0) return { curlExit: r.status };
    const lines = r.stdout.trimEnd().split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  };
  const services = (): ServiceDoc[] =>
    (JSON.parse(lab.must(['get', 'services', '-n', 'ext', '-o', 'json'])) as { items: ServiceDoc[] }).items;
  const service = (name: string): ServiceDoc => {
    const s = services().find((x) => x.metadata.name === name);
    assert.ok(s, `service ${name} is stored`);
    return s;
  };

  before(async () => {
    lab.up(['--backend', 'vxlan']);
    lab.must(['apply', '-f', lab.file('ext.yaml', MANIFEST)]);
    // Both backends answer through the node port once their slices and every node's table are in.
    for (const ip of NODE_IPS) await waitFor(`node port 30080 on ${ip}`, () => connect(ip, 30080), 30_000, 200);
  });
  let downed = false;
  after(() => {
    if (!downed) lab.down();
  });

  test('NodePort from outside reaches a backend through every node address, the client masqueraded', async () => {
    for (const ip of NODE_IPS) {
      const greeting = await waitFor(`a backend through ${ip}:30080`, () => connect(ip, 30080), 15_000, 200);
      assert.match(greeting, /^weft ext\/web[12] 8080 from /);
      assert.doesNotMatch(greeting, new RegExp(`from ${CLIENT.replace(/\./g, '\\.')}$`), 'Cluster policy masquerades');
    }
  });

  test('externalTrafficPolicy Local: the backend sees the outside client; a node without a local endpoint drops', async () => {
    const g1 = await waitFor('web1 through n1', () => connect('10.99.0.1', 30090), 15_000, 200);
    assert.equal(g1, `weft ext/web1 8080 from ${CLIENT}`, 'n1 serves its own endpoint and keeps the address');
    const g2 = await waitFor('web2 through n2', () => connect('10.99.0.2', 30090), 15_000, 200);
    assert.equal(g2, `weft ext/web2 8080 from ${CLIENT}`);
    // Another client is seen as itself too.
    assert.equal(
      await waitFor('web1 from the other client', () => connect('10.99.0.1', 30090, OTHER_CLIENT), 15_000, 200),
      `weft ext/web1 8080 from ${OTHER_CLIENT}`,
    );
    // n3 has no endpoint of the Service: its packets are dropped (the connection attempt times out).
    assert.equal(connect('10.99.0.3', 30090), undefined);
    // ... while the Cluster node port still works through n3.
    assert.ok(connect('10.99.0.3', 30080));
  });

  test('the health check node port answers 200 on nodes with a local endpoint, 503 on the other, and follows the Service', async () => {
    const port = service('local').spec.healthCheckNodePort;
    assert.ok(port !== undefined && port >= 30000 && port <= 32767, `healthCheckNodePort allocated: ${port}`);
    for (const [ip, want, count] of [
      ['10.99.0.1', 200, 1],
      ['10.99.0.2', 200, 1],
      ['10.99.0.3', 503, 0],
    ] as const) {
      const r: { status: number; body: string } = await waitFor(
        `health check ${ip}:${port} answering ${want}`,
        () => {
          const h = healthCheck(ip, port);
          return 'status' in h && h.status === want ? h : undefined;
        },
        15_000,
        200,
      );
      assert.deepEqual(JSON.parse(r.body), {
        service: { namespace: 'ext', name: 'local' },
        localEndpoints: count,
        serviceProxyHealthy: true,
      });
    }
    // The Service no longer needs a health check (externalTrafficPolicy Cluster): every node closes the port.
    lab.must(['apply', '-f', lab.file('local-cluster.yaml', MANIFEST.replace('  externalTrafficPolicy: Local\n', ''))]);
    assert.equal(service('local').spec.healthCheckNodePort, undefined);
    for (const ip of NODE_IPS)
      await waitFor(
        `health check port ${port} closed on ${ip}`,
        () => {
          const h = healthCheck(ip, port);
          // curl: 7 = connection refused.
          return 'curlExit' in h && h.curlExit === 7 ? true : undefined;
        },
        15_000,
        200,
      );
    // Local again: a health check port is back (maybe another one), answering as before.
    lab.must(['apply', '-f', lab.file('local-again.yaml', MANIFEST)]);
    const again = service('local').spec.healthCheckNodePort;
    assert.ok(again !== undefined);
    await waitFor(
      'the new health check port on n1',
      () => {
        const h = healthCheck('10.99.0.1', again);
        return 'status' in h && h.status === 200 ? true : undefined;
      },
      15_000,
      200,
    );
  });

  test('LoadBalancer from outside through its ingress address; loadBalancerSourceRanges admit one client and block another', async () => {
    const ingress = service('lb').status?.loadBalancer.ingress?.[0]?.ip;
    assert.ok(ingress, 'the LoadBalancer has an ingress address');
    assert.match(ingress, /^10\.99\.0\.(22[4-9]|23[0-9])$/, 'from the lab pool 10.99.0.224/28');
    const greeting = await waitFor(`the backends through ${ingress}:80`, () => connect(ingress, 80), 15_000, 200);
    assert.match(greeting, /^weft ext\/web[12] 8080 from /);
    // Several new connections from the admitted client: all get through (ECMP spreads them over the nodes).
    for (let i = 0; i < 6; i++) assert.ok(connect(ingress, 80), `connection ${i} from ${CLIENT}`);
    // The other client is outside the ranges: dropped. Its node port still works: only the LB address is guarded.
    await waitFor(
      'the other client reaches the node port',
      () => connect('10.99.0.1', 30100, OTHER_CLIENT),
      15_000,
      200,
    );
    for (let i = 0; i < 3; i++) assert.equal(connect(ingress, 80, OTHER_CLIENT), undefined, `blocked ${i}`);
  });

  test('LoadBalancer with externalTrafficPolicy Local: announced only by nodes with an endpoint, every connection keeps the client', async () => {
    const ingress = service('local').status?.loadBalancer.ingress?.[0]?.ip;
    assert.ok(ingress, 'the LoadBalancer has an ingress address');
    // The gateway routes the address via n1 and n2 (they have endpoints), not n3, as BGP announcements would.
    const viaOf = () => {
      const r = sh(['ip', '-j', '-n', `${lab.prefix}ul`, 'route', 'show', `${ingress}/32`]);
      const routes = JSON.parse(r.stdout || '[]') as Array<{ gateway?: string; nexthops?: Array<{ gateway: string }> }>;
      return routes.flatMap((x) => x.nexthops?.map((n) => n.gateway) ?? (x.gateway ? [x.gateway] : [])).sort();
    };
    await waitFor(
      'the gateway routes the Local address via n1 and n2',
      () => (viaOf().join() === '10.99.0.1,10.99.0.2' ? true : undefined),
      15_000,
      200,
    );
    // New connections (new source ports, hashed over both routes): each is served, and sees the client.
    for (let i = 0; i < 8; i++) {
      const g = connect(ingress, 80);
      assert.ok(g, `connection ${i} through ${ingress}`);
      assert.match(g, new RegExp(`^weft ext/web[12] 8080 from ${CLIENT.replace(/\./g, '\\.')}$`));
    }
  });

  test('externalIPs: EXTERNAL_IP:port from outside reaches the backends', async () => {
    const greeting = await waitFor(
      `the backends through ${EXTERNAL_IP}:8081`,
      () => connect(EXTERNAL_IP, 8081),
      15_000,
      200,
    );
    assert.match(greeting, /^weft ext\/web[12] 8080 from /);
  });

  test('lab status shows the pool; an outside client may not take a node, gateway or pool address', () => {
    const status = JSON.parse(lab.must(['lab', 'status', '-o', 'json'])) as { spec: { lbCidr: string } };
    assert.equal(status.spec.lbCidr, '10.99.0.224/28');
    assert.match(lab.must(['lab', 'status']), /load balancers 10\.99\.0\.224\/28/);
    for (const [address, why] of [
      ['10.99.0.2', 'is node n2'],
      ['10.99.0.254', "is the segment's gateway"],
      ['10.99.0.230', "is in the lab's load-balancer pool"],
      ['192.0.2.1', "is not on the lab's underlay segment"],
    ] as const) {
      const r = outside(['true'], address);
      assert.notEqual(r.status, 0, address);
      assert.match(r.stderr, new RegExp(`--address: .*${why}`), address);
    }
    // The command's exit code is passed through.
    assert.equal(outside(['sh', '-c', 'exit 7']).status, 7);
  });

  test('lab down removes the outside clients with the rest of the lab', () => {
    assert.ok(listNetns().some((n) => n === `${lab.prefix}out-${CLIENT}`));
    assert.ok(listNetns().some((n) => n === `${lab.prefix}out-${OTHER_CLIENT}`));
    lab.down();
    downed = true;
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(lab.prefix)),
      [],
    );
  });
});
