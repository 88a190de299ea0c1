/**
 * Issue 14, `Backend.Type: udp` in the lab, driven through the CLI with real traffic, on ONE lab
 * (`weft lab up --backend udp --segments 2`: n1 and n3 on 10.99.0.0/24, n2 behind the router, so
 * the example's pods talk both on a segment and across it) shared by every scenario:
 *
 * - every pod reaches every pod on 80/TCP and 81/UDP (`weft probe -A`); the nodes carry weft0
 *   (MTU underlay - 28) and the one route for the network, with weft's protocol;
 * - ping across nodes, and a full-size packet at the pods' MTU with DF set (no fragmentation);
 * - NetworkPolicy smoke scenarios of the policy suite hold on udp (the tables do not care how a
 *   packet crossed nodes, this checks they are not bypassed through weft0);
 * - a bad Backend.Port is refused by `weft net-conf put` naming the field, and the stored config
 *   is unchanged;
 * - a port in use on a node: its agent reports an error naming Backend.Port (node NotReady,
 *   `weft get nodes` says why), no weft0 is made there; once the port is free and the config is
 *   back, the node is Ready and every pod connects again.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bindSocketsInNetns, closeFd } from '../src/adapters/netns-native.js';
import { ipJson, listNetns, requireRoot } from './support/netns.js';
import { TestLab } from './support/lab.js';
import { waitFor } from './support/cluster.js';
import { policySmoke, probeBoth, SMOKE_SCENARIOS, surprises } from './support/lab-matrix.js';

describe('udp backend in a lab of two segments', { timeout: 300_000 }, () => {
  requireRoot();
  const lab = new TestLab('udt');
  let podIp = new Map<string, string>();
  let podNode = new Map<string, string>();

  before(() => {
    lab.upWithExample(['--backend', 'udp', '--segments', '2', '--nodes', '3']);
    const pods = lab.pods();
    podIp = new Map(pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.status.podIP ?? '']));
    podNode = new Map(pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.spec.nodeName ?? '']));
  });
  after(() => {
    const r = lab.down();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(lab.prefix)),
      [],
    );
  });

  test('every pod reaches every pod on 80/TCP and 81/UDP, on the segment and across the router', () => {
    assert.deepEqual(new Set(podNode.values()), new Set(['n1', 'n2', 'n3']), 'pods on every node');
    for (const m of probeBoth(lab)) assert.deepEqual(surprises(m), [], `${m.port}/${m.protocol}`);
    for (const node of ['n1', 'n2', 'n3']) {
      const [dev] = ipJson<Array<{ mtu: number; linkinfo?: { info_kind?: string } }>>(`${lab.prefix}${node}`, [
        '-d',
        'link',
        'show',
        'weft0',
      ]);
      assert.equal(dev?.linkinfo?.info_kind, 'tun', node);
      assert.equal(dev?.mtu, 1472, node);
      const routes = ipJson<Array<{ dst: string; dev: string; gateway?: string }>>(`${lab.prefix}${node}`, [
        'route',
        'show',
        'proto',
        '119',
      ]);
      assert.deepEqual(routes, [{ dst: '10.244.0.0/16', dev: 'weft0', scope: 'link', flags: [] }], node);
    }
  });

  test('ping across nodes, and a full-size packet at the pods MTU with DF set', () => {
    // x/a on n1 to x/b on n2 (across the router) and to x/c on n3 (same segment).
    assert.equal(podNode.get('x/a'), 'n1');
    for (const to of ['x/b', 'x/c']) {
      const out = lab.must(['exec', '-n', 'x', 'a', '--', 'ping', '-c', '2', '-i', '0.2', '-W', '2', podIp.get(to)!]);
      assert.match(out, / 0% packet loss/, to);
    }
    // Pod MTU 1472 (underlay 1500 - 28): 1472 - 20 (IP) - 8 (ICMP) = 1444 bytes of payload fit.
    const pingDf = (size: number) =>
      lab.weft([
        'exec',
        '-n',
        'x',
        'a',
        '--',
        'ping',
        '-c',
        '1',
        '-W',
        '2',
        '-M',
        'do',
        '-s',
        String(size),
        podIp.get('x/b')!,
      ]);
    const big = pingDf(1444);
    assert.equal(big.status, 0, big.stdout + big.stderr);
    assert.match(big.stdout, / 0% packet loss/);
    assert.notEqual(pingDf(1445).status, 0, 'one byte more does not fit the pod MTU');
  });

  for (const name of SMOKE_SCENARIOS) test(`NetworkPolicy smoke scenario: ${name}`, () => policySmoke(lab, name));

  const store = () => ['--store-file', join(lab.dir, 'leases.db')];
  const storedConf = () => JSON.parse(lab.must(['net-conf', 'get', ...store()])) as unknown;

  test('a bad Backend.Port is refused naming the field; the stored config is unchanged', () => {
    const before = storedConf();
    for (const [port, why] of [
      [70000, /net-conf: Backend\.Port: must be between 1 and 65535/],
      [0, /net-conf: Backend\.Port: must be between 1 and 65535/],
      ['"8285"', /net-conf: Backend\.Port: Expected number, received string/],
    ] as const) {
      const f = lab.file(
        'bad.json',
        `{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"udp","Port":${port}}}`,
      );
      const r = lab.weft(['net-conf', 'put', '-f', f, ...store()]);
      assert.notEqual(r.status, 0, String(port));
      assert.match(r.stderr, why, String(port));
    }
    assert.deepEqual(storedConf(), before);
  });

  test('a port in use on a node: an error naming Backend.Port, no device there; back when the port is free', async () => {
    const original = lab.must(['net-conf', 'get', ...store()]);
    // Port 9285 is free everywhere; something on n1 takes it before n1's agent restarts with it.
    const moved = lab.file(
      'moved.json',
      `{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"udp","Port":9285}}`,
    );
    const [squatter] = bindSocketsInNetns(`/var/run/netns/${lab.prefix}n1`, [
      { protocol: 'UDP', port: 9285, address: '10.99.0.1' },
    ]) as [number];
    try {
      lab.must(['net-conf', 'put', '-f', moved, ...store()]);
      lab.must(['lab', 'restart-agents', '--node', 'n1']);
      const message = await waitFor('n1 to report the port in use', () => {
        const line = lab
          .must(['get', 'nodes', '-o', 'wide'])
          .split('\n')
          .find((l) => l.startsWith('n1 '));
        return line?.includes('Backend.Port') ? line : undefined;
      });
      assert.match(message, /NotReady/);
      assert.match(
        message,
        /net-conf: Backend\.Port: 9285\/udp is already in use on this node's address 10\.99\.0\.1 .*Address already in use.*the udp backend changed nothing/,
      );
      assert.deepEqual(ipJson(`${lab.prefix}n1`, ['route', 'show', 'proto', '119']), [], 'no route into a device');
      assert.equal(
        ipJson(`${lab.prefix}n1`, ['link', 'show']).some((l) => l.ifname === 'weft0'),
        false,
        'no weft0 on n1',
      );
    } finally {
      closeFd(squatter);
      lab.must(['net-conf', 'put', '-f', lab.file('original.json', original), ...store()]);
      lab.must(['lab', 'restart-agents', '--node', 'n1']);
    }
    await waitFor('n1 Ready and every pod connected again', () => {
      const ready = lab
        .must(['get', 'nodes'])
        .split('\n')
        .find((l) => l.startsWith('n1 '))
        ?.includes(' Ready ');
      return ready && surprises(lab.probe(['-A', '--port', '80', '--protocol', 'TCP'])).length === 0 ? true : undefined;
    });
  });
});
