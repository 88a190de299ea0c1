/**
 * The ingress controller's loop over a cluster cache (the in-memory ClusterSource fake), with a
 * fake nginx that refuses any configuration naming bad.example.com, the way `nginx -t` does
 * (naming the line): a refused Ingress is left out (new) or kept at its last accepted version
 * (updated), its status says so, the running configuration is not reloaded for nothing, and
 * other Ingresses' changes still go through. Endpoint changes are posted to the balancer (a fake
 * that records the lists) without a reload; a reload posts both sets first, then the new one.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../testkit/clock-fake.js';
import { FakeCluster } from '../testkit/cluster-source-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { parseManifest } from '../core/k8s/parse.js';
import type { Ingress, K8sObject } from '../core/k8s/objects.js';
import { ExecError } from '../core/port-errors.js';
import type { Child, ChildRequest, Exec, ExecRequest, ExecResult } from '../ports/exec.js';
import type { NginxBalancer } from '../ports/nginx-balancer.js';
import type { EndpointLists } from '../core/ingress/nginx-lua.js';
import { ClusterCache } from '../agent/cluster-cache.js';
import { IngressController, INGRESS_KINDS, storeStatusWriter } from './controller.js';

class FakeNginx implements Exec {
  checks = 0;
  reloads = 0;
  started: ChildRequest[] = [];
  async run(): Promise<ExecResult> {
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async tryRun(req: ExecRequest): Promise<ExecResult> {
    this.checks += 1;
    const path = req.argv[req.argv.indexOf('-c') + 1]!;
    const lines = readFileSync(path, 'utf8').split('\n');
    const bad = lines.findIndex((l) => l.includes('bad.example.com'));
    if (bad < 0) return { stdout: '', stderr: '', exitCode: 0 };
    return {
      stdout: '',
      stderr: `nginx: [emerg] host "bad.example.com" is not welcome in ${path}:${bad + 1}\nnginx: configuration file ${path} test failed\n`,
      exitCode: 1,
    };
  }
  spawn = (req: ChildRequest): Child => {
    this.started.push(req);
    let end: (e: ExecError) => void = () => undefined;
    const exited = new Promise<ExecError>((r) => (end = r));
    return {
      pid: 1,
      argv: req.argv,
      running: true,
      write: () => undefined,
      onStdout: () => undefined,
      onStderr: () => undefined,
      exited,
      kill: (signal) => {
        if (signal === 'SIGHUP') this.reloads += 1;
        else end(new ExecError(req.argv, null, 'SIGTERM', '', '', req.context));
      },
    };
  };
}

class FakeBalancer implements NginxBalancer {
  posts: EndpointLists[] = [];
  /** Set by the test: the order of posts and reloads, as one log. */
  events: string[] = [];
  async setEndpoints(lists: EndpointLists): Promise<void> {
    this.posts.push(lists);
    this.events.push(`post ${Object.keys(lists).sort().join(' ')}`);
  }
}

const objects = (yaml: string) => parseManifest(yaml) as K8sObject[];
const ing = (name: string, host: string) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ${name}, namespace: n}
spec:
  ingressClassName: weft
  rules: [{host: ${host}, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
`;
const BASE = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weft}
spec: {controller: weft.dev/ingress}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: ingress-weft}
spec: {type: LoadBalancer, clusterIP: 10.96.0.16, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: n}
spec: {clusterIP: 10.96.0.17, ports: [{port: 80}]}
`;
const slice = (ips: string[]) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: n, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [${ips.map((ip) => `{addresses: [${ip}], conditions: {ready: true}}`).join(', ')}]
ports: [{port: 8080}]
`;

test('ingress controller: refused Ingresses fall back (left out, or their last accepted version); others go on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-ingress-ctl-'));
  const store = new FakeCluster();
  const clock = new FakeClock();
  const log = new JsonLogger(() => undefined);
  const cache = new ClusterCache({ source: store.source(), kinds: INGRESS_KINDS, clock, log });
  const nginx = new FakeNginx();
  const balancer = new FakeBalancer();
  const base = objects(BASE);
  const lbService = base.find((o) => o.kind === 'Service' && o.metadata.name === 'lb')!;
  await store.commit({
    put: [
      ...base.filter((o) => o !== lbService),
      { ...lbService, status: { loadBalancer: { ingress: [{ ip: '10.99.0.224' }] } } } as K8sObject,
      ...objects(ing('good', 'good.example.com')),
      ...objects(slice(['10.244.1.5'])),
    ],
    delete: [],
  });
  await cache.start();
  const ctl = new IngressController({
    cache,
    status: storeStatusWriter(store),
    controller: 'weft.dev/ingress',
    publishService: 'ingress-weft/lb',
    workDir: dir,
    modulesDir: '/usr/lib/nginx/modules',
    ports: { http: 80, https: 443, health: 10254, balancer: 10246 },
    balancer,
    exec: nginx,
    spawn: nginx.spawn,
    clock,
    log,
    onNginxExit: () => assert.fail('nginx exited'),
  });
  const settle = async () => {
    for (let i = 0; i < 10; i++) {
      await clock.advance(50);
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  const status = async (name: string) =>
    ((await store.get({ kind: 'Ingress', namespace: 'n', name }))?.object as Ingress).status;
  const conf = () => readFileSync(join(dir, 'nginx.conf'), 'utf8');
  try {
    await ctl.start();
    assert.equal(nginx.started.length, 1, 'nginx started once');
    assert.match(conf(), /server_name good\.example\.com;/);
    assert.deepEqual((await status('good'))?.loadBalancer, { ingress: [{ ip: '10.99.0.224' }] });
    assert.equal((await status('good'))?.conditions?.[0]?.status, 'True');
    assert.deepEqual(balancer.posts, [{ 'n.web.80': ['10.244.1.5:8080'] }], 'the lists posted once nginx runs');
    assert.equal(readFileSync(join(dir, 'endpoints'), 'utf8'), 'n.web.80 10.244.1.5:8080\n');

    // Endpoints only: posted to the balancer, nginx.conf untouched, no reload.
    const before = conf();
    await store.commit({ put: objects(slice(['10.244.1.5', '10.244.2.7'])), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 0);
    assert.equal(conf(), before);
    assert.deepEqual(balancer.posts.at(-1), { 'n.web.80': ['10.244.1.5:8080', '10.244.2.7:8080'] });
    await store.commit({ put: objects(slice([])), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 0);
    assert.deepEqual(balancer.posts.at(-1), { 'n.web.80': [] }, 'no endpoint: an empty list (nginx answers 503)');
    const posts = balancer.posts.length;
    await store.commit({ put: objects(slice([])), delete: [] });
    await settle();
    assert.equal(balancer.posts.length, posts, 'the same lists are not posted again');
    await store.commit({ put: objects(slice(['10.244.1.5'])), delete: [] });
    await settle();

    // A new Ingress nginx refuses: left out; the configuration is the running one, no reload.
    await store.commit({ put: objects(ing('bad', 'bad.example.com')), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 0);
    assert.doesNotMatch(conf(), /bad\.example\.com/);
    const bad = (await status('bad'))?.conditions?.[0];
    assert.equal(bad?.reason, 'NginxRejected');
    assert.match(
      bad?.message ?? '',
      /^nginx refused this Ingress \(it is not served\): \[emerg\] host "bad\.example\.com" is not welcome/,
    );

    // An accepted Ingress updated into one nginx refuses: its last accepted version stays.
    await store.commit({ put: objects(ing('good', 'bad.example.com')), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 0);
    assert.match(conf(), /server_name good\.example\.com;/);
    assert.match((await status('good'))?.conditions?.[0]?.message ?? '', /its last accepted version stays in force/);

    // Another Ingress still goes through (with the two refused ones as they were).
    await store.commit({ put: objects(ing('other', 'other.example.com')), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 1);
    assert.match(conf(), /server_name other\.example\.com;/);
    assert.match(conf(), /server_name good\.example\.com;/);
    assert.doesNotMatch(conf(), /bad\.example\.com/);
    assert.equal((await status('other'))?.conditions?.[0]?.status, 'True');

    // A new backend (a reload): the merged lists are posted before the reload, the exact ones after.
    await store.commit({
      put: objects(
        BASE.split('---\n')[2]!
          .replace(/name: web/, 'name: api')
          .replace('10.96.0.17', '10.96.0.18') +
          '---\n' +
          ing('api', 'api.example.com').replace('name: web', 'name: api'),
      ),
      delete: [],
    });
    await settle();
    assert.equal(nginx.reloads, 2);
    assert.deepEqual(balancer.posts.at(-1), { 'n.api.80': [], 'n.web.80': ['10.244.1.5:8080'] });
    await store.commit({ put: [], delete: [{ kind: 'Ingress', namespace: 'n', name: 'api' }] });
    await settle();
    assert.equal(nginx.reloads, 3);
    assert.deepEqual(
      balancer.posts.slice(-2),
      [{ 'n.api.80': [], 'n.web.80': ['10.244.1.5:8080'] }, { 'n.web.80': ['10.244.1.5:8080'] }],
      "the old workers keep n.api.80's list until the reload, then it goes",
    );

    // Fixed: served again, Configured True.
    await store.commit({ put: objects(ing('bad', 'fixed.example.com')), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 4);
    assert.match(conf(), /server_name fixed\.example\.com;/);
    assert.equal((await status('bad'))?.conditions?.[0]?.status, 'True');

    // Moved to another class: no longer served, and the status this controller wrote is removed.
    await store.commit({
      put: objects(ing('other', 'other.example.com').replace('ingressClassName: weft', 'ingressClassName: nginx')),
      delete: [],
    });
    await settle();
    assert.equal(await status('other'), undefined);
    assert.doesNotMatch(conf(), /other\.example\.com/);
  } finally {
    await ctl.stop();
    await cache.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
