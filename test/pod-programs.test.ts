/**
 * Issue 12's lab pods that run programs, in a real lab through the `weft` CLI, on one 2-node lab
 * shared by every scenario (the runners' restart back-off starts at 500 ms: WEFT_LAB_BACKOFF_MS):
 *   (a) a pod running `python3 -m http.server 8000` with an httpGet readiness probe: not Ready
 *       (a not-ready endpoint) while the probed path answers 404, Ready once it answers 200, and
 *       then reachable through its Service's ClusterIP with curl from a pod on the other node;
 *       `weft logs` shows the server's request log;
 *   (b) a program that exits 1 under restartPolicy Always: restarted with back-off (restartCount
 *       grows, STATUS CrashLoopBackOff while it waits), each run's output in `weft logs`;
 *   (c) restartPolicy Never: exit 0 ends Completed / Succeeded, exit 3 ends Error / Failed;
 *   (d) a pod runner killed with SIGKILL: the supervisor's new runner kills the program its
 *       predecessor left and starts one copy again (never two);
 *   (e) deleting program pods ends their processes: at once for an immediate delete (also a
 *       daemon that left its process group), with
 *       SIGKILL after the grace period for a program that ignores SIGTERM; no process is left
 *       in the pods' network namespaces.
 * Every wait is a wait for a condition.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot, sh } from './support/netns.js';
import { waitFor } from './support/cluster.js';
import { TestLab } from './support/lab.js';
import { labPodNamespace } from '../src/core/names.js';

const NS = 'pp';

interface ContainerStatusJson {
  name: string;
  restartCount: number;
  state: {
    running?: unknown;
    waiting?: { reason: string };
    terminated?: { exitCode: number; reason: string };
  };
}
interface PodJson {
  metadata: { name: string };
  status: {
    phase: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string; reason?: string }>;
    containerStatuses?: ContainerStatusJson[];
  };
}
interface SliceDoc {
  metadata: { labels: Record<string, string> };
  endpoints: Array<{ addresses: string[]; conditions: { ready?: boolean }; targetRef?: { name: string } }>;
}

/** The inode of a named network namespace (what /proc/PID/ns/net links to). */
function netnsInode(netns: string): number {
  return statSync(join('/run/netns', netns)).ino;
}

/** The PIDs of every process in the named network namespace. */
function pidsInNetns(netns: string): number[] {
  return existsSync(join('/run/netns', netns)) ? pidsWithNetInode(netnsInode(netns)) : [];
}

/** The PIDs of every process whose network namespace has this inode (it outlives its name). */
function pidsWithNetInode(ino: number): number[] {
  const want = `net:[${ino}]`;
  const out: number[] = [];
  for (const entry of sh(['ls', '/proc']).stdout.split('\n')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === want) out.push(Number(entry));
    } catch {
      continue; // the process ended while we looked
    }
  }
  return out;
}

/** True while a process with this PID exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('pods that run programs (one 2-node lab)', { concurrency: false }, () => {
  requireRoot();
  const lab = new TestLab('hpt');
  lab.env.WEFT_LAB_BACKOFF_MS = '500';
  const www = join(lab.root, 'www');

  const pods = (): PodJson[] =>
    (JSON.parse(lab.must(['get', 'pods', '-n', NS, '-o', 'json'])) as { items: PodJson[] }).items;
  const podOf = (name: string) => pods().find((p) => p.metadata.name === name);
  const isReady = (name: string) =>
    podOf(name)?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const getRow = (name: string) =>
    lab
      .must(['get', 'pods', '-n', NS])
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.trim()
      .split(/\s+/);
  const endpointReady = (svc: string, podName: string): boolean | undefined => {
    const slices = (JSON.parse(lab.must(['get', 'endpointslices', '-n', NS, '-o', 'json'])) as { items: SliceDoc[] })
      .items;
    return slices
      .filter((s) => s.metadata.labels['kubernetes.io/service-name'] === svc)
      .flatMap((s) => s.endpoints)
      .find((e) => e.targetRef?.name === podName)?.conditions.ready;
  };
  const programPod = (name: string, node: string, container: string, extra = '') =>
    `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${name} } }\nspec:\n  nodeName: ${node}\n${extra}  containers:\n${container}`;
  const webDoc = programPod(
    'web',
    'n1',
    [
      '    - name: web',
      '      command: [python3, -m, http.server, "8000"]',
      '      args: [--bind, 0.0.0.0]',
      `      workingDir: ${www}`,
      '      env: [{ name: PYTHONUNBUFFERED, value: "1" }]',
      '      ports: [{ name: http, containerPort: 8000 }]',
      '      readinessProbe: { httpGet: { path: /ready.txt, port: http }, periodSeconds: 1, failureThreshold: 1 }',
      '',
    ].join('\n'),
  );
  const stubbornDoc = programPod(
    'stubborn',
    'n2',
    // Ignores SIGTERM: only the SIGKILL at the end of the grace period ends it.
    `    - name: s\n      command: [python3, -c, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ignoring TERM', flush=True); time.sleep(3600)"]\n`,
  );

  const escaperDoc = programPod(
    'escaper',
    'n1',
    // A daemon in a session of its own (outside the program's process group) beside the program.
    `    - name: e\n      command: [sh, -c, 'setsid sleep 3600 & exec sleep 3600']\n`,
  );

  before(() => {
    rmSync(www, { recursive: true, force: true });
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'served by a program in a weft pod\n');
    lab.up(['--nodes', '2']);
    lab.must([
      'apply',
      '-f',
      lab.file(
        'programs.yaml',
        [
          `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
          `apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: ${NS} }\nspec: { selector: { app: web }, ports: [{ port: 80, targetPort: http }] }\n`,
          webDoc,
          programPod('crash', 'n2', `    - name: c\n      command: [sh, -c, 'echo crash run; exit 1']\n`),
          programPod(
            'once',
            'n2',
            `    - name: c\n      command: [sh, -c, 'echo done with $GREETING']\n      env: [{ name: GREETING, value: hello }]\n`,
            '  restartPolicy: Never\n',
          ),
          programPod('fails', 'n1', `    - name: c\n      command: [sh, -c, 'exit 3']\n`, '  restartPolicy: Never\n'),
          stubbornDoc,
          escaperDoc,
          `apiVersion: v1\nkind: Pod\nmetadata: { name: client, namespace: ${NS} }\nspec: { nodeName: n2, containers: [{ name: c }] }\n`,
        ].join('---\n'),
      ),
    ]);
  });
  after(() => {
    lab.down();
  });

  test('(a) python3 -m http.server: httpGet readiness gates its endpoint; Ready, it answers through its Service', async () => {
    assert.equal(podOf('web')?.status.phase, 'Running');
    // /ready.txt answers 404 until it exists: Running, not Ready, a not-ready endpoint.
    await waitFor('web to answer its probe with 404', () =>
      /GET \/ready.txt HTTP\/1.1" 404/.test(lab.must(['logs', '-n', NS, 'web'])) ? true : undefined,
    );
    assert.equal(isReady('web'), false, 'a 404 is a failed probe');
    await waitFor('a not-ready endpoint for web', () => (endpointReady('web', 'web') === false ? true : undefined));
    assert.match(getRow('web')?.slice(1, 3).join(' ') ?? '', /^0\/1 Running$/);

    writeFileSync(join(www, 'ready.txt'), 'ok\n');
    await waitFor('web to be Ready', () => (isReady('web') ? true : undefined));
    await waitFor('a ready endpoint for web', () => (endpointReady('web', 'web') === true ? true : undefined));
    assert.match(getRow('web')?.slice(1, 4).join(' ') ?? '', /^1\/1 Running 0$/);

    const svc = JSON.parse(lab.must(['get', 'services', '-n', NS, 'web', '-o', 'json'])) as {
      spec: { clusterIP: string };
    };
    const body = await waitFor('the page through the ClusterIP from the client pod on n2', () => {
      const r = lab.weft([
        'exec',
        '-n',
        NS,
        'client',
        '--',
        'curl',
        '-sS',
        '--max-time',
        '3',
        `http://${svc.spec.clusterIP}/index.html`,
      ]);
      return r.status === 0 ? r.stdout : undefined;
    });
    assert.equal(body, 'served by a program in a weft pod\n');
    assert.match(lab.must(['logs', '-n', NS, 'web', '--tail', '50']), /"GET \/index.html HTTP\/1.1" 200/);
  });

  test('(b) a program that exits 1 is restarted with back-off: CrashLoopBackOff, restarts grow, every run logged', async () => {
    await waitFor('STATUS CrashLoopBackOff for crash', () =>
      getRow('crash')?.[2] === 'CrashLoopBackOff' ? true : undefined,
    );
    const restarts = await waitFor(
      'crash to be restarted at least twice',
      () => {
        const cs = podOf('crash')?.status.containerStatuses?.[0];
        return cs && cs.restartCount >= 2 ? cs.restartCount : undefined;
      },
      30_000,
    );
    const p = podOf('crash');
    assert.equal(p?.status.phase, 'Running', 'a crash-looping pod stays Running');
    // Between runs (waiting in back-off) it is not Ready; while a run lasts it may be, as in Kubernetes.
    const waiting = await waitFor('crash seen waiting in back-off', () => {
      const doc = podOf('crash');
      return doc?.status.containerStatuses?.[0]?.state.waiting ? doc : undefined;
    });
    assert.equal(waiting.status.containerStatuses?.[0]?.state.waiting?.reason, 'CrashLoopBackOff');
    assert.deepEqual(
      waiting.status.conditions?.find((c) => c.type === 'Ready'),
      { type: 'Ready', status: 'False', reason: 'ContainersNotReady' },
    );
    assert.ok(Number(getRow('crash')?.[3]) >= restarts, 'RESTARTS shows the count');
    const runs = lab
      .must(['logs', '-n', NS, 'crash'])
      .split('\n')
      .filter((l) => l === 'crash run').length;
    assert.ok(runs >= restarts + 1, `every run's output is kept (${runs} runs for ${restarts} restarts)`);
  });

  test('(c) restartPolicy Never: exit 0 ends Completed / Succeeded, exit 3 ends Error / Failed', async () => {
    await waitFor('once to be Succeeded', () => (podOf('once')?.status.phase === 'Succeeded' ? true : undefined));
    assert.deepEqual(getRow('once')?.slice(1, 4), ['0/1', 'Completed', '0']);
    const term = podOf('once')?.status.containerStatuses?.[0]?.state.terminated;
    assert.deepEqual(term && { exitCode: term.exitCode, reason: term.reason }, { exitCode: 0, reason: 'Completed' });
    assert.equal(lab.must(['logs', '-n', NS, 'once']), 'done with hello\n');

    await waitFor('fails to be Failed', () => (podOf('fails')?.status.phase === 'Failed' ? true : undefined));
    assert.deepEqual(getRow('fails')?.slice(1, 4), ['0/1', 'Error', '0']);
    assert.equal(podOf('fails')?.status.containerStatuses?.[0]?.state.terminated?.exitCode, 3);
  });

  test('(d) a pod runner killed with SIGKILL: its successor kills the orphaned program and runs one copy again', async () => {
    const netns = labPodNamespace(lab.name, NS, 'web');
    const before = pidsInNetns(netns);
    assert.equal(before.length, 1, `one process in web's namespace (${before.join(' ')})`);
    const record = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
      nodes: Array<{ name: string; runnerPid?: number }>;
    };
    const runner = record.nodes.find((n) => n.name === 'n1')?.runnerPid;
    assert.ok(runner, 'n1 has a pod runner');
    process.kill(runner, 'SIGKILL');
    const now = await waitFor(
      'a new program in web, and the old one gone',
      () => {
        const pids = pidsInNetns(netns);
        return pids.length === 1 && pids[0] !== before[0] && !alive(before[0]!) ? pids : undefined;
      },
      60_000,
    );
    assert.equal(now.length, 1, 'never two copies');
    await waitFor('web to be Ready again', () => (isReady('web') ? true : undefined), 30_000);
    assert.equal(podOf('web')?.status.containerStatuses?.[0]?.restartCount, 1, 'the new start counts as a restart');
  });

  test('(e) deleting program pods ends their processes (SIGKILL after the grace period for one that ignores SIGTERM, and a daemon outside its group)', async () => {
    const webNs = labPodNamespace(lab.name, NS, 'web');
    const stubbornNs = labPodNamespace(lab.name, NS, 'stubborn');
    const escaperNs = labPodNamespace(lab.name, NS, 'escaper');
    await waitFor('stubborn to have said it ignores TERM', () =>
      lab.must(['logs', '-n', NS, 'stubborn']).includes('ignoring TERM') ? true : undefined,
    );
    await waitFor('escaper to have its daemon', () => (pidsInNetns(escaperNs).length === 2 ? true : undefined));
    const inodes = [netnsInode(webNs), netnsInode(stubbornNs), netnsInode(escaperNs)];
    const pids = inodes.flatMap(pidsWithNetInode);
    assert.equal(pids.length, 4, `one process per pod, two in escaper (${pids.join(' ')})`);

    lab.must(['delete', '-f', lab.file('web.yaml', webDoc)]);
    lab.must(['delete', '--grace-period', '1', '-f', lab.file('stubborn.yaml', stubbornDoc)]);
    lab.must(['delete', '-f', lab.file('escaper.yaml', escaperDoc)]);
    // delete returns once the pods are torn down: their programs are gone by then.
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} is gone`);
    for (const ino of inodes) assert.deepEqual(pidsWithNetInode(ino), [], 'no process is left in the namespace');
    assert.equal(podOf('web'), undefined);
  });
});
