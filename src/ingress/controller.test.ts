/**
 * The ingress controller's loop over a cluster cache (the in-memory ClusterSource fake), with a
 * fake nginx that refuses any configuration naming bad.example.com, the way `nginx -t` does
 * (naming the line): a refused Ingress is left out (new) or kept at its last accepted version
 * (updated), its status says so, the running configuration is not reloaded for nothing, and
 * other Ingresses' changes still go through.
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
import { ClusterCache } from '../agent/cluster-cache.js';
import { IngressController, INGRESS_KINDS } from './controller.js';

class FakeNginx implements Exec {
  checks = 0;
  reloads = 0;
  started: ChildRequest[] = [];
  async run(req: ExecRequest): Promise<ExecResult> {
    if (req.argv.includes('reload')) this.reloads += 1;
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
      kill: () => end(new ExecError(req.argv, null, 'SIGTERM', '', '', req.context)),
    };
  };
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

test('ingress controller: refused Ingresses fall back (left out, or their last accepted version); others go on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-ingress-ctl-'));
  const store = new FakeCluster();
  const clock = new FakeClock();
  const log = new JsonLogger(() => undefined);
  const cache = new ClusterCache({ source: store.source(), kinds: INGRESS_KINDS, clock, log });
  const nginx = new FakeNginx();
  const base = objects(BASE);
  const lbService = base.find((o) => o.kind === 'Service' && o.metadata.name === 'lb')!;
  await store.commit({
    put: [
      ...base.filter((o) => o !== lbService),
      { ...lbService, status: { loadBalancer: { ingress: [{ ip: '10.99.0.224' }] } } } as K8sObject,
      ...objects(ing('good', 'good.example.com')),
    ],
    delete: [],
  });
  await cache.start();
  const ctl = new IngressController({
    cache,
    store,
    controller: 'weft.dev/ingress',
    publishService: 'ingress-weft/lb',
    workDir: dir,
    ports: { http: 80, https: 443, health: 10254 },
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

    // Fixed: served again, Configured True.
    await store.commit({ put: objects(ing('bad', 'fixed.example.com')), delete: [] });
    await settle();
    assert.equal(nginx.reloads, 2);
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
