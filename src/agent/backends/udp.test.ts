// Unit tests for the udp backend with a fake forwarder, kernel and clock: the order of a first
// sync (forwarder before any change), a port in use as an error naming Backend.Port with no
// change applied, a dead forwarder reported and replaced, and the counters read into the metrics
// between syncs as increments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpBackend, type ForwarderHandle } from './udp.js';
import { PromMetrics } from '../../adapters/metrics-prom.js';
import { JsonLogger } from '../../adapters/json-logger.js';
import { FakeClock } from '../../testkit/clock-fake.js';
import { emptyActual, type BackendChange, type BackendNetConf, type BackendNode } from '../../core/backend/state.js';
import type { ForwarderStats, UdpForwarderOptions } from '../../adapters/udp-forwarder.js';
import type { Exec, ExecRequest } from '../../ports/exec.js';

const node: BackendNode = {
  subnet: '10.244.1.0/24',
  publicIp: '10.99.0.1',
  underlay: { name: 'eth0', cidr: '10.99.0.1/24', mtu: 1500 },
};
const conf: BackendNetConf = {
  network: '10.244.0.0/16',
  backend: { type: 'udp', vni: 1, port: 8285, directRouting: false },
};
const peers = [{ subnet: '10.244.2.0/24', publicIp: '10.99.0.2', backendType: 'udp', backendData: {} }];

const zero = (): ForwarderStats => ({
  sentPackets: 0,
  sentBytes: 0,
  receivedPackets: 0,
  receivedBytes: 0,
  dropped: {
    malformed: 0,
    'not-ipv4': 0,
    'no-route': 0,
    'unknown-sender': 0,
    'not-for-this-node': 0,
    'send-error': 0,
    'tun-write-error': 0,
  },
});

class FakeForwarder implements ForwarderHandle {
  readonly notes: string[] = [];
  dead: string | undefined;
  stats_ = zero();
  routes: unknown[] = [];
  constructor(readonly options: UdpForwarderOptions) {}
  problem() {
    return this.dead;
  }
  async setRoutes(own: string, entries: readonly unknown[]) {
    this.routes.push({ own, entries });
  }
  async stats() {
    return structuredClone(this.stats_);
  }
  async stop() {
    this.dead ??= 'stopped';
  }
}

function setup(opts: { portInUse?: boolean } = {}) {
  const events: string[] = [];
  const started: FakeForwarder[] = [];
  const exec: Exec = {
    run: () => Promise.reject(new Error('not used')),
    tryRun: async (req: ExecRequest) => {
      events.push(`exec ${req.argv.join(' ')}`);
      const up = started.length > 0 && started.at(-1)!.dead === undefined;
      return {
        stdout: up ? JSON.stringify([{ ifname: 'weft0', mtu: 1500, flags: ['POINTOPOINT'], addr_info: [] }]) : '',
        stderr: up ? '' : 'Device "weft0" does not exist.',
        exitCode: up ? 0 : 1,
      };
    },
  };
  const applied: BackendChange[][] = [];
  const netlink = {
    read: async () => emptyActual(),
    apply: async (c: readonly BackendChange[]) => {
      events.push(`apply ${c.length}`);
      applied.push([...c]);
    },
  };
  const metrics = new PromMetrics();
  const clock = new FakeClock();
  const backend = new UdpBackend({
    exec,
    netlink,
    metrics,
    clock,
    log: new JsonLogger(() => undefined),
    startForwarder: async (o) => {
      events.push(`start forwarder ${o.publicIp}:${o.port}`);
      if (opts.portInUse)
        throw Object.assign(new Error('bind udp port 8285 on 10.99.0.1: Address already in use (EADDRINUSE)'), {
          code: 'EADDRINUSE',
        });
      const f = new FakeForwarder(o);
      started.push(f);
      return f;
    },
  });
  const counter = async (name: string, label: string) => {
    const line = (await metrics.render()).text.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
    return Number(line?.split(' ')[1] ?? NaN);
  };
  return { backend, events, applied, started, clock, counter };
}

test('first sync: the forwarder starts before the kernel is read or changed; the device and the route', async () => {
  const s = setup();
  const r = await s.backend.sync({ node, conf, peers });
  assert.deepEqual(s.events, ['start forwarder 10.99.0.1:8285', 'exec ip -j address show dev weft0', 'apply 3']);
  assert.deepEqual(r.described, [
    'set device weft0 mtu 1472 up',
    'add-address 10.244.1.0/32 dev weft0',
    'add-route 10.244.0.0/16 dev weft0',
  ]);
  assert.deepEqual(s.started[0]!.routes, [
    { own: '10.244.1.0/24', entries: [{ subnet: '10.244.2.0/24', publicIp: '10.99.0.2' }] },
  ]);
  assert.equal(r.podMtu, 1472);
  assert.deepEqual(r.guardPorts, [{ protocol: 'udp', port: 8285 }]);
});

test('a port in use: an error naming Backend.Port, the kernel neither read nor changed', async () => {
  const s = setup({ portInUse: true });
  await assert.rejects(
    s.backend.sync({ node, conf, peers }),
    /^UdpBackendConfigError: net-conf: Backend\.Port: 8285\/udp is already in use on this node's address 10\.99\.0\.1 \(bind udp port 8285 on 10\.99\.0\.1: Address already in use \(EADDRINUSE\)\); the udp backend changed nothing/,
  );
  assert.deepEqual(s.events, ['start forwarder 10.99.0.1:8285']);
});

test('a dead forwarder is reported, and the next sync replaces it', async () => {
  const s = setup();
  await s.backend.sync({ node, conf, peers });
  assert.equal(s.backend.problem(), undefined);
  s.started[0]!.dead = 'the forwarder thread failed: poll TUN weft0: EBADF';
  assert.equal(
    s.backend.problem(),
    'the udp forwarder stopped: the forwarder thread failed: poll TUN weft0: EBADF; restarting it on the next sync',
  );
  await s.backend.sync({ node, conf, peers });
  assert.equal(s.started.length, 2);
  assert.equal(s.backend.problem(), undefined);
});

test('counters: increments into the metrics, at each sync and every 5 s between; none after stop', async () => {
  const s = setup();
  await s.backend.sync({ node, conf, peers });
  const f = s.started[0]!;
  f.stats_.sentPackets = 10;
  f.stats_.dropped['no-route'] = 2;
  await s.clock.advance(5000);
  assert.equal(await s.counter('weft_udp_forwarded_packets_total', 'direction="sent"'), 10);
  assert.equal(await s.counter('weft_udp_dropped_packets_total', 'reason="no-route"'), 2);
  f.stats_.sentPackets = 25;
  await s.backend.sync({ node, conf, peers });
  assert.equal(await s.counter('weft_udp_forwarded_packets_total', 'direction="sent"'), 25);
  await s.backend.stop();
  f.stats_.sentPackets = 99;
  await s.clock.advance(20_000);
  assert.equal(await s.counter('weft_udp_forwarded_packets_total', 'direction="sent"'), 25);
  assert.equal(s.clock.pendingTimers, 0);
});
