// The health-checks controller over a cluster cache (the in-memory ClusterSource fake) and a fake
// of the servers: ports follow the Services, answers follow the slices, a port that cannot be
// opened fails the sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { FakeCluster } from '../testkit/cluster-source-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import type { EndpointSlice, Service } from '../core/k8s/objects.js';
import type { HealthCheckServers, HealthReply } from '../ports/health-check-servers.js';
import { ClusterCache } from './cluster-cache.js';
import { healthChecksController } from './controller-health-checks.js';

const meta = (name: string, labels: Record<string, string> = {}) => ({ name, namespace: 'd', labels, annotations: {} });
const lbLocal = (name: string, port: number): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta(name),
  spec: {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.50',
    sessionAffinity: 'None',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: port,
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  },
});
const slice = (svc: string, node: string): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: meta(`${svc}-a`, { 'kubernetes.io/service-name': svc }),
  addressType: 'IPv4',
  ports: [{ protocol: 'TCP', port: 8080 }],
  endpoints: [{ addresses: ['10.244.1.5'], nodeName: node, conditions: { ready: true } }],
});

class FakeServers implements HealthCheckServers {
  ports: number[] = [];
  reply: (port: number) => HealthReply | undefined = () => undefined;
  refuse = new Set<number>();
  async serve(ports: readonly number[], reply: (port: number) => HealthReply | undefined): Promise<void> {
    this.reply = reply;
    this.ports = ports.filter((p) => !this.refuse.has(p)).sort((a, b) => a - b);
    const bad = ports.filter((p) => this.refuse.has(p));
    if (bad.length > 0) throw new Error(`serve health check node ports: ${bad.join(', ')} (EADDRINUSE)`);
  }
  listening(): number[] {
    return this.ports;
  }
  async close(): Promise<void> {
    this.ports = [];
  }
}

const settle = async (clock: FakeClock) => {
  for (let i = 0; i < 5; i++) {
    await clock.advance(100);
    await new Promise<void>((r) => setImmediate(r));
  }
};

test('health checks controller: ports open and close with the Services, answers follow the endpoints', async () => {
  const store = new FakeCluster();
  const clock = new FakeClock();
  const log = new JsonLogger(() => undefined);
  const cache = new ClusterCache({ source: store.source(), kinds: ['Service', 'EndpointSlice'], clock, log });
  const servers = new FakeServers();
  let proxyHealthy = true;
  const hc = healthChecksController({
    node: 'n1',
    cache,
    servers,
    proxyHealthy: () => proxyHealthy,
    clock,
    log,
    metrics: new PromMetrics(),
    timing: { minIntervalMs: 10, resyncMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 1000 },
  });
  try {
    await store.commit({ put: [lbLocal('a', 31000)], delete: [] });
    await cache.start();
    const started = hc.controller.start();
    await settle(clock);
    await started;
    assert.deepEqual(servers.listening(), [31000]);
    assert.equal(servers.reply(31000)?.status, 503, 'no endpoint yet');

    await store.commit({ put: [slice('a', 'n1'), lbLocal('b', 31001)], delete: [] });
    await settle(clock);
    assert.deepEqual(servers.listening(), [31000, 31001]);
    assert.equal(servers.reply(31000)?.status, 200, 'a local endpoint');
    proxyHealthy = false;
    assert.equal(servers.reply(31000)?.status, 503, 'the Services table is not in step');
    proxyHealthy = true;

    await store.commit({ put: [slice('a', 'n2')], delete: [] });
    await settle(clock);
    assert.equal(servers.reply(31000)?.status, 503, 'the endpoint moved to another node');

    await store.commit({ put: [], delete: [{ kind: 'Service', namespace: 'd', name: 'a' }] });
    await settle(clock);
    assert.deepEqual(servers.listening(), [31001]);
    assert.equal(servers.reply(31000), undefined, 'a port no longer wanted');

    servers.refuse.add(31002);
    await store.commit({ put: [lbLocal('c', 31002)], delete: [] });
    await settle(clock);
    assert.equal(hc.controller.status().state, 'failing');
    assert.match(hc.controller.status().lastError ?? '', /31002/);
    assert.deepEqual(servers.listening(), [31001], 'the other ports are served meanwhile');
  } finally {
    await hc.controller.stop();
    await hc.close();
    await cache.stop();
  }
});
