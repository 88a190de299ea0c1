/**
 * IpSession (one long-lived `ip -j -d -batch -`, used by the agent's CNI socket) and Iproute2Links
 * over it, against the real kernel in a namespace of this test's own (prefix weft-ips-): lines run
 * in order in one process, reads come back in order, a failing line is named and stops the batch
 * (the lines before it stay done), and a failed or killed process is replaced.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeExec } from '../src/adapters/exec.js';
import { Iproute2Links } from '../src/adapters/iproute2.js';
import { IpSession, IpBatchError } from '../src/adapters/ip-session.js';
import { LinkBatchError } from '../src/core/port-errors.js';
import { Netns, ipJson } from './support/netns.js';

const fx = new Netns('weft-ips-');
let ns = '';
let session: IpSession;

function linkNames(): string[] {
  return ipJson<Array<{ ifname: string }>>(ns, ['link', 'show'])
    .map((l) => l.ifname)
    .sort();
}

describe('IpSession (ip -batch)', () => {
  before(() => {
    ns = fx.add('n');
    session = new IpSession({ netns: fx.path(ns) });
  });
  after(() => {
    session.close();
    fx.cleanup();
  });

  test('changes run in order, reads come back in order, one process for many transactions', async () => {
    const [d1] = await session.run(
      ['link add d1 type bridge', 'link set dev d1 up', 'address add 10.9.0.1/24 dev d1', 'address show dev d1'],
      1,
    );
    const pid = session.pid;
    const link = (
      JSON.parse(d1!) as Array<{ ifname: string; addr_info: Array<{ family: string; local: string }> }>
    )[0]!;
    assert.equal(link.ifname, 'd1');
    assert.deepEqual(
      link.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
      ['10.9.0.1'],
    );
    const [lo, again] = await session.run(['address show dev lo', 'link add d2 type bridge', 'address show dev d2'], 2);
    assert.match(lo!, /"ifname":"lo"/);
    assert.match(again!, /"ifname":"d2"/);
    assert.equal(session.pid, pid, 'the same ip process');
    assert.deepEqual(linkNames(), ['d1', 'd2', 'lo']);
  });

  test('a failing line is named with its index; the lines before it stay, the ones after do not run', async () => {
    const pid = session.pid;
    await assert.rejects(
      session.run(['link add d3 type bridge', 'link add d1 type bridge', 'link add d4 type bridge'], 0),
      (err: unknown) => {
        assert.ok(err instanceof IpBatchError);
        assert.equal(err.failedIndex, 1);
        assert.match(err.message, /ip link add d1 type bridge: .*File exists/);
        return true;
      },
    );
    assert.deepEqual(linkNames(), ['d1', 'd2', 'd3', 'lo']);
    // The next transaction runs in a new process.
    await session.run(['link del d3'], 0);
    assert.notEqual(session.pid, pid);
    assert.deepEqual(linkNames(), ['d1', 'd2', 'lo']);
  });

  test('concurrent transactions are queued and each gets its own reads', async () => {
    const names = ['c1', 'c2', 'c3', 'c4', 'c5'];
    const outs = await Promise.all(
      names.map((n) => session.run([`link add ${n} type bridge`, `address show dev ${n}`], 1)),
    );
    outs.forEach((o, i) => assert.match(o[0]!, new RegExp(`"ifname":"${names[i]}"`)));
    await session.run(
      names.map((n) => `link del ${n}`),
      0,
    );
  });

  test('a killed process is replaced', async () => {
    await session.run(['address show dev lo'], 1);
    const pid = session.pid!;
    process.kill(pid, 'SIGKILL');
    // The session notices the death when the process's pipes close (its pid is then forgotten).
    const deadline = Date.now() + 5_000;
    while (session.pid === pid) {
      if (Date.now() > deadline) throw new Error('the session did not notice its ip was killed');
      await new Promise((r) => setImmediate(r));
    }
    const [lo] = await session.run(['address show dev lo'], 1);
    assert.match(lo!, /"ifname":"lo"/);
    assert.notEqual(session.pid, pid);
  });

  test('Iproute2Links over the session: list, get (missing is undefined), apply with reads, LinkBatchError', async () => {
    const links = new Iproute2Links(new NodeExec(), session);
    assert.deepEqual((await links.list()).map((l) => l.name).sort(), ['d1', 'd2', 'lo']);
    assert.equal(await links.get('nope0'), undefined);
    assert.deepEqual(
      (await links.get('d1'))?.addresses.filter((a) => a.family === 4).map((a) => a.cidr),
      ['10.9.0.1/24'],
    );
    const [br] = await links.apply(
      [
        { op: 'add-bridge', name: 'br9' },
        { op: 'set-up', name: 'br9' },
      ],
      { context: 'make br9', read: ['br9'] },
    );
    assert.equal(br?.kind, 'bridge');
    await assert.rejects(
      links.apply(
        [
          { op: 'set-up', name: 'br9' },
          { op: 'set-master', name: 'nope0', master: 'br9' },
        ],
        { context: 'enslave' },
      ),
      (err: unknown) => {
        assert.ok(err instanceof LinkBatchError);
        assert.equal(err.failedIndex, 1);
        assert.match(err.message, /^enslave: ip link set dev nope0 master br9: /);
        return true;
      },
    );
  });
});
