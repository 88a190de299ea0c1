/**
 * A mount namespace of its own for a hostNetwork pod whose /etc/resolv.conf is not its node's
 * (dnsPolicy ClusterFirstWithHostNet, None, or a dnsConfig): such a pod shares its node's network
 * namespace, so `ip netns exec`'s /etc/netns binding, which is per network namespace, cannot give
 * it a file of its own. As `ip netns` keeps a network namespace alive by binding it to a file,
 * this binds a mount namespace to a file (util-linux `unshare --mount=FILE`) in a directory that
 * is a private mount point (the kernel refuses such a binding under a shared parent), then binds
 * the pod's resolv.conf over /etc/resolv.conf inside it; the pod's programs and `weft exec` enter
 * it with `nsenter --mount=FILE`.
 *
 * Propagation is "slave": mounts and unmounts of the host (a pod's network namespace deleted
 * from /run/netns) reach the copy, so it holds no namespace of another pod alive, and its own
 * bind of resolv.conf stays inside it.
 */

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';

/** Whether `dir` is a mount point of this process's mount namespace. */
function isMountPoint(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

export class PodMountNamespaces {
  constructor(
    private readonly exec: Exec,
    /** Where the namespaces' files live (made a private mount point on first use). */
    private readonly dir: string,
  ) {}

  path(name: string): string {
    return join(this.dir, name);
  }

  /** The file of the pod's mount namespace, or undefined when it has none. */
  find(name: string): string | undefined {
    const p = this.path(name);
    return existsSync(p) ? p : undefined;
  }

  private async prepare(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (isMountPoint(this.dir)) return;
    await this.exec.run({ argv: ['mount', '--bind', this.dir, this.dir], context: `bind ${this.dir}` });
    await this.exec.run({ argv: ['mount', '--make-private', this.dir], context: `make ${this.dir} private` });
  }

  /** Makes the namespace with `resolvConf` (the file's text) over /etc/resolv.conf; undone whole on failure. */
  async create(name: string, resolvConf: string): Promise<string> {
    await this.prepare();
    const ns = this.path(name);
    const conf = `${ns}.resolv.conf`;
    writeFileSync(conf, resolvConf);
    writeFileSync(ns, '');
    try {
      await this.exec.run({
        argv: ['unshare', `--mount=${ns}`, '--propagation', 'slave', 'true'],
        context: `make the mount namespace of ${name}`,
      });
      await this.exec.run({
        argv: ['nsenter', `--mount=${ns}`, '--', 'mount', '--bind', conf, '/etc/resolv.conf'],
        context: `bind the resolv.conf of ${name}`,
      });
    } catch (err) {
      await this.remove(name);
      throw err;
    }
    return ns;
  }

  async remove(name: string): Promise<void> {
    const ns = this.path(name);
    if (existsSync(ns)) {
      await this.exec.tryRun({ argv: ['umount', ns], context: `release the mount namespace of ${name}` });
      rmSync(ns, { force: true });
    }
    rmSync(`${ns}.resolv.conf`, { force: true });
  }

  /** Releases every namespace in the directory and the directory's own mount (lab down). */
  async removeAll(): Promise<void> {
    if (!existsSync(this.dir)) return;
    for (const f of readdirSync(this.dir)) if (!f.endsWith('.resolv.conf')) await this.remove(f);
    if (isMountPoint(this.dir)) await this.exec.tryRun({ argv: ['umount', this.dir], context: `release ${this.dir}` });
  }
}
