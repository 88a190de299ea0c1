// Unit tests for the bgp backend's supervision of BIRD, with a fake exec, fake children and a
// manual clock: the first start, a peer change as `birdc configure` (never a restart), BIRD's death
// (problem reported, restart with doubling backoff and -R), a refused config (nothing written),
// and stop().
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BGP } from './bgp.js';
import type { Backend, BackendSyncInput } from './backend.js';
import { FakeClock } from '../../testkit/clock-fake.js';
import { JsonLogger } from '../../adapters/json-logger.js';
import { PromMetrics } from '../../adapters/metrics-prom.js';
import { ExecError } from '../../core/port-errors.js';
import type { Child, ChildRequest, Exec, ExecRequest, ExecResult } from '../../ports/exec.js';
import type { Netlink } from '../../ports/netlink.js';

class FakeChild implements Child {
  running = true;
  readonly exited: Promise<ExecError>;
  killedWith: string | undefined;
  private end!: (e: ExecError) => void;
  constructor(
    readonly argv: readonly string[],
    readonly pid: number,
  ) {
    this.exited = new Promise((resolve) => (this.end = resolve));
  }
  write(): void {}
  onStdout(): void {}
  onStderr(): void {}
  die(signal = 'SIGKILL'): void {
    if (!this.running) return;
    this.running = false;
    this.end(new ExecError(this.argv, null, signal, '', '', 'the bgp backend BIRD'));
  }
  kill(signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT' = 'SIGTERM'): void {
    this.killedWith = signal;
    this.die(signal);
  }
}

class FakeExec implements Exec {
  calls: string[][] = [];
  async run(req: ExecRequest): Promise<ExecResult> {
    this.calls.push([...req.argv]);
    const [prog, ...args] = req.argv;
    if (prog === 'birdc' && args.includes('status')) return ok('BIRD 2.0.12 ready.\nDaemon is up and running\n');
    if (prog === 'birdc' && args.includes('configure')) return ok('BIRD 2.0.12 ready.\nReconfigured\n');
    if (prog === 'ip') return ok('[]');
    return ok('');
  }
  tryRun(req: ExecRequest): Promise<ExecResult> {
    return this.run(req);
  }
  configures(): number {
    return this.calls.filter((c) => c[0] === 'birdc' && c.includes('configure')).length;
  }
}
const ok = (stdout: string): ExecResult => ({ stdout, stderr: '', exitCode: 0 });

const node = {
  subnet: '10.244.1.0/24',
  publicIp: '10.99.0.1',
  underlay: { name: 'eth0', cidr: '10.99.0.1/24', mtu: 1500 },
};
const conf = (peering: 'mesh' | 'router' = 'mesh', routerAddresses: string[] = []): BackendSyncInput['conf'] => ({
  network: '10.244.0.0/16',
  backend: {
    type: 'bgp',
    vni: 1,
    port: 8472,
    directRouting: false,
    bgp: { asNumber: 64512, peering, routerAsNumber: 64512, routerAddresses },
  },
});
const peer = (n: number) => ({
  subnet: `10.244.${n}.0/24`,
  publicIp: `10.99.0.${n}`,
  backendType: 'bgp',
  backendData: {},
});

describe('bgp backend supervision', () => {
  let dir: string;
  let exec: FakeExec;
  let clock: FakeClock;
  let children: FakeChild[];
  let backend: Backend;
  const logs: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-bgp-test-'));
    exec = new FakeExec();
    clock = new FakeClock();
    children = [];
    backend = BGP.create({
      netlink: {} as Netlink,
      exec,
      spawn: (req: ChildRequest) => {
        const c = new FakeChild(req.argv, 1000 + children.length);
        children.push(c);
        return c;
      },
      clock,
      log: new JsonLogger((l) => logs.push(l)),
      metrics: new PromMetrics(),
      runDir: dir,
    });
  });
  afterEach(async () => {
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const confFile = () => readFileSync(join(dir, 'bird', 'bird.conf'), 'utf8');

  test('first sync: the config checked by bird -p, BIRD started without recovery, 179/tcp guarded, underlay MTU', async () => {
    const r = await backend.sync({ node, conf: conf(), peers: [peer(2)] });
    assert.equal(children.length, 1);
    assert.deepEqual(children[0]!.argv, [
      'bird',
      '-f',
      '-c',
      join(dir, 'bird', 'bird.conf'),
      '-s',
      join(dir, 'bird', 'bird.ctl'),
      '-P',
      join(dir, 'bird', 'bird.pid'),
    ]);
    assert.ok(
      exec.calls.some((c) => c[0] === 'bird' && c[1] === '-p'),
      'checked with bird -p',
    );
    assert.match(confFile(), /protocol bgp peer_10_99_0_2 /);
    assert.deepEqual(r.guardPorts, [{ protocol: 'tcp', port: 179 }]);
    assert.equal(r.podMtu, 1500);
    assert.match(r.described.join('\n'), /BIRD started/);
    assert.equal(backend.problem(), undefined);
  });

  test('a peer change is birdc configure, never a restart; the same peers again change nothing', async () => {
    await backend.sync({ node, conf: conf(), peers: [peer(2)] });
    const r = await backend.sync({ node, conf: conf(), peers: [peer(3), peer(2)] });
    assert.equal(children.length, 1, 'no second BIRD');
    assert.equal(exec.configures(), 1);
    assert.match(r.described.join('\n'), /BIRD reconfigured: sessions 10\.99\.0\.2 \(AS 64512\), 10\.99\.0\.3/);
    const again = await backend.sync({ node, conf: conf(), peers: [peer(2), peer(3)] });
    assert.deepEqual(again.described, []);
    assert.equal(exec.configures(), 1);
  });

  test('a configure BIRD refuses is tried again by the next sync', async () => {
    await backend.sync({ node, conf: conf(), peers: [peer(2)] });
    const run = exec.run.bind(exec);
    let refuse = true;
    exec.run = async (req) => {
      if (refuse && req.argv.includes('configure')) {
        refuse = false;
        exec.calls.push([...req.argv]);
        return ok('BIRD 2.0.12 ready.\nReconfiguration rejected\n');
      }
      return run(req);
    };
    await assert.rejects(backend.sync({ node, conf: conf(), peers: [peer(2), peer(3)] }), /Reconfiguration rejected/);
    const r = await backend.sync({ node, conf: conf(), peers: [peer(2), peer(3)] });
    assert.match(r.described.join('\n'), /BIRD reconfigured/);
    assert.equal(exec.configures(), 2);
  });

  test('BIRD dies: problem reported, restarted with -R after 200 ms, then 400 ms if it dies again', async () => {
    await backend.sync({ node, conf: conf(), peers: [peer(2)] });
    children[0]!.die();
    await clock.advance(0);
    assert.match(backend.problem() ?? '', /BIRD is not running .*restarting it in 200 ms/);
    await clock.advance(199);
    assert.equal(children.length, 1);
    await clock.advance(1);
    assert.equal(children.length, 2);
    assert.ok(children[1]!.argv.includes('-R'), 'a restart recovers the kernel routes');
    assert.equal(backend.problem(), undefined);
    children[1]!.die();
    await clock.advance(0);
    assert.match(backend.problem() ?? '', /restarting it in 400 ms/);
    await clock.advance(400);
    assert.equal(children.length, 3);
    // A sync while BIRD runs again does not start another.
    await backend.sync({ node, conf: conf(), peers: [peer(2)] });
    assert.equal(children.length, 3);
  });

  test('a refused config (router address on no segment of the node) writes nothing and names the field', async () => {
    await backend.sync({ node, conf: conf(), peers: [peer(2)] });
    const before = confFile();
    await assert.rejects(
      backend.sync({ node, conf: conf('router', ['10.98.0.253']), peers: [peer(2)] }),
      /Backend\.RouterAddress: none of 10\.98\.0\.253 is on this node's segment 10\.99\.0\.0\/24/,
    );
    assert.equal(confFile(), before);
    assert.equal(exec.configures(), 0);
    assert.equal(children.length, 1);
  });

  test('stop ends BIRD by SIGKILL and nothing restarts it', async () => {
    await backend.sync({ node, conf: conf(), peers: [] });
    await backend.stop();
    assert.equal(children[0]!.killedWith, 'SIGKILL');
    await clock.advance(60_000);
    assert.equal(children.length, 1);
    assert.equal(backend.problem(), undefined);
  });
});
