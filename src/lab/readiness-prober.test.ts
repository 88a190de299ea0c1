/**
 * The pod runner's prober with a manual clock and a scripted Exec: exec probes run the pod's
 * argv in the pod's namespace with the probe's timeout; a probe that hangs in one pod holds back
 * no other pod's; the owner hears of readiness only when it changes (so the status is not
 * rewritten every period); tcpSocket probes connect to a real socket, the port given by name.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { Pod } from '../core/k8s/objects.js';
import type { Exec, ExecRequest, ExecResult } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import { FakeClock } from '../testkit/clock-fake.js';
import { PodProber } from './readiness-prober.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, with: () => quiet };

const TIMING = {
  initialDelaySeconds: 0,
  timeoutSeconds: 2,
  periodSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
};

function podWith(name: string, probe: NonNullable<Pod['spec']['containers'][number]['readinessProbe']>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'x', labels: {}, annotations: {} },
    spec: {
      hostNetwork: false,
      containers: [
        { name: 's', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], readinessProbe: probe },
      ],
    },
  };
}

/** An Exec whose calls wait until the test answers them (by the netns they run in). */
class ScriptedExec implements Exec {
  readonly calls: ExecRequest[] = [];
  private readonly waiting: Array<{ req: ExecRequest; resolve: (r: ExecResult) => void }> = [];
  /** Answers at once for these netns paths (exit code), instead of waiting. */
  readonly auto = new Map<string, number>();

  run(): Promise<ExecResult> {
    throw new Error('the prober uses tryRun');
  }

  tryRun(req: ExecRequest): Promise<ExecResult> {
    this.calls.push(req);
    const code = this.auto.get(req.netns ?? '');
    if (code !== undefined) return Promise.resolve({ stdout: '', stderr: '', exitCode: code });
    return new Promise((resolve) => this.waiting.push({ req, resolve }));
  }

  /** Answers every waiting call made in `netns` with `exitCode`. */
  answer(netns: string, exitCode: number): void {
    for (const w of this.waiting.filter((w) => w.req.netns === netns)) {
      w.resolve({ stdout: '', stderr: '', exitCode });
      this.waiting.splice(this.waiting.indexOf(w), 1);
    }
  }
}

function prober(
  pod: Pod,
  o: { exec: Exec; clock: FakeClock; netnsPath?: string; podIP?: string; changes: boolean[] },
): PodProber {
  return new PodProber({
    key: `x/${pod.metadata.name}`,
    pod,
    podIP: o.podIP ?? '10.244.1.2',
    netnsPath: o.netnsPath,
    exec: o.exec,
    clock: o.clock,
    log: quiet,
    startedAt: o.clock.now(),
    ready: false,
    onChange: (ready) => o.changes.push(ready),
  });
}

test('exec probes run the argv in the pod namespace with the probe timeout; the owner hears only of changes', async () => {
  const clock = new FakeClock();
  const exec = new ScriptedExec();
  exec.auto.set('/run/netns/a', 0);
  const changes: boolean[] = [];
  const p = prober(podWith('a', { ...TIMING, exec: { command: ['test', '-e', '/tmp/f'] } }), {
    exec,
    clock,
    netnsPath: '/run/netns/a',
    changes,
  });
  p.start();
  await clock.advance(10_000);
  assert.deepEqual(exec.calls[0], {
    argv: ['test', '-e', '/tmp/f'],
    netns: '/run/netns/a',
    timeoutMs: 2_000,
    context: 'readiness probe of x/a container s',
  });
  assert.equal(exec.calls.length, 11, 'one probe at start, then one a second');
  assert.deepEqual(changes, [true], 'eleven successes, one change');
  exec.auto.set('/run/netns/a', 1);
  await clock.advance(10_000);
  assert.deepEqual(changes, [true, false], 'ten failures, one change (at the third)');
  p.stop();
  const calls = exec.calls.length;
  await clock.advance(10_000);
  assert.equal(exec.calls.length, calls, 'a stopped prober probes no more');
});

test("a probe that hangs in one pod holds back no other pod's probes", async () => {
  const clock = new FakeClock();
  const exec = new ScriptedExec();
  exec.auto.set('/run/netns/b', 0);
  const changesA: boolean[] = [];
  const changesB: boolean[] = [];
  const a = prober(podWith('a', { ...TIMING, timeoutSeconds: 30, exec: { command: ['sleep', '30'] } }), {
    exec,
    clock,
    netnsPath: '/run/netns/a',
    changes: changesA,
  });
  const b = prober(podWith('b', { ...TIMING, exec: { command: ['true'] } }), {
    exec,
    clock,
    netnsPath: '/run/netns/b',
    changes: changesB,
  });
  a.start();
  b.start();
  await clock.advance(5_000);
  assert.equal(exec.calls.filter((c) => c.netns === '/run/netns/a').length, 1, "a's probe is still running");
  assert.equal(exec.calls.filter((c) => c.netns === '/run/netns/b').length, 6, 'b was probed every second meanwhile');
  assert.deepEqual([changesA, changesB], [[], [true]]);
  exec.answer('/run/netns/a', 0);
  await clock.advance(0);
  assert.deepEqual(changesA, [true]);
  a.stop();
  b.stop();
});

test('tcpSocket probes connect to the pod IP and a named port: success once something listens', async () => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const pod = podWith('t', { ...TIMING, tcpSocket: { port: 'http' } });
  pod.spec.containers[0]!.ports[0]!.containerPort = port;
  const clock = new FakeClock();
  const changed = new Promise<boolean>((resolve) => {
    const p = new PodProber({
      key: 'x/t',
      pod,
      podIP: '127.0.0.1',
      netnsPath: undefined,
      exec: new ScriptedExec(),
      clock,
      log: quiet,
      startedAt: clock.now(),
      ready: false,
      onChange: (ready) => {
        p.stop();
        resolve(ready);
      },
    });
    p.start();
  });
  try {
    assert.equal(await changed, true);
  } finally {
    server.close();
  }
});

test('tcpSocket probes on a port nobody serves fail: a Ready pod turns unready after failureThreshold', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve())); // the port is now closed
  const clock = new FakeClock();
  let steps = 0;
  const pod = podWith('t', { ...TIMING, failureThreshold: 2, tcpSocket: { port } });
  const changed = new Promise<boolean | 'never'>((resolve) => {
    const p = new PodProber({
      key: 'x/t',
      pod,
      podIP: '127.0.0.1',
      netnsPath: undefined,
      exec: new ScriptedExec(),
      clock,
      log: quiet,
      startedAt: clock.now(),
      ready: true,
      onChange: (ready) => {
        p.stop();
        resolve(ready);
      },
    });
    p.start();
    // Each refused connection ends a probe; the next is due a period later on the manual clock.
    const step = (): void => {
      if (++steps > 50) {
        p.stop();
        resolve('never');
        return;
      }
      void clock.advance(1_000).then(() => setImmediate(step));
    };
    setImmediate(step);
  });
  assert.equal(await changed, false);
});
