/**
 * The lab's etcd speaks TLS only, and wants a client certificate (etcd's --client-cert-auth), as
 * a production etcd for Flannel does: without this, anyone who can reach the port can rewrite
 * every node's lease. `weft lab up --store etcd` makes a CA for the lab, a server certificate for
 * the etcd URL's address and 127.0.0.1, and one client certificate the lab's agents and runners
 * present (flanneld's --etcd-cafile/--etcd-certfile/--etcd-keyfile). ECDSA P-256, valid 30 days,
 * made with Debian's openssl; the keys are 0600 in the lab's directory and go with it.
 */

import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';
import { makeCa, makeLeaf } from './lab-pki.js';

export interface EtcdTlsFiles {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function etcdTlsFiles(dir: string): EtcdTlsFiles {
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client-key.pem'),
  };
}

/** Makes the CA and both certificates in `dir` (replacing what is there); returns their paths. */
export async function makeEtcdTls(
  exec: Exec,
  dir: string,
  serverIps: readonly string[],
  lab: string,
): Promise<EtcdTlsFiles> {
  const f = etcdTlsFiles(dir);
  const ca = await makeCa(exec, dir, 'ca', `weft lab ${lab} etcd CA`);
  // clientAuth too: etcd's JSON gateway dials etcd's own gRPC port with the server certificate.
  await makeLeaf(exec, ca, {
    cert: f.serverCert,
    key: f.serverKey,
    cn: 'etcd',
    usage: 'serverAuth,clientAuth',
    ips: serverIps,
  });
  await makeLeaf(exec, ca, { cert: f.clientCert, key: f.clientKey, cn: 'weft-agent', usage: 'clientAuth' });
  return f;
}
