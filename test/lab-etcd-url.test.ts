/**
 * `weft lab up --store etcd=URL` with an etcd the user runs on the host's loopback: the lab's
 * nodes reach it through the lab's relay on the segment gateway address, Flannel's subnet keys
 * appear in that etcd, pods work, and `lab down` ends the relay too.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from './support/netns.js';
import { EtcdServer } from './support/etcd.js';
import { TestLab } from './support/lab.js';

const manifest = `apiVersion: v1
kind: Namespace
metadata: { name: u }
---
apiVersion: v1
kind: Pod
metadata: { name: a, namespace: u }
spec: { containers: [{ name: s, ports: [{ containerPort: 80 }] }] }
---
apiVersion: v1
kind: Pod
metadata: { name: b, namespace: u }
spec: { containers: [{ name: s, ports: [{ containerPort: 80 }] }] }
`;

async function subnetKeys(url: string): Promise<string[]> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const prefix = '/coreos.com/network/subnets/';
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const r = await fetch(`${url}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(prefix), range_end: b64(end), keys_only: true }),
  });
  const body = (await r.json()) as { kvs?: Array<{ key: string }> };
  return (body.kvs ?? []).map((kv) => Buffer.from(kv.key, 'base64').toString('utf8')).sort();
}

describe('weft lab with --store etcd=URL (an etcd on the host loopback)', { timeout: 300_000 }, () => {
  requireRoot();
  const etcd = new EtcdServer();
  const lab = new TestLab('tlu');

  before(async () => {
    await etcd.start();
    lab.up(['--nodes', '2', '--store', `etcd=${etcd.clientUrl}`]);
    lab.must(['apply', '-f', '-'], { input: manifest });
  });
  after(async () => {
    lab.down();
    await etcd.destroy();
  });

  test("both nodes hold a lease in the user's etcd, under Flannel's key layout, matching get nodes", async () => {
    const keys = await subnetKeys(etcd.clientUrl);
    const subnets = lab
      .nodes()
      .map((n) => `/coreos.com/network/subnets/${n.spec.podCIDR!.replace('/', '-')}`)
      .sort();
    assert.equal(keys.length, 2);
    assert.deepEqual(keys, subnets);
  });

  test('pods across the two nodes connect', () => {
    const m = lab.probe(['-n', 'u', '--port', '80']);
    assert.equal(m.results.length, 4);
    assert.deepEqual(
      m.results.filter((r) => !r.connected),
      [],
    );
  });

  test('lab down ends the relay with everything else', () => {
    assert.ok(lab.processes().length > 0);
    const r = lab.weft(['lab', 'down', '--name', lab.name]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lab.processes(), []);
  });
});
