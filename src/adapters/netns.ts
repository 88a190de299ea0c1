/**
 * Named network namespaces (`ip netns`), for the lab and the demo. Paths are under
 * /var/run/netns, which is what CNI_NETNS points at.
 */

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';
import { createNetns } from './netns-native.js';

export const NETNS_RUN_DIR = '/var/run/netns';

/**
 * Where `ip netns exec NAME` finds the files it binds over /etc for a named namespace (a lab
 * pod's resolv.conf, so its programs, `weft exec` and exec probes all see it).
 */
export const NETNS_ETC_DIR = '/etc/netns';
export const netnsEtcDir = (netns: string) => join(NETNS_ETC_DIR, netns);

export class NamedNetns {
  private prepared = false;

  constructor(private readonly exec: Exec) {}

  path(name: string): string {
    return join(NETNS_RUN_DIR, name);
  }

  /**
   * Creates the namespace with lo up. The first one is made by `ip netns add`, which also makes
   * /run/netns a shared mount point when it is not one yet; the others without a process.
   */
  async add(name: string): Promise<string> {
    if (!this.prepared) {
      await this.exec.run({ argv: ['ip', 'netns', 'add', name], context: `create namespace ${name}` });
      await this.exec.run({ argv: ['ip', '-n', name, 'link', 'set', 'lo', 'up'], context: `set lo up in ${name}` });
      this.prepared = true;
      return this.path(name);
    }
    try {
      createNetns(this.path(name));
    } catch (err) {
      throw new Error(`create namespace ${name}: ${(err as Error).message}`, { cause: err });
    }
    return this.path(name);
  }

  /** Deletes the namespace; a namespace that is already gone is not an error. */
  async delete(name: string): Promise<void> {
    if (!this.list().includes(name)) return;
    await this.exec.run({ argv: ['ip', 'netns', 'del', name], context: `delete namespace ${name}` });
  }

  /** Names of all named namespaces (empty when none). */
  list(): string[] {
    try {
      return readdirSync(NETNS_RUN_DIR);
    } catch {
      return [];
    }
  }

  /** Argv prefix that runs a command inside the namespace. */
  wrap(name: string): string[] {
    return ['ip', 'netns', 'exec', name];
  }
}
