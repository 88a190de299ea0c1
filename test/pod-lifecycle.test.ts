/**
 * Issue 11's pod readiness in a real lab, through the `weft` CLI, on one 2-node lab shared by
 * every scenario: the lab's kubelet (the pod runner) runs readiness probes and writes the Ready
 * condition, graceful deletion keeps a pod serving as a terminating endpoint until its grace
 * period is over, and the EndpointSlice controller shows both.
 *   (a) an exec probe on a file: Running but not Ready (a not-ready endpoint) until the file
 *       exists, Ready (a ready endpoint) once it does, not Ready again once it is removed;
 *   (b) tcpSocket probes: on a port the pod does not serve the pod stays not Ready, on one it
 *       serves (given by name) it becomes Ready;
 *   (c) `weft delete --grace-period 5` of a Service's pod: while it runs, `weft get pods` says
 *       Terminating, the endpoint is serving, not ready, terminating, the pod still answers on its
 *       port and cannot be applied again; when delete returns, the pod, its network namespace and
 *       its endpoint are gone.
 *   (e) a pod with `weft.dev/network: none` (Docker's none mode): Running with only lo and no
 *       address; the probe matrix has it connected to nothing, with a note saying why; a trace
 *       to it is refused with the reason; another value of the annotation is refused.
 * Probes run every second (periodSeconds 1); every wait is a wait for a condition.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listNetns, requireRoot, sh } from './support/netns.js';
import { waitFor } from './support/cluster.js';
import { CLI, TestLab } from './support/lab.js';
import { labPodNamespace } from '../src/core/names.js';

const NS = 'lc';

interface Conditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}
interface SliceDoc {
  metadata: { labels: Record<string, string> };
  endpoints: Array<{ addresses: string[]; conditions: Conditions; targetRef?: { name: string } }>;
}
interface PodJson {
  metadata: { name: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  status: { phase: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

const service = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${NS} }\nspec: { selector: { app: ${name} }, ports: [{ port: 80, targetPort: http }] }\n`;
const pod = (name: string, app: string, extra = '') =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${app} } }\nspec:\n  nodeName: n1\n  containers:\n    - name: s\n      ports: [{ name: http, containerPort: 8080 }]\n${extra}`;
const probe = (handler: string) => `      readinessProbe: { ${handler}, periodSeconds: 1 }\n`;

describe('pod lifecycle: readiness probes and graceful deletion (one 2-node lab)', { concurrency: false }, () => {
  requireRoot();
  const lab = new TestLab('hrt');
  const readyFile = join(lab.root, 'exec-ready');
  const graceDoc = pod('g1', 'grace');

  const pods = (): PodJson[] =>
    (JSON.parse(lab.must(['get', 'pods', '-n', NS, '-o', 'json'])) as { items: PodJson[] }).items;
  const podOf = (name: string) => pods().find((p) => p.metadata.name === name);
  const isReady = (name: string) =>
    podOf(name)?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  /** The conditions of `podName`'s endpoint in Service `svc`'s slices; undefined when it has none. */
  const endpointOf = (svc: string, podName: string): Conditions | undefined => {
    const slices = (JSON.parse(lab.must(['get', 'endpointslices', '-n', NS, '-o', 'json'])) as { items: SliceDoc[] })
      .items;
    return slices
      .filter((s) => s.metadata.labels['kubernetes.io/service-name'] === svc)
      .flatMap((s) => s.endpoints)
      .find((e) => e.targetRef?.name === podName)?.conditions;
  };
  /** Waits until `podName`'s endpoint in `svc` has exactly these conditions. */
  const endpointBecomes = (svc: string, podName: string, want: Conditions) =>
    waitFor(`the endpoint of ${podName} in ${svc} to be ${JSON.stringify(want)}`, () => {
      const got = endpointOf(svc, podName);
      return JSON.stringify(got) === JSON.stringify(want) ? got : undefined;
    });

  before(() => {
    rmSync(readyFile, { force: true });
    lab.up(['--nodes', '2']);
    lab.must([
      'apply',
      '-f',
      lab.file(
        'lifecycle.yaml',
        [
          `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
          service('exec'),
          service('tcp'),
          service('grace'),
          pod('e1', 'exec', probe(`exec: { command: [test, -e, ${readyFile}] }`)),
          pod('t-closed', 'tcp', probe('tcpSocket: { port: 9999 }')),
          pod('t-open', 'tcp', probe('tcpSocket: { port: http }')),
          graceDoc,
          // The client that checks the terminating pod still answers, on the other node.
          `apiVersion: v1\nkind: Pod\nmetadata: { name: client, namespace: ${NS} }\nspec: { nodeName: n2, containers: [{ name: c }] }\n`,
        ].join('---\n'),
      ),
    ]);
  });
  after(() => {
    lab.down();
  });

  test('(a) an exec probe on a file: not Ready until the file exists, Ready while it does, not Ready once removed', async () => {
    const e1 = podOf('e1');
    assert.equal(e1?.status.phase, 'Running');
    assert.equal(isReady('e1'), false, 'Running, but its probe has not passed');
    await endpointBecomes('exec', 'e1', { ready: false, serving: false, terminating: false });
    assert.match(lab.must(['get', 'pods', '-n', NS]), /\ne1\s+0\/1\s+Running/);

    writeFileSync(readyFile, '');
    await waitFor('e1 to be Ready', () => (isReady('e1') ? true : undefined));
    await endpointBecomes('exec', 'e1', { ready: true, serving: true, terminating: false });
    assert.match(lab.must(['get', 'pods', '-n', NS]), /\ne1\s+1\/1\s+Running/);

    rmSync(readyFile);
    // failureThreshold 3 at periodSeconds 1: not Ready after three failed probes.
    await waitFor('e1 to be not Ready', () => (isReady('e1') ? undefined : true));
    await endpointBecomes('exec', 'e1', { ready: false, serving: false, terminating: false });
  });

  test('(b) tcpSocket probes: a port the pod serves (by name) makes it Ready, one it does not serve never does', async () => {
    await waitFor('t-open to be Ready', () => (isReady('t-open') ? true : undefined));
    await endpointBecomes('tcp', 't-open', { ready: true, serving: true, terminating: false });
    // t-closed started with t-open on the same node and is probed as often: it stays unready
    // through at least three more of its probes, looked at all along.
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      assert.equal(isReady('t-closed'), false, 'a probe on a port nobody serves never passes');
      assert.deepEqual(endpointOf('tcp', 't-closed'), { ready: false, serving: false, terminating: false });
    }
    assert.equal(podOf('t-closed')?.status.phase, 'Running');
  });

  test("(d) a pod keeps answering while its node's kubelet waits on a locked store", async () => {
    // The runner's store calls are synchronous and wait while another process holds the store's
    // write lock; the pods' sockets are served on a thread of their own so that such a wait never
    // holds back their answers (it did: a connection was accepted and greeted 5.8 s later).
    const ip = podOf('t-open')?.status.podIP;
    assert.ok(ip, 't-open has an address');
    const holder = spawn(
      'python3',
      [
        '-c',
        [
          'import sqlite3, sys, time, glob',
          `db = sqlite3.connect(${JSON.stringify(join(lab.dir, 'objects.db'))}, timeout=10, isolation_level=None)`,
          `for i, hb in enumerate(glob.glob(${JSON.stringify(join(lab.dir, 'heartbeats', '*.db'))})): db.execute(f'ATTACH DATABASE ? AS hb{i}', (hb,))`,
          "db.execute('BEGIN IMMEDIATE')",
          // A write to every attached file, so each is locked (the heartbeat goes to its own file).
          "for (name,) in [r[1:2] for r in db.execute('PRAGMA database_list')]:\n    db.execute(f'CREATE TABLE IF NOT EXISTS {name}.weft_test_lock (x)')",
          "print('held', flush=True)",
          'time.sleep(13)',
          "print('released %.3f' % time.time(), flush=True)",
          "db.execute('ROLLBACK')",
        ].join('\n'),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    holder.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const ended = new Promise<void>((resolve) => holder.on('close', () => resolve()));
    try {
      await waitFor('the store to be locked', () => (out.includes('held') ? true : undefined));
      // e1 (on t-open's node) turns Ready: that node's runner writes the change, and waits on the lock.
      writeFileSync(readyFile, '');
      // For 11 s (the runner's write of e1's readiness falls in it, and waits), a new connection
      // every 50 ms, each read to its greeting; the loop's end time is printed when it is done.
      // Entered with ip netns, not weft exec: the CLI opens the store too, and it is locked.
      const run = sh([
        'ip',
        'netns',
        'exec',
        labPodNamespace(lab.name, NS, 'client'),
        'python3',
        '-c',
        [
          'import socket, time',
          'end = time.time() + 11; n = 0',
          'while time.time() < end:',
          `    s = socket.create_connection((${JSON.stringify(ip)}, 8080), timeout=30); g = s.recv(100); s.close()`,
          "    assert g.startswith(b'weft '), g",
          '    n += 1; time.sleep(0.05)',
          "print('greeted %d done %.3f' % (n, time.time()))",
        ].join('\n'),
      ]);
      const client = run.stdout + run.stderr;
      await ended;
      const greeted = /greeted (\d+) done ([\d.]+)/.exec(client);
      const released = /released ([\d.]+)/.exec(out);
      assert.ok(greeted && released, `client: ${client} holder: ${out}`);
      assert.ok(Number(greeted[1]) > 20, `the loop ran: ${client}`);
      assert.ok(
        Number(greeted[2]) < Number(released[1]),
        `every connection was answered while the store was still locked (client done ${greeted[2]}, lock released ${released[1]})`,
      );
    } finally {
      holder.kill();
      await ended;
      rmSync(readyFile, { force: true });
    }
  });

  test('(c) delete --grace-period 5: Terminating, a serving terminating endpoint that still answers, then gone', async () => {
    await endpointBecomes('grace', 'g1', { ready: true, serving: true, terminating: false });
    const ip = podOf('g1')?.status.podIP;
    assert.ok(ip, 'g1 has an address');
    const netns = labPodNamespace(lab.name, NS, 'g1');
    assert.ok(listNetns().includes(netns), 'g1 has its network namespace');

    // `weft delete` waits for the pod to be gone: run it in the background and look meanwhile.
    const file = lab.file('g1.yaml', graceDoc);
    const child = spawn(process.execPath, [CLI, 'delete', '--grace-period', '5', '-f', file], { env: lab.env });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    await waitFor('g1 to be Terminating', () =>
      /\ng1\s+1\/1\s+Terminating\s/.test(lab.must(['get', 'pods', '-n', NS])) ? true : undefined,
    );
    const g1 = podOf('g1');
    assert.equal(g1?.metadata.deletionGracePeriodSeconds, 5);
    assert.ok(g1?.metadata.deletionTimestamp, 'deletionTimestamp is set');
    await endpointBecomes('grace', 'g1', { ready: false, serving: true, terminating: true });
    const answer = lab.must(['exec', '-n', NS, 'client', '--', 'socat', '-T1', '-', `TCP:${ip}:8080`], {
      input: '',
    });
    assert.match(answer, new RegExp(`^weft ${NS}/g1 8080 from `), 'the terminating pod still serves');
    const again = lab.weft(['apply', '-f', file]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /object is being deleted: pods "g1" already exists/);

    assert.equal(await exited, 0, output);
    assert.match(output, /pod\/g1 deleted/);
    // delete returned: everything of the pod is gone, without waiting any further.
    assert.equal(podOf('g1'), undefined, 'the pod object is removed');
    assert.equal(listNetns().includes(netns), false, 'its network namespace is removed');
    await waitFor('the endpoint of g1 to go', () => (endpointOf('grace', 'g1') === undefined ? true : undefined));
    assert.ok(!existsSync(join('/run/netns', netns)));
  });
  test('(e) weft.dev/network: none: Running with only lo and no address; probes to and from it fail, saying why; deleted cleanly', async () => {
    const doc = `apiVersion: v1\nkind: Pod\nmetadata: { name: iso, namespace: ${NS}, annotations: { weft.dev/network: none } }\nspec: { nodeName: n1, containers: [{ name: s, ports: [{ containerPort: 8080 }] }] }\n`;
    const file = lab.file('iso.yaml', doc);
    lab.must(['apply', '-f', file]);
    await waitFor('iso to run', () => (podOf('iso')?.status.phase === 'Running' ? true : undefined));
    assert.equal(podOf('iso')?.status.podIP, undefined, 'no address');
    assert.match(lab.must(['get', 'pods', '-n', NS, '-o', 'wide']), /\niso\s+1\/1\s+Running\s+0\s+\S+\s+<none>\s+n1\b/);
    const netns = labPodNamespace(lab.name, NS, 'iso');
    const links = sh(['ip', '-n', netns, '-o', 'link', 'show']).stdout.trim().split('\n');
    assert.deepEqual(
      links.map((l) => l.split(':')[1]?.trim()),
      ['lo'],
      'only lo in its namespace',
    );
    assert.match(sh(['ip', '-n', netns, '-o', 'link', 'show', 'lo']).stdout, /[<,]UP[,>]/, 'lo is up');

    const probe = lab.weft(['probe', '-n', NS, '--port', '8080', '-o', 'json']);
    assert.equal(probe.status, 0, probe.stderr);
    const results = (JSON.parse(probe.stdout) as { results: Array<{ from: string; to: string; connected: boolean }> })
      .results;
    const withIso = results.filter((r) => r.from === `${NS}/iso` || r.to === `${NS}/iso`);
    assert.ok(withIso.length >= 3, 'iso is in the matrix');
    assert.deepEqual(
      withIso.filter((r) => r.connected),
      [],
      'nothing reaches it and it reaches nothing',
    );
    assert.ok(
      results.some((r) => r.from === `${NS}/client` && r.to === `${NS}/t-open` && r.connected),
      'the other pods still connect (the probe itself works)',
    );
    assert.match(probe.stderr, /lc\/iso has no network \(weft\.dev\/network: none\)/);
    const trace = lab.weft(['trace', `${NS}/client`, `${NS}/iso`, '--port', '8080']);
    assert.notEqual(trace.status, 0);
    assert.match(trace.stderr, /TO: pod lc\/iso has no network/);

    const bad = lab.weft([
      'apply',
      '-f',
      lab.file('iso-bad.yaml', doc.replace('network: none', 'network: bridge').replace('name: iso', 'name: iso2')),
    ]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /metadata\.annotations\[weft\.dev\/network\]: must be "none"/);
    assert.equal(podOf('iso2'), undefined, 'the refused pod is not stored');

    lab.must(['delete', '-f', file]);
    await waitFor('iso and its namespace to go', () =>
      podOf('iso') === undefined && !listNetns().includes(netns) ? true : undefined,
    );
  });
});
