import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdTlsOf, openStore, type StoreOptions } from './open-store.js';

const etcd: StoreOptions = {
  store: 'etcd',
  storeFile: '/nonexistent',
  etcdEndpoints: 'https://10.0.0.1:2379,https://10.0.0.2:2379',
  etcdPrefix: '/coreos.com/network',
};

test('etcd TLS flags: none is plain; the CA with a certificate and key pair is TLS with a client certificate', () => {
  assert.equal(etcdTlsOf(etcd), undefined);
  assert.deepEqual(etcdTlsOf({ ...etcd, etcdCafile: '/ca.pem' }), { caFile: '/ca.pem' });
  assert.deepEqual(etcdTlsOf({ ...etcd, etcdCafile: '/ca.pem', etcdCertfile: '/c.pem', etcdKeyfile: '/k.pem' }), {
    caFile: '/ca.pem',
    certFile: '/c.pem',
    keyFile: '/k.pem',
  });
});

test('etcd TLS flags that cannot take effect are refused, naming the flag', () => {
  const bad: Array<[Partial<StoreOptions>, RegExp]> = [
    [{ store: 'embedded', etcdCafile: '/ca.pem' }, /--etcd-cafile: only with --store etcd$/],
    [{ etcdCafile: '/ca.pem', etcdCertfile: '/c.pem' }, /--etcd-certfile and --etcd-keyfile: give both/],
    [{ etcdCertfile: '/c.pem', etcdKeyfile: '/k.pem' }, /--etcd-cafile: needed with --etcd-certfile/],
    [{ etcdCafile: '/ca.pem', etcdEndpoints: 'http://10.0.0.1:2379' }, /--etcd-endpoints: .*https:\/\//],
  ];
  for (const [o, re] of bad) assert.throws(() => etcdTlsOf({ ...etcd, ...o }), re);
});

test('a TLS file that cannot be read is named with its flag when the store is opened', async () => {
  await assert.rejects(
    openStore({ ...etcd, etcdCafile: '/nonexistent/ca.pem' }),
    /etcd TLS: read --etcd-cafile \/nonexistent\/ca\.pem/,
  );
});
