/**
 * The lab's etcd speaks TLS only, and wants a client certificate (etcd's --client-cert-auth), as
 * a production etcd for Flannel does: without this, anyone who can reach the port can rewrite
 * every node's lease. `weft lab up --store etcd` makes a CA for the lab, a server certificate for
 * the etcd URL's address and 127.0.0.1, and one client certificate the lab's agents and runners
 * present (flanneld's --etcd-cafile/--etcd-certfile/--etcd-keyfile). ECDSA P-256, valid 30 days,
 * made with Debian's openssl; the keys are 0600 in the lab's directory and go with it.
 */

import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';

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

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30'];

/** Makes the CA and both certificates in `dir` (replacing what is there); returns their paths. */
export async function makeEtcdTls(
  exec: Exec,
  dir: string,
  serverIps: readonly string[],
  lab: string,
): Promise<EtcdTlsFiles> {
  const f = etcdTlsFiles(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca-key.pem');
  const openssl = (args: string[], what: string) =>
    exec.run({ argv: ['openssl', 'req', '-x509', ...KEY, ...args], timeoutMs: 20_000, context: `etcd TLS: ${what}` });
  await openssl(['-keyout', caKey, '-out', f.caFile, '-subj', `/CN=weft lab ${lab} etcd CA`], 'make the CA');
  const leaf = (cert: string, key: string, cn: string, usage: string, san?: string) =>
    openssl(
      [
        '-keyout',
        key,
        '-out',
        cert,
        '-subj',
        `/CN=${cn}`,
        '-CA',
        f.caFile,
        '-CAkey',
        caKey,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        `extendedKeyUsage=${usage}`,
        ...(san ? ['-addext', `subjectAltName=${san}`] : []),
      ],
      `make the ${cn === 'etcd' ? 'server' : 'client'} certificate`,
    );
  // clientAuth too: etcd's JSON gateway dials etcd's own gRPC port with the server certificate.
  await leaf(f.serverCert, f.serverKey, 'etcd', 'serverAuth,clientAuth', serverIps.map((ip) => `IP:${ip}`).join(','));
  await leaf(f.clientCert, f.clientKey, 'weft-agent', 'clientAuth');
  for (const key of [caKey, f.serverKey, f.clientKey]) chmodSync(key, 0o600);
  return f;
}
