/**
 * The lab's certificates, made with Debian's openssl: a CA per purpose (the etcd one, the Kubernetes
 * one) and leaf certificates it signs, ECDSA P-256, valid 30 days. Keys are written 0600 in the
 * lab's directory and go with it (`weft lab down`). The subject's O is how Kubernetes reads a client
 * certificate's groups (system:masters, system:nodes), so a leaf can name several.
 */

import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';

export interface LabCa {
  cert: string;
  key: string;
}

export interface LeafRequest {
  cert: string;
  key: string;
  /** The subject's CN (a Kubernetes client's user name). */
  cn: string;
  /** The subject's O entries (a Kubernetes client's groups). */
  orgs?: readonly string[];
  /** extendedKeyUsage, e.g. 'serverAuth' or 'clientAuth' or both. */
  usage: string;
  /** subjectAltName entries: IP addresses and DNS names. */
  ips?: readonly string[];
  dns?: readonly string[];
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30'];

function subject(cn: string, orgs: readonly string[] = []): string {
  for (const part of [cn, ...orgs])
    if (/[/=+,\\]/.test(part)) throw new Error(`certificate subject part "${part}": must not contain / = + , or \\`);
  return [...orgs.map((o) => `/O=${o}`), `/CN=${cn}`].join('');
}

function openssl(exec: Exec, args: string[], what: string) {
  return exec.run({ argv: ['openssl', 'req', '-x509', ...KEY, ...args], timeoutMs: 20_000, context: what });
}

/** Makes a CA in `dir` as `<name>.pem` / `<name>-key.pem` (replacing what is there). */
export async function makeCa(exec: Exec, dir: string, name: string, cn: string): Promise<LabCa> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  await openssl(exec, ['-keyout', ca.key, '-out', ca.cert, '-subj', subject(cn)], `make the CA ${cn}`);
  chmodSync(ca.key, 0o600);
  return ca;
}

/** Makes a certificate signed by `ca`. */
export async function makeLeaf(exec: Exec, ca: LabCa, req: LeafRequest): Promise<void> {
  const san = [...(req.ips ?? []).map((ip) => `IP:${ip}`), ...(req.dns ?? []).map((d) => `DNS:${d}`)].join(',');
  await openssl(
    exec,
    [
      '-keyout',
      req.key,
      '-out',
      req.cert,
      '-subj',
      subject(req.cn, req.orgs),
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      `extendedKeyUsage=${req.usage}`,
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    ],
    `make the certificate for ${req.cn}`,
  );
  chmodSync(req.key, 0o600);
}
