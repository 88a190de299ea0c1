/**
 * A real etcd (Debian's etcd-server) for tests, with its data in a temp dir. By default on
 * loopback ports picked free; with `netns` and `host` it runs inside a namespace the test made
 * (the lab's segment namespace, so that agents in node namespaces reach it over the underlay).
 * stop() and start() again on the same data dir simulate an outage; with `tls` it serves https and
 * requires client certificates (etcd's --client-cert-auth). Only the process this
 * fixture started is ever signalled, by its PID.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { singleEtcdArgs } from '../../src/lab/etcd-args.js';
import { freeLoopbackPort } from '../../src/lab/kube-control-plane.js';

export const ETCD_BIN = '/usr/bin/etcd';

/** A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it). */
export const freePort = freeLoopbackPort;

export interface EtcdOptions {
  /** Run inside this named namespace (via ip netns exec). */
  netns?: string;
  /** Client address to listen on (default 127.0.0.1). */
  host?: string;
  /** Serve clients over TLS with this certificate, and require client certificates signed by caFile. */
  tls?: { certFile: string; keyFile: string; caFile: string; clientCertFile: string; clientKeyFile: string };
}

export class EtcdServer {
  constructor(private opts: EtcdOptions = {}) {}

  /** Runs etcd inside this namespace (set before start()). */
  bindTo(netns: string): void {
    this.opts = { ...this.opts, netns };
  }

  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  clientUrl = '';
  private peerUrl = '';
  log = '';

  async start(): Promise<void> {
    if (!this.clientUrl) {
      // Inside a fresh namespace every port is free; on the host's loopback, pick free ones.
      this.clientUrl = `${this.opts.tls ? 'https' : 'http'}://${this.opts.host ?? '127.0.0.1'}:${this.opts.netns ? 2379 : await freePort()}`;
      this.peerUrl = `http://127.0.0.1:${this.opts.netns ? 2380 : await freePort()}`;
    }
    const wrap = this.opts.netns ? ['ip', 'netns', 'exec', this.opts.netns] : [];
    const [cmd, ...pre] = [...wrap, ETCD_BIN];
    const child = spawn(
      cmd!,
      [
        ...pre,
        ...singleEtcdArgs({
          name: 'default',
          dataDir: this.dataDir,
          listenClientUrls: this.clientUrl,
          advertiseClientUrl: this.clientUrl,
          peerUrl: this.peerUrl,
        }),
        ...(this.opts.tls
          ? [
              '--cert-file',
              this.opts.tls.certFile,
              '--key-file',
              this.opts.tls.keyFile,
              '--trusted-ca-file',
              this.opts.tls.caFile,
              '--client-cert-auth',
            ]
          : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (b: Buffer) => (this.log = (this.log + b.toString('utf8')).slice(-4000)));
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    const end = Date.now() + 15_000;
    for (;;) {
      if (await this.answers()) return;
      if (child.exitCode !== null) throw new Error(`etcd exited (${child.exitCode}): ${this.log}`);
      if (Date.now() > end) throw new Error(`etcd did not answer within 15 s: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** True when etcd serves a range request (asked from inside its namespace when it has one). */
  async answers(): Promise<boolean> {
    const tls = this.opts.tls;
    if (tls) {
      const args = [
        '-sf',
        '--max-time',
        '1',
        '--cacert',
        tls.caFile,
        '--cert',
        tls.clientCertFile,
        '--key',
        tls.clientKeyFile,
        '-X',
        'POST',
        '-d',
        '{"key":"cHJvYmU="}',
        `${this.clientUrl}/v3/kv/range`,
      ];
      const code = await new Promise<number | null>((resolve) =>
        spawn('curl', args, { stdio: 'ignore' }).on('exit', (c) => resolve(c)),
      );
      return code === 0;
    }
    const probe = `fetch(${JSON.stringify(`${this.clientUrl}/v3/kv/range`)}, { method: 'POST', body: JSON.stringify({ key: 'cHJvYmU=' }), signal: AbortSignal.timeout(500) }).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
    const wrap = this.opts.netns ? ['ip', 'netns', 'exec', this.opts.netns] : [];
    const r = await new Promise<number | null>((resolve) => {
      const c = spawn(
        wrap[0] ?? process.execPath,
        [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), '-e', probe],
        { stdio: 'ignore' },
      );
      c.on('exit', (code) => resolve(code));
    });
    return r === 0;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
