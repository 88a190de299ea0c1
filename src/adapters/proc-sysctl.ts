/**
 * Sysctl over /proc/sys files, for the namespace this process runs in. Keys are written in dotted
 * form ("net.ipv4.ip_forward"); interface names may contain dots, so callers that address one
 * interface pass a key with '/' separators instead ("net/ipv6/conf/cni0/accept_ra").
 */

import { readFile, writeFile } from 'node:fs/promises';
import type { Sysctl } from '../ports/sysctl.js';

function pathOf(key: string): string {
  const rel = key.includes('/') ? key : key.replace(/\./g, '/');
  if (rel.split('/').some((part) => part === '..' || part === '')) throw new Error(`sysctl: invalid key "${key}"`);
  return `/proc/sys/${rel}`;
}

export class ProcSysctl implements Sysctl {
  async read(key: string): Promise<string | undefined> {
    try {
      return (await readFile(pathOf(key), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`read sysctl ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  async write(key: string, value: string): Promise<void> {
    try {
      await writeFile(pathOf(key), value);
    } catch (err) {
      throw new Error(`set sysctl ${key}=${value}: ${(err as Error).message}`, { cause: err });
    }
  }
}
